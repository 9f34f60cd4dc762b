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

/** The bound module, or null: uWS.js's own calls run. */
export let uwsDirect: UwsDirectAddon | null = null
let warn: (why: string) => void = () => undefined

/**
 * Binds the module to the uWS binary at `binaryPath` (already loaded) and says which path reads
 * requests, for the startup line. `onDrop` hears of a later disagreement with uWS.js.
 */
export function bindUwsDirect(binaryPath: string, onDrop: (why: string) => void): string {
  warn = onDrop
  uwsDirect = null
  if (nativeOff()) return `uWS.js calls (${NATIVE_OFF_REASON})`
  const loaded = loadNativeAddon<UwsDirectAddon>('uws_direct')
  if (loaded.addon === null) return `uWS.js calls (src/native uws_direct: ${loaded.failure})`
  const digest = createHash('sha256').update(readFileSync(binaryPath)).digest('hex')
  if (!VERIFIED_BINARIES.has(digest)) {
    return `uWS.js calls (src/native uws_direct was not checked against this uWS binary, sha256 ${digest})`
  }
  const failure = loaded.addon.bind(binaryPath)
  if (failure !== '') return `uWS.js calls (src/native uws_direct: ${failure})`
  uwsDirect = loaded.addon
  return 'native (src/native uws_direct)'
}

/** uWS.js's calls from now on: `why` is what disagreed. */
export function dropUwsDirect(why: string): void {
  if (uwsDirect === null) return
  uwsDirect = null
  warn(why)
}
