/**
 * Which implementation carries upstream sockets (socket.ts is the contract): the native sockets
 * of src/native/upstream_socket.c when they are built (native-socket.ts), node's net.Socket
 * otherwise (net-socket.ts).
 *
 * The choice is made once per process and thread from PORTCULLIS_UPSTREAM_SOCKETS (`native`,
 * `node`, or unset for native when built; `--native off` means `node`) and named in the startup
 * line, with the reason when it is node's.
 */
import { PortcullisError } from '../../errors.js'
import { loadNativeAddon, nativeOff, NATIVE_OFF_REASON } from '../../native/load.js'
import { openNativeSocket, type NativeSockets } from './native-socket.js'
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

interface Chosen {
  readonly native: NativeSockets | null
  /** From the same module as the sockets, so `node` leaves src/native out entirely. */
  readonly checkFieldSection: FieldSectionCheck | null
  readonly description: string
}

let chosen: Chosen | undefined

/** Opens a socket to host:port (a name is looked up first); events go to `owner`. */
export function openUpstreamSocket(host: string, port: number, owner: SocketOwner): UpstreamSocket {
  const native = sockets().native
  return native !== null
    ? openNativeSocket(native, READ_BUFFER, host, port, owner)
    : openNetSocket(READ_BUFFER, host, port, owner)
}

/** The native field-section check when the native sockets were chosen, else null. */
export function nativeFieldSectionCheck(): FieldSectionCheck | null {
  return sockets().checkFieldSection
}

/** For the startup line: which sockets carry upstream requests, and why node's when they do. */
export function describeUpstreamSockets(): string {
  return sockets().description
}

/** Chosen once per process and thread, as PORTCULLIS_UPSTREAM_SOCKETS says. */
function sockets(): Chosen {
  return (chosen ??= choose(process.env[UPSTREAM_SOCKETS_ENV]))
}

/**
 * Checks a --upstream-sockets choice before anything forks: `native` must load here.
 * @throws PortcullisError PCL_ERR_UPSTREAM_SOCKETS_UNAVAILABLE when `native` is not built
 */
export function requireUpstreamSockets(choice: UpstreamSocketChoice): void {
  if (choice === 'native') choose(choice)
}

function choose(choice: string | undefined): Chosen {
  if (choice === 'node') {
    return {
      native: null,
      checkFieldSection: null,
      description: 'node:net (chosen with --upstream-sockets node)',
    }
  }
  // `native` asked for under --native off is refused below, with the reason, as for no build.
  if (choice !== 'native' && nativeOff()) {
    return { native: null, checkFieldSection: null, description: `node:net (${NATIVE_OFF_REASON})` }
  }
  const loaded = loadNativeAddon<NativeSockets & { checkFieldSection?: FieldSectionCheck }>(
    'upstream_socket',
  )
  if (loaded.addon !== null) {
    return {
      native: loaded.addon,
      checkFieldSection: loaded.addon.checkFieldSection ?? null,
      description: 'native (src/native)',
    }
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
  return {
    native: null,
    checkFieldSection: null,
    description:
      `node:net (the native upstream sockets did not load: ${why}; ` +
      'build them with `npm run build:native`)',
  }
}
