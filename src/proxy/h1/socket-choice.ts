/**
 * Which implementation carries upstream sockets (socket.ts is the contract): the native sockets
 * of src/native/upstream_socket.c when they are built (native-socket.ts), node's net.Socket
 * otherwise (net-socket.ts).
 *
 * The choice is made once per serving process from PORTCULLIS_UPSTREAM_SOCKETS (`native`,
 * `node`, or unset for native when built; `--native off` means `node`) and named in the startup
 * line, with the reason when it is node's. Its UpstreamSockets is handed to every pool
 * (upstream.ts PoolCache → TargetPools → H1Pool), which opens its connections' sockets there.
 */
import { PortcullisError } from '../../errors.js'
import { loadNativeAddon, nativeOff, NATIVE_OFF_REASON } from '../../native/load.js'
import { NativeSocketTable, type NativeSockets } from './native-socket.js'
import { openNetSocket } from './net-socket.js'
import { READ_BUFFER, type SocketOwner, type UpstreamSocket } from './socket.js'

export type UpstreamSocketChoice = 'native' | 'node'
export const UPSTREAM_SOCKETS_ENV = 'PORTCULLIS_UPSTREAM_SOCKETS'

/**
 * src/native's check of a serialized field section (request.ts isFieldSection): undefined when
 * the section is too long for it.
 */
export type FieldSectionCheck = (
  head: string,
  lines: number,
  start: number,
  end: number,
) => boolean | undefined

/** The sockets one serving process opens its upstream connections on. */
export class UpstreamSockets {
  /** For the startup line: which sockets carry upstream requests, and why node's when they do. */
  readonly description: string
  /**
   * The native field-section check when the native sockets were chosen, else null: from the
   * same module as the sockets, so `node` leaves src/native out entirely.
   */
  readonly checkFieldSection: FieldSectionCheck | null
  readonly #native: NativeSocketTable | null

  constructor(
    native: NativeSockets | null,
    checkFieldSection: FieldSectionCheck | null,
    description: string,
  ) {
    this.#native = native === null ? null : new NativeSocketTable(native, READ_BUFFER)
    this.checkFieldSection = checkFieldSection
    this.description = description
  }

  /** Opens a socket to host:port (a name is looked up first); events go to `owner`. */
  open(host: string, port: number, owner: SocketOwner): UpstreamSocket {
    const native = this.#native
    return native !== null
      ? native.open(host, port, owner)
      : openNetSocket(READ_BUFFER, host, port, owner)
  }
}

/**
 * Checks a --upstream-sockets choice before anything forks: `native` must load here (it is not
 * initialised: the primary opens no upstream socket).
 * @throws PortcullisError PCL_ERR_UPSTREAM_SOCKETS_UNAVAILABLE when `native` is not built
 */
export function requireUpstreamSockets(choice: UpstreamSocketChoice): void {
  if (choice === 'native') createUpstreamSockets(choice)
}

/**
 * The sockets of a serving process, as `choice` (PORTCULLIS_UPSTREAM_SOCKETS by default) says.
 * Once per process: the native sockets take one event list per thread.
 * @throws PortcullisError PCL_ERR_UPSTREAM_SOCKETS_UNAVAILABLE when `native` is not built
 */
export function createUpstreamSockets(
  choice: string | undefined = process.env[UPSTREAM_SOCKETS_ENV],
): UpstreamSockets {
  if (choice === 'node') {
    return new UpstreamSockets(null, null, 'node:net (chosen with --upstream-sockets node)')
  }
  // `native` asked for under --native off is refused below, with the reason, as for no build.
  if (choice !== 'native' && nativeOff()) {
    return new UpstreamSockets(null, null, `node:net (${NATIVE_OFF_REASON})`)
  }
  const loaded = loadNativeAddon<NativeSockets & { checkFieldSection?: FieldSectionCheck }>(
    'upstream_socket',
  )
  if (loaded.addon !== null) {
    const check = loaded.addon.checkFieldSection ?? null
    return new UpstreamSockets(loaded.addon, check, 'native (src/native)')
  }
  const why = loaded.failure
  if (choice === 'native') {
    throw new PortcullisError(
      'PCL_ERR_UPSTREAM_SOCKETS_UNAVAILABLE',
      `--upstream-sockets native: the native upstream sockets (src/native) did not load: ${why}. ` +
        'Build them with `npm run build:native` (python3, make and a C compiler), or start ' +
        'with --upstream-sockets node.',
    )
  }
  return new UpstreamSockets(
    null,
    null,
    `node:net (the native upstream sockets did not load: ${why}; ` +
      'build them with `npm run build:native`)',
  )
}
