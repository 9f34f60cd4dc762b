/**
 * Upstream sockets on node's net.Socket, for a build without src/native (socket.ts chooses).
 * Reads go through net's `onread` into the shared read buffer: no Buffer and no 'data' event per
 * read.
 */
import { connect, type Socket } from 'node:net'
import type { SocketOwner, UpstreamSocket } from './socket.js'

export function openNetSocket(
  buffer: Buffer,
  host: string,
  port: number,
  owner: SocketOwner,
): UpstreamSocket {
  return new NetSocket(buffer, host, port, owner)
}

class NetSocket implements UpstreamSocket {
  readonly #socket: Socket
  #destroyed = false

  constructor(buffer: Buffer, host: string, port: number, owner: SocketOwner) {
    const socket = connect({
      host,
      port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 60_000,
      onread: {
        buffer,
        callback: (nread: number): boolean => {
          owner.onRead(buffer, 0, nread)
          return !this.#destroyed
        },
      },
    })
    this.#socket = socket
    socket.on('connect', () => owner.onConnect())
    socket.on('end', () => owner.onEnd())
    socket.on('error', (error: Error) => owner.onError(error))
    socket.on('close', () => {
      if (!this.#destroyed) owner.onClose()
    })
    socket.on('drain', () => owner.onDrain())
  }

  get needDrain(): boolean {
    return this.#socket.writableNeedDrain
  }

  write(data: string | Uint8Array): boolean {
    return typeof data === 'string' ? this.#socket.write(data, 'latin1') : this.#socket.write(data)
  }

  cork(): void {
    this.#socket.cork()
  }

  uncork(): void {
    this.#socket.uncork()
  }

  pause(): void {
    this.#socket.pause()
  }

  resume(): void {
    this.#socket.resume()
  }

  destroy(): void {
    this.#destroyed = true
    this.#socket.destroy()
  }
}
