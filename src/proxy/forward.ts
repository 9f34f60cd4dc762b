/**
 * Sends an admitted exchange to its upstream and streams the answer back.
 *
 * One {@link ProxyCall} object per request is the undici dispatch handler, so the response path
 * costs no stream, promise or closure: chunks go from undici's parser to the front, and
 * backpressure flows back through controller.pause()/resume(). Connection failures of idempotent
 * requests with a replayable body are retried on the next target (RFC 9110 §9.2.2).
 */
import { performance } from 'node:perf_hooks'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { REJECT } from '../errors.js'
import {
  announcedLength,
  isBodylessResponse,
  type Exchange,
  type UpstreamCall,
} from '../gateway/exchange.js'
import { buildUpstreamHeaders, clientResponseFields, clientResponseHeaders } from './headers.js'
import type { ResponseFieldsHandler } from './h1/reader.js'
import type { Target, Upstream } from './upstream.js'
import { CONNECT_ERRORS, QUEUE_TIMEOUT, TIMEOUT_ERRORS } from './upstream-errors.js'

type Controller = Dispatcher.DispatchController
type IncomingHeaders = Record<string, string | string[] | undefined>

/** RFC 9110 §9.2.2 idempotent methods. */
const IDEMPOTENT: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'PUT',
  'DELETE',
  'TRACE',
])

class ClientAbortedError extends Error {
  override readonly name = 'ClientAbortedError'
}

export class ProxyCall implements ResponseFieldsHandler, UpstreamCall {
  readonly #exchange: Exchange
  readonly #upstream: Upstream
  readonly #body: Buffer | Readable | null
  readonly #method: string
  readonly #path: string
  readonly #headersTimeout: number
  #target: Target
  #attempt = 0
  #controller: Controller | null = null
  #responseStarted = false
  #noBody = false

  constructor(
    exchange: Exchange,
    upstream: Upstream,
    path: string,
    body: Buffer | Readable | null,
    headersTimeoutMs: number,
  ) {
    this.#exchange = exchange
    this.#upstream = upstream
    this.#body = body
    this.#method = exchange.method
    this.#path = path
    this.#headersTimeout = headersTimeoutMs
    this.#target = upstream.pick(exchange.startedAt, null)
    exchange.upstreamCall = this
  }

