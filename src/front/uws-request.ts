/**
 * Copies a uWS request head into an exchange. uWS request objects live only during the
 * synchronous handler, so both uws handlers (HTTP and WebSocket upgrade) call this first.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { Exchange } from './exchange.js'
import { completeHead, recordHeader } from './request-head.js'

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
  exchange.clientAddress = clientAddress(res)
}

function clientAddress(res: HttpResponse): string {
  // An address is a few ASCII bytes: fromCharCode beats TextDecoder's fixed cost by far.
  const text = String.fromCharCode.apply(
    null,
    new Uint8Array(res.getRemoteAddressAsText()) as unknown as number[],
  )
  // uSockets reports IPv4 peers of a dual-stack socket as IPv4-mapped IPv6.
  return text.startsWith('::ffff:') && text.includes('.') ? text.slice(7) : text
}
