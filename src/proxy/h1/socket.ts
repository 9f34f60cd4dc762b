/**
 * The byte stream under an upstream connection, and which implementation carries it: the native
 * sockets of src/native/upstream_socket.c when they are built (native-socket.ts), node's
 * net.Socket otherwise (net-socket.ts). The connection sees only this interface.
 *
 * The choice is made once per process and thread from PORTCULLIS_UPSTREAM_SOCKETS (`native`,
 * `node`, or unset for native when built; `--native off` means `node`) and named in the startup
 * line, with the reason when it is node's. It covers the whole module: the request writer's
 * field-section check (request.ts) runs natively only on the native sockets.
 */
import { PortcullisError } from '../../errors.js'
import { loadNativeAddon, nativeOff, NATIVE_OFF_REASON } from '../../native/load.js'
import { openNativeSocket, type NativeSockets } from './native-socket.js'
import { openNetSocket } from './net-socket.js'

/** What a socket reports to the connection that owns it. */
export interface SocketOwner {
  onConnect(): void
  /** Bytes [start, end) of `buffer` were read; reads of a later loop turn overwrite them. */
  onRead(buffer: Buffer, start: number, end: number): void
  /** The server ended its side; 'close' follows unless the owner destroyed the socket. */
  onEnd(): void
  /** Errors carry node's errno codes (ECONNREFUSED, ECONNRESET…); 'close' follows. */
  onError(error: Error): void
  /** The socket is gone; nothing follows. Not called after destroy(). */
  onClose(): void
  /** Everything queued went out after a write returned false. */
  onDrain(): void
}

export interface UpstreamSocket {
  /** Strings are latin1 (one byte per char). False: queued past the mark, wait for onDrain. */
  write(data: string | Uint8Array): boolean
  /** Queues writes until uncork(), which sends them together. */
  cork(): void
  uncork(): void
  /** Stops reading at once; resume() restarts. */
  pause(): void
  resume(): void
  /** Closes at once; no event follows. */
  destroy(): void
  /** A write returned false and the queue has not drained yet. */
  readonly needDrain: boolean
}

export type UpstreamSocketChoice = 'native' | 'node'
export const UPSTREAM_SOCKETS_ENV = 'PORTCULLIS_UPSTREAM_SOCKETS'

/**
 * The read buffer of every upstream socket, of both kinds. One is enough: nothing refers to the
 * buffer once a report returns (the parser copies what it keeps). node's sockets read into it
 * one at a time; the native ones give the reads of one loop turn consecutive parts of it, reported
 * together. 64 KiB is the most node reads at once.
 */
export const READ_BUFFER = Buffer.allocUnsafe(64 * 1024)

interface Chosen {
  readonly native: NativeSockets | null
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

/** The native module when it carries upstream requests, else null. */
export function nativeSockets(): NativeSockets | null {
  return sockets().native
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
    return { native: null, description: 'node:net (chosen with --upstream-sockets node)' }
  }
  // `native` asked for under --native off is refused below, with the reason, as for no build.
  if (choice !== 'native' && nativeOff()) {
    return { native: null, description: `node:net (${NATIVE_OFF_REASON})` }
  }
  const loaded = loadNativeAddon<NativeSockets>('upstream_socket')
  if (loaded.addon !== null) return { native: loaded.addon, description: 'native (src/native)' }
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
    description:
      `node:net (the native upstream sockets did not load: ${why}; ` +
      'build them with `npm run build:native`)',
  }
}
