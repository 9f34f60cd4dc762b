/**
 * Copies a uWS request head into an exchange. uWS request objects live only during the
 * synchronous handler, so both uws handlers (HTTP and WebSocket upgrade) call this first.
 */
import { performance } from 'node:perf_hooks'
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import { METHODS } from '../router/methods.js'
import type { Exchange } from '../gateway/exchange.js'
import { applyHeader, completeHead, recordHeader } from './request-head.js'
import { dropUwsDirect, uwsDirect } from './uws-direct.js'
import { peerAddress } from './uws-peer.js'

/**
 * Methods as the pipeline sees them: upper case, as on the wire (RFC 9110 §9.1). uWS.js's
 * getMethod() lowers them, and the front has always read a method in any case as its upper-case
 * name, on both paths.
 */
const METHOD_NAMES: Record<string, string> = {}
for (const name of METHODS) {
  METHOD_NAMES[name] = name
  METHOD_NAMES[name.toLowerCase()] = name
}

function methodName(method: string): string {
  return METHOD_NAMES[method] ?? method.toUpperCase()
}

export function copyRequestHead(exchange: Exchange, res: HttpResponse, req: HttpRequest): void {
  exchange.startedAt = performance.now()
  const head = uwsDirect === null ? undefined : uwsDirect.head(req)
  if (head === undefined) copyThroughUws(exchange, req)
  else if (checked) copyDirect(exchange, head)
  else copyCheckedAgainstUws(exchange, req, head)
  completeHead(exchange)
  exchange.clientAddress = peerAddress(res)
}

/** The head from src/native/uws_direct.cc: [name, value, …, method, path, query]. */
function copyDirect(exchange: Exchange, head: string[]): void {
  exchange.query = head.pop()!
  exchange.rawPath = head.pop()!
  exchange.method = methodName(head.pop()!)
  exchange.headers = head
  for (let i = 0; i < head.length; i += 2) applyHeader(exchange, head[i]!, head[i + 1]!)
}

// The exchange whose headers req.forEach is delivering; a module slot instead of a closure per request.
let collecting: Exchange | null = null
function collectHeader(name: string, value: string): void {
  recordHeader(collecting!, name, value)
}

function copyThroughUws(exchange: Exchange, req: HttpRequest): void {
  exchange.method = methodName(req.getMethod())
  exchange.rawPath = req.getUrl()
  exchange.query = req.getQuery() ?? ''
  collecting = exchange
  req.forEach(collectHeader)
  collecting = null
}

let checked = false

/** The first head of a process is read both ways; the native one is used only if they agree. */
function copyCheckedAgainstUws(exchange: Exchange, req: HttpRequest, head: string[]): void {
  checked = true
  const expected: string[] = []
  req.forEach((name, value) => expected.push(name, value))
  expected.push(req.getCaseSensitiveMethod(), req.getUrl(), req.getQuery() ?? '')
  if (head.length === expected.length && head.every((item, i) => item === expected[i])) {
    copyDirect(exchange, head)
    return
  }
  dropUwsDirect(
    `src/native uws_direct read the request head ${JSON.stringify(head)} where uWS.js reads ${JSON.stringify(expected)}`,
  )
  copyThroughUws(exchange, req)
}
