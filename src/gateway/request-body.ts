/**
 * The two ways a request body reaches the proxy: collected whole (small, declared length) or
 * streamed (large or chunked) with backpressure to the client and the route's limit counted on
 * the wire, so a chunked body cannot slip past max_body.
 */
import { Readable } from 'node:stream'
import { REJECT } from '../errors.js'
import type { BodySink, Exchange } from './exchange.js'

/** Takes a collected body on (request-path.ts forwardBuffered): one function for every request. */
export type CollectedBody = (exchange: Exchange, body: Buffer) => void

export class BodyCollector implements BodySink {
  readonly #exchange: Exchange
  readonly #buffer: Buffer
  readonly #done: CollectedBody
  #offset = 0

  constructor(exchange: Exchange, length: number, done: CollectedBody) {
    this.#exchange = exchange
    this.#buffer = Buffer.allocUnsafe(length)
    this.#done = done
  }

  onBodyChunk(chunk: Buffer): void {
    if (this.#offset + chunk.length > this.#buffer.length) {
      // More bytes than Content-Length declared: the framing is broken, not just large.
      this.#offset = -1
      this.#exchange.reject(REJECT.conflictingLength, true)
      return
    }
    if (this.#offset < 0) return
    chunk.copy(this.#buffer, this.#offset)
    this.#offset += chunk.length
  }

  onBodyEnd(): void {
    if (this.#offset < 0 || this.#exchange.aborted) return
    if (this.#offset !== this.#buffer.length) {
      this.#exchange.reject(REJECT.badRequest, true)
      return
    }
    this.#done(this.#exchange, this.#buffer)
  }
}

/** High-water mark of the body stream: enough to keep a 10 Gbit pipe busy, small per request. */
const STREAM_HIGH_WATER = 64 * 1024

export class BodyStream extends Readable implements BodySink {
  readonly #exchange: Exchange
  readonly #limit: number
  #received = 0

  constructor(exchange: Exchange, limit: number) {
    super({ highWaterMark: STREAM_HIGH_WATER })
    this.#exchange = exchange
    this.#limit = limit
  }

  override _read(): void {
    this.#exchange.resumeBody()
  }

  onBodyChunk(chunk: Buffer): void {
    this.#received += chunk.length
    if (this.#received > this.#limit) {
      const exchange = this.#exchange
      this.destroy(new Error('request body over the route limit'))
      if (!exchange.headSent && !exchange.aborted) exchange.reject(REJECT.payloadTooLarge, true)
      return
    }
    // The front may reuse the chunk's memory after this call: keep a copy.
    if (!this.push(Buffer.from(chunk))) this.#exchange.pauseBody()
  }

  onBodyEnd(): void {
    this.push(null)
  }
}
