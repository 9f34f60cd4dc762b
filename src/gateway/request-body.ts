/**
 * The ways a request body reaches the proxy. One whose declared length fits the route's
 * buffer_body is collected whole ({@link BodyCollector}) before an upstream connection is taken.
 * Any other ({@link BodyPrefix}: larger, or chunked) is collected up to buffer_body, then streamed
 * ({@link BodyStream}) with backpressure to the client, under limits.min_body_rate; a chunked one
 * that ends within buffer_body goes out whole too. A client that trickles a body thus holds a
 * socket of the gateway and never a pooled upstream connection, as with nginx's request
 * buffering. The route's max_body is counted on the wire, so a chunked body cannot slip past it.
 */
import { Readable } from 'node:stream'
import { REJECT } from '../errors.js'
import type { WatchedBody } from './body-rate.js'
import type { BodySink, Exchange } from './exchange.js'

/**
 * Starts the upstream request with a body that is whole (a Buffer) or whose first buffer_body
 * bytes arrived (a stream of the rest): request-path.ts forwardBody, one function for every request.
 */
export type CollectedBody = (exchange: Exchange, body: Buffer | Readable) => void

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

/**
 * A body that may not fit buffer_body: its first bytes are kept until they reach buffer_body
 * (then the upstream request starts, and they stream first) or the body ends (then it goes out
 * whole, as a Content-Length body).
 */
export class BodyPrefix implements BodySink, WatchedBody {
  readonly #exchange: Exchange
  readonly #maxBody: number
  readonly #bufferLimit: number
  readonly #forward: CollectedBody
  #chunks: Buffer[] = []
  #stream: BodyStream | null = null
  #received = 0
  #done = false
  readonly minRate: number
  readonly windowMs: number
  windowStart = 0
  windowMark = 0

  constructor(exchange: Exchange, maxBody: number, bufferLimit: number, forward: CollectedBody) {
    this.#exchange = exchange
    this.#forward = forward
    this.#maxBody = maxBody
    this.#bufferLimit = bufferLimit
    const runtime = exchange.runtime
    this.minRate = runtime.minBodyRate
    this.windowMs = runtime.minBodyRateWindowMs
    if (this.minRate > 0) runtime.state.bodyRates.add(this)
    if (bufferLimit === 0) this.#startStream()
  }

  get received(): number {
    return this.#received
  }

  get held(): boolean {
    return this.#stream !== null && this.#stream.held
  }

  onBodyChunk(chunk: Buffer): void {
    if (this.#done) return
    this.#received += chunk.length
    if (this.#received > this.#maxBody) {
      this.#end()
      const exchange = this.#exchange
      this.#stream?.destroy(new Error('request body over the route limit'))
      if (!exchange.headSent && !exchange.aborted) exchange.reject(REJECT.payloadTooLarge, true)
      return
    }
    const stream = this.#stream
    if (stream !== null) {
      stream.onBodyChunk(chunk)
      return
    }
    // The front may reuse the chunk's memory after this call: keep a copy.
    this.#chunks.push(Buffer.from(chunk))
    if (this.#received >= this.#bufferLimit) this.#startStream()
  }

  onBodyEnd(): void {
    if (this.#done) return
    const chunks = this.#chunks
    this.#end()
    const stream = this.#stream
    if (stream !== null) stream.onBodyEnd()
    else if (!this.#exchange.aborted) {
      this.#forward(this.#exchange, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks))
    }
  }

  /** The client went away (called by the fronts). */
  destroy(error: Error): void {
    if (this.#done) return
    this.#end()
    this.#stream?.destroy(error)
  }

  onTooSlow(): void {
    const exchange = this.#exchange
    if (this.#done || exchange.finished || exchange.aborted) return
    this.#end()
    const forwarded = this.#stream !== null
    exchange.errorDetail = `request body below limits.min_body_rate after ${this.#received} bytes`
    exchange.runtime.logger.warn(
      {
        request_id: exchange.requestId,
        client: exchange.clientAddress,
        route: exchange.route?.name,
        received: this.#received,
        min_body_rate: this.minRate,
        forwarded,
      },
      'request body too slow',
    )
    exchange.bodyTimedOut(REJECT.bodyTooSlow)
    this.#stream?.destroy()
  }

  #end(): void {
    this.#done = true
    this.#chunks = []
    if (this.minRate > 0) this.#exchange.runtime.state.bodyRates.remove(this)
  }

  #startStream(): void {
    const stream = new BodyStream(this.#exchange)
    this.#stream = stream
    const chunks = this.#chunks
    this.#chunks = []
    for (let i = 0; i < chunks.length; i++) stream.push(chunks[i]!)
    this.#forward(this.#exchange, stream)
  }
}

/** High-water mark of the body stream: enough to keep a 10 Gbit pipe busy, small per request. */
const STREAM_HIGH_WATER = 64 * 1024

function ignoreError(): void {}

/** The body the upstream request reads, fed by {@link BodyPrefix}. */
export class BodyStream extends Readable {
  readonly #exchange: Exchange
  /** The client is paused because the upstream does not take more yet. */
  held = false

  constructor(exchange: Exchange) {
    super({ highWaterMark: STREAM_HIGH_WATER })
    this.#exchange = exchange
    // A transport listens for errors only once it writes the body; one queued in undici's Pool
    // does not yet, and an error without a listener would take the process down.
    this.on('error', ignoreError)
  }

  override _read(): void {
    this.held = false
    this.#exchange.resumeBody()
  }

  onBodyChunk(chunk: Buffer): void {
    if (this.destroyed) return
    // The front may reuse the chunk's memory after this call: keep a copy.
    if (!this.push(Buffer.from(chunk))) {
      this.held = true
      this.#exchange.pauseBody()
    }
  }

  onBodyEnd(): void {
    if (!this.destroyed) this.push(null)
  }
}
