/**
 * Copies a uWS request head into an exchange. uWS request objects live only during the
 * synchronous handler, so both uws handlers (HTTP and WebSocket upgrade) call this first.
 */
import { performance } from 'node:perf_hooks'
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import { METHODS } from '../router/methods.js'
import type { Exchange } from '../gateway/exchange.js'
import { applyHeader, completeHead, recordHeader } from './request-head.js'
import type { UwsDirect } from './uws-direct.js'
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

/**
 * Reads the request heads of one uws front: through its `direct` module while that is bound,
 * through uWS.js's calls otherwise. Held by the front, shared by its HTTP and upgrade handlers.
 */
export class UwsHeadReader {
  readonly direct: UwsDirect
  /** The exchange whose headers req.forEach is delivering: a slot, not a closure per request. */
  #collecting: Exchange | null = null
  readonly #collectHeader = (name: string, value: string): void => {
    recordHeader(this.#collecting!, name, value)
  }

  constructor(direct: UwsDirect) {
    this.direct = direct
  }

  copyRequestHead(exchange: Exchange, res: HttpResponse, req: HttpRequest): void {
    exchange.startedAt = performance.now()
    const direct = this.direct
    const head = direct.addon === null ? undefined : direct.addon.head(req)
    if (head === undefined) this.#copyThroughUws(exchange, req)
    else if (direct.headChecked) copyDirect(exchange, head)
    else this.#copyCheckedAgainstUws(exchange, req, head)
    completeHead(exchange)
    exchange.peerAddress = exchange.clientAddress = peerAddress(res, direct)
  }

  #copyThroughUws(exchange: Exchange, req: HttpRequest): void {
    exchange.method = methodName(req.getMethod())
    exchange.rawPath = req.getUrl()
    exchange.query = req.getQuery() ?? ''
    this.#collecting = exchange
    req.forEach(this.#collectHeader)
    this.#collecting = null
  }

  /** The first head of a front is read both ways; the native one is used only if they agree. */
  #copyCheckedAgainstUws(exchange: Exchange, req: HttpRequest, head: string[]): void {
    this.direct.headChecked = true
    const expected: string[] = []
    req.forEach((name, value) => expected.push(name, value))
    expected.push(req.getCaseSensitiveMethod(), req.getUrl(), req.getQuery() ?? '')
    if (head.length === expected.length && head.every((item, i) => item === expected[i])) {
      copyDirect(exchange, head)
      return
    }
    this.direct.drop(
      `src/native uws_direct read the request head ${JSON.stringify(head)} where uWS.js reads ${JSON.stringify(expected)}`,
    )
    this.#copyThroughUws(exchange, req)
  }
}

/** The head from src/native/uws_direct.cc: [name, value, …, method, path, query]. */
function copyDirect(exchange: Exchange, head: string[]): void {
  exchange.query = head.pop()!
  exchange.rawPath = head.pop()!
  exchange.method = methodName(head.pop()!)
  exchange.headers = head
  for (let i = 0; i < head.length; i += 2) applyHeader(exchange, head[i]!, head[i + 1]!)
}
