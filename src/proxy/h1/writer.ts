/**
 * The request writer. A head and a Buffer body go out in one write; a Readable body is streamed
 * by a BodyWriter with backpressure: the Readable is paused
 * when socket.write returns false and resumed on the socket's 'drain'. With a declared
 * Content-Length the bytes go raw and their count is checked (RFC 9112 §6.2); without one each
 * chunk is framed by the writer (RFC 9112 §7.1).
 *
 * The request head goes out with the first chunk (or the end), as undici does: a body that fails
 * before its first byte (a client's malformed chunked framing, say) leaves the upstream without
 * even the head of a request it could act on.
 */
import type { Readable } from 'node:stream'
import { errors } from 'undici'
import type { H1Request } from './request.js'
import type { UpstreamSocket } from './socket.js'

/** What the writer tells its connection. */
export interface BodyWriterOwner {
  /** Some bytes went out: the headers timeout counts from the last progress. */
  onBodyProgress(): void
  onBodySent(): void
  fail(error: Error): void
}

const LAST_CHUNK = '0\r\n\r\n'
/** Bodies up to this size go out in the same write as the head (one copy, one syscall). */
const INLINE_BODY_MAX = 16 * 1024

/** Writes `request` on `socket`; returns the writer still streaming its body, if any. */
export function writeRequest(
  socket: UpstreamSocket,
  request: H1Request,
  owner: BodyWriterOwner,
): BodyWriter | null {
  const head = request.head
  const body = request.body
  if (body === null) {
    socket.write(head)
  } else if (Buffer.isBuffer(body)) {
    if (body.length <= INLINE_BODY_MAX) {
      // latin1: one byte per char (the request checked that every char is below 0x100).
      const out = Buffer.allocUnsafe(head.length + body.length)
      out.write(head, 0, 'latin1')
      body.copy(out, head.length)
      socket.write(out)
    } else {
      socket.cork()
      socket.write(head)
      socket.write(body)
      socket.uncork()
    }
  } else {
    const writer = new BodyWriter(owner, socket, head, body, request.streamLength)
    writer.start()
    // An empty or broken body may be done with already.
    return writer.finished ? null : writer
  }
  return null
}

export class BodyWriter {
  readonly #owner: BodyWriterOwner
  readonly #socket: UpstreamSocket
  readonly #body: Readable
  /** Declared length, -1 when chunked. */
  readonly #length: number
  /** The request head, until it is written. */
  #head: string | null
  #written = 0
  #finished = false

  /** Ended, failed or stopped: it writes nothing more. */
  get finished(): boolean {
    return this.#finished
  }

  /** Nothing of the request has been written yet (the head waits for the first chunk). */
  get untouched(): boolean {
    return this.#head !== null && !this.#finished
  }

  constructor(
    owner: BodyWriterOwner,
    socket: UpstreamSocket,
    head: string,
    body: Readable,
    length: number,
  ) {
    this.#owner = owner
    this.#socket = socket
    this.#head = head
    this.#body = body
    this.#length = length
  }

  start(): void {
    const body = this.#body
    if (body.destroyed || body.errored !== null) {
      this.#finished = true
      this.#owner.fail(new errors.RequestAbortedError('request body destroyed'))
      return
    }
    body.on('data', this.#onData)
    body.on('end', this.#onEnd)
    body.on('error', this.#onError)
    body.on('close', this.#onClose)
    if (body.readableEnded) this.#onEnd()
    else body.resume()
  }

  /** The socket drained: take more of the body. */
  onDrain(): void {
    if (!this.#finished) this.#body.resume()
  }

  /** Stops writing; a body not read to its end is destroyed, as undici does. */
  stop(): void {
    if (this.#finished) return
    this.#finished = true
    this.#detach()
    if (!this.#body.readableEnded) this.#body.destroy()
  }

  /**
   * Stops without touching the body, when nothing was written: the request can go out on
   * another connection, which reads the body from where it is (no chunk was taken from it).
   */
  release(): void {
    if (this.#finished) return
    this.#finished = true
    this.#detach()
    // Without a 'data' listener a flowing stream would drop its chunks.
    this.#body.pause()
  }

  #detach(): void {
    const body = this.#body
    body.off('data', this.#onData)
    body.off('end', this.#onEnd)
    body.off('error', this.#onError)
    body.off('close', this.#onClose)
  }

  readonly #onData = (data: Buffer | string): void => {
    if (this.#finished) return
    const chunk = typeof data === 'string' ? Buffer.from(data) : data
    const size = chunk.length
    if (size === 0) return // an empty chunk would be the last-chunk (RFC 9112 §7.1)
    this.#written += size
    if (this.#length >= 0 && this.#written > this.#length) {
      this.#finished = true
      this.#detach()
      this.#owner.fail(new errors.RequestContentLengthMismatchError())
      return
    }
    const socket = this.#socket
    const head = this.#head
    let ok: boolean
    socket.cork()
    if (head !== null) {
      this.#head = null
      socket.write(head)
    }
    if (this.#length >= 0) {
      ok = socket.write(chunk)
    } else {
      socket.write(`${size.toString(16)}\r\n`)
      socket.write(chunk)
      ok = socket.write('\r\n')
    }
    socket.uncork()
    this.#owner.onBodyProgress()
    if (!ok) this.#body.pause()
  }

  readonly #onEnd = (): void => {
    if (this.#finished) return
    this.#finished = true
    this.#detach()
    if (this.#length >= 0 && this.#written !== this.#length) {
      this.#owner.fail(new errors.RequestContentLengthMismatchError())
      return
    }
    const head = this.#head ?? ''
    this.#head = null
    if (this.#length < 0) this.#socket.write(head + LAST_CHUNK)
    else if (head !== '') this.#socket.write(head)
    this.#owner.onBodySent()
  }

  readonly #onError = (error: Error): void => {
    if (this.#finished) return
    this.#finished = true
    this.#detach()
    this.#owner.fail(error)
  }

  readonly #onClose = (): void => {
    if (this.#finished) return
    this.#finished = true
    this.#detach()
    this.#owner.fail(new errors.RequestAbortedError('request body closed before its end'))
  }
}
