/**
 * The way a request travels once a front has filled its exchange (docs/architecture.md):
 * framing and size checks → path normalization → router → the route's stages → proxy.
 * Everything here is synchronous until a stage or the body makes it wait.
 */
import { REJECT, type Rejection } from './errors.js'
import type { Exchange } from './front/exchange.js'
import { normalizePath } from './front/normalize-path.js'
import { BodyCollector, BodyStream } from './front/request-body.js'
import { runPipeline } from './pipeline/run.js'
import { ProxyCall } from './proxy/forward.js'
import { matchRoute, MatchKind } from './router/match.js'

/**
 * Bodies up to this size are read whole before the upstream request starts: the upstream sees a
 * Content-Length body in one write, and a connection failure can be retried with the same bytes.
 * Larger ones stream with backpressure.
 */
const BUFFERED_BODY_LIMIT = 64 * 1024

export function handleRequest(exchange: Exchange): void {
  const runtime = exchange.runtime
  runtime.state.inFlight++
  if (exchange.invalid !== null) return exchange.reject(exchange.invalid, true)
  if (exchange.headerBytes > runtime.maxHeaderBytes) {
    return exchange.reject(REJECT.headersTooLarge, true)
  }
  const path = normalizePath(exchange.rawPath)
  if (typeof path !== 'string') return exchange.reject(path)
  exchange.path = path

  const match = matchRoute(runtime.table, exchange.host, path, exchange.method, runtime.matchResult)
  if (match.kind !== MatchKind.Found) {
    return exchange.reject(
      match.kind === MatchKind.NotFound ? REJECT.notFound : runtime.methodNotAllowed(match.allow),
    )
  }
  const route = match.route!
  exchange.route = route
  // Upgrade only where the route asks for WebSocket; h2c (RFC 7540 §3.2, removed by RFC 9113)
  // would let a client talk HTTP/2 past every stage.
  if (exchange.upgrade !== '' && (!route.websocket || exchange.upgrade !== 'websocket')) {
    return exchange.reject(REJECT.upgradeNotAllowed)
  }
  // Checked on the declared length before a byte of body is read (and, on the node front,
  // before 100 Continue is sent); chunked bodies are counted as they stream.
  if (exchange.contentLength > route.maxBodyBytes) {
    return exchange.reject(REJECT.payloadTooLarge, true)
  }
  let upstreamPath = path
  if (route.stripPrefix) {
    upstreamPath = path.slice(match.prefixLength)
    if (upstreamPath.charCodeAt(0) !== 47 /* / */) upstreamPath = '/' + upstreamPath
  }
  exchange.upstreamPath = exchange.query === '' ? upstreamPath : `${upstreamPath}?${exchange.query}`

  if (route.stages.length === 0) proceed(exchange, undefined)
  else runPipeline(exchange, route.stages, 0, proceed)
}

function proceed(exchange: Exchange, rejection: Rejection | undefined): void {
  if (rejection !== undefined) return exchange.reject(rejection)
  const route = exchange.route!
  const length = exchange.contentLength
  if (length === 0) {
    new ProxyCall(exchange, route.upstream, exchange.upstreamPath, null, route.timeoutMs).dispatch()
  } else if (length > 0 && length <= BUFFERED_BODY_LIMIT) {
    exchange.readBody(new BodyCollector(exchange, length))
  } else {
    const body = new BodyStream(exchange, route.maxBodyBytes)
    exchange.readBody(body)
    new ProxyCall(exchange, route.upstream, exchange.upstreamPath, body, route.timeoutMs).dispatch()
  }
}

/** Called by {@link BodyCollector} once a buffered body is complete. */
export function forwardBuffered(exchange: Exchange, body: Buffer): void {
  const route = exchange.route!
  new ProxyCall(exchange, route.upstream, exchange.upstreamPath, body, route.timeoutMs).dispatch()
}
