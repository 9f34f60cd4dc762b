/**
 * The upstream half of a WebSocket upgrade, shared by both fronts: the rules a client's opening
 * handshake must follow (RFC 6455 §4.2.1), and the gateway's handshake with a target of the
 * route's upstream, made on the target's undici pool (`Target.upgradePool`: the native transport
 * does not upgrade) with `upgrade: 'websocket'` so the connect timeout, TLS settings and passive
 * health checks of normal requests apply.
 *
 * The fronts relay differently, and that decides what the upstream sees:
 * - node front, byte level: the front splices the two sockets, so the client's own
 *   Sec-WebSocket-Key and Sec-WebSocket-Extensions go to the upstream unchanged and the client
 *   checks the upstream's answer itself (compression is negotiated end to end).
 * - uws front, message level: uWS terminates the client's WebSocket, so the gateway is the
 *   upstream's client: it sends its own key, offers no extension, and checks the answer as
 *   RFC 6455 §4.1 asks of a client before uWS answers the client.
 *
 * Either way the handshake carries the identity and forwarding headers of buildUpstreamHeaders,
 * like every request, and an upstream that answers anything but 101 has its answer passed to the
 * client (status, headers, body up to {@link REFUSAL_BODY_LIMIT}).
 */
import { createHash, randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'
import { createRejection, REJECT, type Rejection } from '../errors.js'
import type { Exchange, UpstreamCall } from '../gateway/exchange.js'
import { buildUpstreamHeaders, clientResponseHeaders } from './headers.js'
import type { Target, Upstream } from './upstream.js'
import { CONNECT_ERRORS, TIMEOUT_ERRORS } from './upstream-errors.js'

type Controller = Dispatcher.DispatchController
export type IncomingHeaders = Record<string, string | string[] | undefined>

/** RFC 6455 §1.3: appended to the key before hashing it into Sec-WebSocket-Accept. */
const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** RFC 6455 §4.1: the key is a base64-encoded random 16-byte value, 24 characters. */
const KEY = /^[A-Za-z0-9+/]{22}==$/

/** A refusal body larger than this is dropped (the status and headers still pass). */
const REFUSAL_BODY_LIMIT = 64 * 1024

export const REJECT_WEBSOCKET = Object.freeze({
  notHttp11: createRejection(400, 'bad_request', 'A WebSocket handshake needs HTTP/1.1.'),
  notGet: createRejection(400, 'bad_request', 'A WebSocket handshake is a GET request.'),
  noConnectionUpgrade: createRejection(
    400,
    'bad_request',
    'A WebSocket handshake needs Connection: upgrade.',
  ),
  badKey: createRejection(
    400,
    'bad_request',
    'A WebSocket handshake needs a Sec-WebSocket-Key of 16 base64-encoded bytes.',
  ),
  withBody: createRejection(400, 'bad_request', 'A WebSocket handshake has no body.'),
  // RFC 6455 §4.4: name the version this server speaks.
  badVersion: createRejection(
    426,
    'upgrade_required',
    'This gateway speaks WebSocket version 13 only.',
    ['sec-websocket-version', '13'],
  ),
})

/**
 * What the request path needs from a front's upgrade exchange besides the {@link Exchange}
 * primitives (reject, and writeHead/writeBody/endResponse for an upstream's refusal).
 */
export interface TunnelClient {
  /**
   * true: the front splices bytes, so the client's handshake goes upstream as it is and the
   * client checks the answer. false: the front relays messages and the gateway is the upstream's
   * WebSocket client.
   */
  readonly splicesBytes: boolean
  /**
   * The upstream answered 101 (and, when the gateway is its client, the answer checked out).
   * The front owns `socket` from now on; `protocol` is the subprotocol the upstream chose, ''
   * when none.
   */
  onUpstreamOpen(socket: Duplex, headers: IncomingHeaders, protocol: string): void
}

export type UpgradeExchange = Exchange & TunnelClient

/**
 * RFC 6455 §4.2.1, after routing (a 404 or 405 wins) and before the route's stages. HTTP/1.1 and
 * Host are the fronts' business (uWS refuses HTTP/1.0, node.ts marks it invalid); Upgrade has
 * been checked by the router step; Origin is policy, for a stage.
 */
export function checkHandshake(exchange: Exchange): Rejection | undefined {
  if (exchange.runtime.state.draining) return REJECT.shuttingDown
  if (exchange.method !== 'GET') return REJECT_WEBSOCKET.notGet
  if (!hasToken(exchange.connectionHeader, 'upgrade')) {
    return REJECT_WEBSOCKET.noConnectionUpgrade
  }
  if (!KEY.test(exchange.header('sec-websocket-key') ?? '')) return REJECT_WEBSOCKET.badKey
  if (exchange.header('sec-websocket-version')?.trim() !== '13') return REJECT_WEBSOCKET.badVersion
  // Bytes after the head belong to the WebSocket: a body here would reach the upstream as frames.
  if (exchange.contentLength !== 0) return REJECT_WEBSOCKET.withBody
  return undefined
}

/** RFC 6455 §4.2.2: what the server answers in Sec-WebSocket-Accept for `key`. */
export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + ACCEPT_GUID)
    .digest('base64')
}

