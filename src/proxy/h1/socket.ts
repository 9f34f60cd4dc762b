/**
 * The byte stream under an upstream connection: what the connection sees of it (UpstreamSocket)
 * and what it reports (SocketOwner). Two implementations carry it: the native sockets of
 * src/native/upstream_socket.c (native-socket.ts) and node's net.Socket (net-socket.ts);
 * socket-choice.ts picks one.
 */

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

/**
 * The read buffer of every upstream socket, of both kinds. One is enough: nothing refers to the
 * buffer once a report returns (the parser copies what it keeps). node's sockets read into it
 * one at a time; the native ones give the reads of one loop turn consecutive parts of it, reported
 * together. 64 KiB is the most node reads at once.
 */
export const READ_BUFFER = Buffer.allocUnsafe(64 * 1024)
