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

/**
 * The peer's address as text. uWS 20.30 gives an HTTP handler no connection identity to remember
 * it by, so every request asks the kernel (getpeername). The binary form skips uSockets'
 * inet_ntop, and IPv4 peers (the common case, also as IPv4-mapped IPv6 on a dual-stack listener)
 * reuse their string from a small table.
 */
function clientAddress(res: HttpResponse): string {
  const bytes = new Uint8Array(res.getRemoteAddress())
  if (bytes.length === 4) return ipv4Text(bytes, 0)
  if (bytes.length === 16 && isIpv4Mapped(bytes)) return ipv4Text(bytes, 12)
  // Other IPv6 peers: uSockets' own text, which is inet_ntop's RFC 5952 form.
  return String.fromCharCode.apply(
    null,
    new Uint8Array(res.getRemoteAddressAsText()) as unknown as number[],
  )
}

const IPV4_TEXT = new Map<number, string>()
/** Bounds the table: a flood of distinct peers costs a clear now and then, never memory. */
const IPV4_TEXT_MAX = 4096

function ipv4Text(bytes: Uint8Array, at: number): string {
  const key =
    ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0
  let text = IPV4_TEXT.get(key)
  if (text === undefined) {
    text = `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`
    if (IPV4_TEXT.size >= IPV4_TEXT_MAX) IPV4_TEXT.clear()
    IPV4_TEXT.set(key, text)
  }
  return text
}

/** ::ffff:a.b.c.d (RFC 4291 §2.5.5.2). */
function isIpv4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false
  return bytes[10] === 0xff && bytes[11] === 0xff
}
