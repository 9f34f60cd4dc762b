/**
 * Copies a uWS request head into an exchange. uWS request objects live only during the
 * synchronous handler, so both uws handlers (HTTP and WebSocket upgrade) call this first.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { Exchange } from './exchange.js'
import { completeHead, recordHeader } from './request-head.js'
import { peerAddress } from './uws-peer.js'

/** uWS reports methods in lower case; the wire (and RFC 9110 §9.1) has them case-sensitive upper. */
const METHODS: Record<string, string> = {
  get: 'GET',
  head: 'HEAD',
  post: 'POST',
  put: 'PUT',
  patch: 'PATCH',
  delete: 'DELETE',
  options: 'OPTIONS',
  trace: 'TRACE',
  connect: 'CONNECT',
}

// The exchange whose headers req.forEach is delivering; a module slot instead of a closure per request.
let collecting: Exchange | null = null
function collectHeader(name: string, value: string): void {
  recordHeader(collecting!, name, value)
}

export function copyRequestHead(exchange: Exchange, res: HttpResponse, req: HttpRequest): void {
  exchange.startedAt = performance.now()
  const method = req.getMethod()
  exchange.method = METHODS[method] ?? method.toUpperCase()
  exchange.rawPath = req.getUrl()
  exchange.query = req.getQuery() ?? ''
  collecting = exchange
  req.forEach(collectHeader)
  collecting = null
  completeHead(exchange)
  exchange.clientAddress = peerAddress(res)
}