/** The client's offered subprotocols (RFC 6455 §4.1: tokens, comma-separated, maybe repeated). */
export function offeredProtocols(exchange: Exchange): string[] {
  const out: string[] = []
  const h = exchange.headers
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] !== 'sec-websocket-protocol') continue
    for (const part of h[i + 1]!.split(',')) {
      const token = part.trim()
      if (token !== '') out.push(token)
    }
  }
  return out
}

function hasToken(value: string, token: string): boolean {
  for (const part of value.split(',')) if (part.trim().toLowerCase() === token) return true
  return false
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

class ClientAbortedError extends Error {
  override readonly name = 'ClientAbortedError'
}

/**
 * One upstream opening handshake: the undici dispatch handler, retried on another target when
 * the connection fails before the upstream saw the request (a handshake is a GET without body,
 * so RFC 9110 §9.2.2 lets it be repeated).
 */
export class UpstreamHandshake implements Dispatcher.DispatchHandler, UpstreamCall {
  readonly #exchange: UpgradeExchange
  readonly #upstream: Upstream
  /** Our own key when the gateway is the upstream's client, '' when the client's goes upstream. */
  readonly #key: string
  #target: Target
  #attempt = 0
  #controller: Controller | null = null
  #status = 0
  #headers: IncomingHeaders | null = null
  #body: Buffer[] = []
  #bodyBytes = 0

  constructor(exchange: UpgradeExchange) {
    this.#exchange = exchange
    this.#upstream = exchange.route!.upstream
    this.#key = exchange.splicesBytes ? '' : randomBytes(16).toString('base64')
    this.#target = this.#upstream.pick(exchange.startedAt, null)
    exchange.upstreamCall = this
  }

  dispatch(): void {
    const exchange = this.#exchange
    const target = this.#target
    exchange.upstreamTarget = target.origin
    exchange.upstreamStartedAt = performance.now()
    try {
      target.upgradePool.dispatch(
        {
          path: target.basePath + exchange.upstreamPath,
          method: 'GET',
          // undici writes Connection: upgrade and Upgrade: websocket itself (it refuses both as
          // plain headers), so buildUpstreamHeaders keeps neither.
          upgrade: 'websocket',
          headers: this.#headersFor(target),
          headersTimeout: exchange.route!.timeoutMs,
          bodyTimeout: this.#upstream.bodyTimeoutMs,
        },
        this,
      )
    } catch (error) {
      exchange.errorDetail = `dispatch refused: ${(error as Error).message}`
      exchange.reject(REJECT.badRequest, true)
    }
  }

  #headersFor(target: Target): string[] {
    const headers = buildUpstreamHeaders(this.#exchange, target, this.#upstream, '')
    if (this.#key === '') return headers
    // The gateway speaks to the upstream for itself: its key (it checks the accept), version 13,
    // and no extension (it does not implement permessage-deflate). Subprotocols pass unchanged.
    const out: string[] = []
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!
      if (
        name === 'sec-websocket-key' ||
        name === 'sec-websocket-version' ||
        name === 'sec-websocket-extensions'
      ) {
        continue
      }
      out.push(name, headers[i + 1]!)
    }
    out.push('sec-websocket-key', this.#key, 'sec-websocket-version', '13')
    return out
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller
    if (this.#exchange.aborted) controller.abort(new ClientAbortedError('client aborted'))
  }

  onRequestUpgrade(
    _controller: Controller,
    statusCode: number,
    headers: IncomingHeaders,
    socket: Duplex,
  ): void {
    const exchange = this.#exchange
    exchange.upstreamCall = null
    if (exchange.aborted) {
      socket.destroy()
      return
    }
    this.#upstream.recordSuccess(this.#target)
    exchange.upstreamHeadersAt = performance.now()
    const problem = statusCode === 101 ? this.#checkAnswer(headers) : `upgraded with ${statusCode}`
    if (problem !== null) {
      socket.destroy()
      exchange.errorDetail = `upstream ${this.#target.origin}: ${problem}`
      exchange.reject(REJECT.badGateway, true)
      return
    }
    exchange.onUpstreamOpen(socket, headers, firstValue(headers['sec-websocket-protocol']) ?? '')
  }

  /** RFC 6455 §4.1 (the client's checks of the server's answer), when the gateway is the client. */
  #checkAnswer(headers: IncomingHeaders): string | null {
    if (this.#key === '') return null
    if (firstValue(headers['upgrade'])?.trim().toLowerCase() !== 'websocket') {
      return 'upgrade answer without Upgrade: websocket'
    }
    if (firstValue(headers['sec-websocket-accept'])?.trim() !== acceptKey(this.#key)) {
      return 'wrong Sec-WebSocket-Accept'
    }
    if (headers['sec-websocket-extensions'] !== undefined) {
      return 'an extension the gateway did not offer'
    }
    const protocol = headers['sec-websocket-protocol']
    if (protocol !== undefined) {
      if (Array.isArray(protocol) || !offeredProtocols(this.#exchange).includes(protocol)) {
        return 'a subprotocol the client did not offer'
      }
    }
    return null
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: IncomingHeaders): void {
    if (statusCode < 200) return
    this.#upstream.recordSuccess(this.#target)
    this.#exchange.upstreamHeadersAt = performance.now()
    this.#status = statusCode
    this.#headers = headers
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.#bodyBytes < 0) return
    if (this.#bodyBytes + chunk.length > REFUSAL_BODY_LIMIT) {
      this.#body = []
      this.#bodyBytes = -1
      // Nothing more of it will be used: end the exchange now with what we have.
      controller.abort(new ClientAbortedError('refusal body over the limit'))
      this.#refused()
      return
    }
    this.#body.push(chunk)
    this.#bodyBytes += chunk.length
  }

  onResponseEnd(): void {
    this.#refused()
  }

  /** The upstream answered without upgrading: its answer is the client's. */
  #refused(): void {
    const exchange = this.#exchange
    exchange.upstreamCall = null
    if (exchange.aborted || exchange.headSent) return
    const out = clientResponseHeaders(exchange, this.#headers!)
    if (this.#bodyBytes < 0) exchange.errorDetail = 'upstream refusal body over 64 KiB dropped'
    const body = this.#bodyBytes > 0 ? Buffer.concat(this.#body) : null
    exchange.writeHead(this.#status, out, body === null ? 0 : body.length)
    if (body !== null) exchange.writeBody(body)
    exchange.endResponse()
  }

  onResponseError(_controller: Controller, error: Error): void {
    const exchange = this.#exchange
    if (exchange.aborted || error instanceof ClientAbortedError) return
    const code = (error as { code?: string }).code ?? ''
    const now = performance.now()
    if (this.#status === 0 && (CONNECT_ERRORS.has(code) || TIMEOUT_ERRORS.has(code))) {
      this.#upstream.recordFailure(this.#target, now)
      if (CONNECT_ERRORS.has(code) && this.#attempt < this.#upstream.retries) {
        this.#attempt++
        this.#target = this.#upstream.pick(now, this.#target)
        this.#controller = null
        this.dispatch()
        return
      }
    }
    exchange.upstreamCall = null
    exchange.errorDetail = `upstream ${this.#target.origin}: ${code || error.message}`
    exchange.reject(TIMEOUT_ERRORS.has(code) ? REJECT.gatewayTimeout : REJECT.badGateway, true)
  }

  onClientWritable(): void {
    // The handshake sends no body and reads a bounded one: nothing waits for the client.
  }

  onClientAbort(): void {
    this.#controller?.abort(new ClientAbortedError('client aborted'))
  }
}