  dispatch(): void {
    const exchange = this.#exchange
    const target = this.#target
    exchange.upstreamTarget = target.origin
    exchange.upstreamStartedAt = performance.now()
    try {
      target.pool.dispatch(
        {
          path: target.basePath === '' ? this.#path : target.basePath + this.#path,
          method: this.#method as Dispatcher.HttpMethod,
          headers: buildUpstreamHeaders(exchange, target, this.#upstream, ''),
          body: this.#body,
          headersTimeout: this.#headersTimeout,
          bodyTimeout: this.#upstream.bodyTimeoutMs,
        },
        this,
      )
    } catch (error) {
      // undici throws synchronously only for arguments it refuses (a header it will not send).
      exchange.errorDetail = `dispatch refused: ${(error as Error).message}`
      exchange.reject(REJECT.badRequest)
    }
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller
    if (this.#exchange.aborted) controller.abort(new ClientAbortedError('client aborted'))
  }

  onResponseStart(controller: Controller, statusCode: number, headers: IncomingHeaders): void {
    const exchange = this.#acceptHead(controller, statusCode)
    if (exchange === null) return
    const out = clientResponseHeaders(exchange, headers)
    const length = headers['content-length']
    exchange.writeHead(
      statusCode,
      out,
      announcedLength(statusCode, typeof length === 'string' ? Number(length) : -1),
    )
    if (this.#noBody) exchange.endResponse()
  }

  /** The native transport's form of onResponseStart (src/proxy/h1/reader.ts). */
  onResponseFields(
    controller: Controller,
    statusCode: number,
    fields: readonly string[],
    contentLength: number,
  ): void {
    const exchange = this.#acceptHead(controller, statusCode)
    if (exchange === null) return
    exchange.writeHead(
      statusCode,
      clientResponseFields(exchange, fields),
      announcedLength(statusCode, contentLength),
    )
    if (this.#noBody) exchange.endResponse()
  }

  /** The exchange, when a final response head is to be passed on; null when it is not. */
  #acceptHead(controller: Controller, statusCode: number): Exchange | null {
    if (statusCode < 200) return null // 1xx interim answers are the gateway's business, not the client's
    const exchange = this.#exchange
    if (exchange.aborted) {
      controller.abort(new ClientAbortedError('client aborted'))
      return null
    }
    this.#responseStarted = true
    this.#upstream.recordSuccess(this.#target)
    exchange.upstreamHeadersAt = performance.now()
    // Complete at its head (RFC 9110 §6.4.1), so it is ended there: whatever the transport says
    // of the rest cannot change it (undici fails a 304 that announces a Content-Length).
    this.#noBody = isBodylessResponse(this.#method, statusCode)
    return exchange
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    const exchange = this.#exchange
    if (exchange.aborted || this.#noBody) return
    if (!exchange.writeBody(chunk)) {
      controller.pause()
    }
  }

  /** The native transport's form of onResponseData: `view` is valid during the call only. */
  onResponseView(controller: Controller, view: Buffer): void {
    const exchange = this.#exchange
    if (exchange.aborted || this.#noBody) return
    if (!exchange.writeBodyView(view)) controller.pause()
  }

  onResponseEnd(): void {
    if (!this.#exchange.aborted && !this.#noBody) this.#exchange.endResponse()
  }

  onResponseError(_controller: Controller, error: Error): void {
    const exchange = this.#exchange
    if (exchange.aborted || this.#noBody || error instanceof ClientAbortedError) return
    const code = (error as { code?: string }).code ?? ''
    if (code === QUEUE_TIMEOUT) {
      // The target is busy, not failing: no ejection, and no retry that would wait again.
      this.#upstream.meter.busy++
      exchange.errorDetail = `upstream ${this.#target.origin}: ${error.message}`
      exchange.reject(REJECT.upstreamBusy)
      return
    }
    const now = performance.now()
    const meter = this.#upstream.meter
    if (TIMEOUT_ERRORS.has(code)) meter.timeouts++
    else if (CONNECT_ERRORS.has(code)) meter.connectFailures++
    if (!this.#responseStarted && (CONNECT_ERRORS.has(code) || TIMEOUT_ERRORS.has(code))) {
      this.#upstream.recordFailure(this.#target, now)
      if (CONNECT_ERRORS.has(code) && this.#canRetry()) {
        meter.retries++
        this.#attempt++
        this.#target = this.#upstream.pick(now, this.#target)
        this.#controller = null
        this.dispatch()
        return
      }
    }
    // The message says what a malformed response got wrong (which field, which rule).
    const message = error.message
    const why = message.includes(code) ? message : `${code}: ${message}`
    exchange.errorDetail = `upstream ${this.#target.origin}: ${why}`
    if (exchange.headSent) {
      // The status is already on the wire: the only honest signal left is a cut connection.
      exchange.destroy()
      return
    }
    exchange.reject(TIMEOUT_ERRORS.has(code) ? REJECT.gatewayTimeout : REJECT.badGateway)
  }

  #canRetry(): boolean {
    if (this.#attempt >= this.#upstream.retries) return false
    if (!IDEMPOTENT.has(this.#method)) return false
    // A streamed body was consumed by the failed attempt and cannot be sent again.
    return this.#body === null || Buffer.isBuffer(this.#body)
  }

  onClientWritable(): void {
    this.#controller?.resume()
  }

  onClientAbort(): void {
    const body = this.#body
    if (body !== null && !Buffer.isBuffer(body)) body.destroy()
    this.#controller?.abort(new ClientAbortedError('client aborted'))
  }
}
