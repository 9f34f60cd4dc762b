/**
 * src/native/uws_direct.cc, bound to the uWS binary the front runs: the request head in one
 * native call and the client address without an ArrayBuffer (the .cc file says why and how).
 *
 * It reads uWS objects' memory, so it is used only with the binaries listed here, whose layout
 * it was checked against, and its first answers in a process are compared with uWS.js's own
 * calls (uws-request.ts, uws-peer.ts): a disagreement drops it for good, with a warning. Any
 * other binary, a missing build, or `--native off`, runs uWS.js's calls, and the startup line
 * says which.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import { loadNativeAddon, nativeOff, NATIVE_OFF_REASON } from '../native/load.js'

export interface UwsDirectAddon {
  /** Finds the uSockets function in the uWS binary at `path`: '' when done, or why not. */
  bind(path: string): string
  /** IPv4 as a number, IPv6 as RFC 5952 text, -1 without a socket or a peer. */
  address(res: HttpResponse): number | string
  /** [name, value, …, method, path, query] as uWS.js would give them; undefined without a request. */
  head(req: HttpRequest): string[] | undefined
}

/** SHA-256 of the uWS binaries uws_direct.cc was checked against (uWebSockets.js 20.30.0-unofficial.0). */
const VERIFIED_BINARIES: ReadonlyMap<string, string> = new Map([
  ['f158fb441f7e2e37b3ab9a56782fe37f4c0d33b5cd32e96ee5c0120ce7db7ced', 'uws_linux_x64_115.node'],
])

/**
 * The uws front's way of reading requests: the bound module, or uWS.js's own calls. One per front
 * (bindUwsDirect), held by it and handed to the code that reads its requests; a drop lasts for
 * the front's life.
 */
export class UwsDirect {
  /** Which path reads requests, for the startup line. */
  readonly description: string
  /** The bound module, or null: uWS.js's own calls run. */
  #addon: UwsDirectAddon | null
  readonly #onDrop: (why: string) => void
  /** The first head and the first address are read both ways (uws-request.ts, uws-peer.ts). */
  headChecked = false
  addressChecked = false

  constructor(addon: UwsDirectAddon | null, description: string, onDrop: (why: string) => void) {
    this.#addon = addon
    this.description = description
    this.#onDrop = onDrop
  }

  get addon(): UwsDirectAddon | null {
    return this.#addon
  }

  /** uWS.js's calls from now on: `why` is what disagreed. */
  drop(why: string): void {
    if (this.#addon === null) return
    this.#addon = null
    this.#onDrop(why)
  }
}

/**
 * Binds the module to the uWS binary at `binaryPath` (already loaded); `description` says which
 * path reads requests. `onDrop` hears of a later disagreement with uWS.js.
 */
export function bindUwsDirect(binaryPath: string, onDrop: (why: string) => void): UwsDirect {
  const uwsCalls = (why: string) => new UwsDirect(null, `uWS.js calls (${why})`, onDrop)
  if (nativeOff()) return uwsCalls(NATIVE_OFF_REASON)
  const loaded = loadNativeAddon<UwsDirectAddon>('uws_direct')
  if (loaded.addon === null) return uwsCalls(`src/native uws_direct: ${loaded.failure}`)
  const digest = createHash('sha256').update(readFileSync(binaryPath)).digest('hex')
  if (!VERIFIED_BINARIES.has(digest)) {
    return uwsCalls(
      `src/native uws_direct was not checked against this uWS binary, sha256 ${digest}`,
    )
  }
  const failure = loaded.addon.bind(binaryPath)
  if (failure !== '') return uwsCalls(`src/native uws_direct: ${failure}`)
  return new UwsDirect(loaded.addon, 'native (src/native uws_direct)', onDrop)
}
