/**
 * The way a request travels once a front has filled its exchange (docs/architecture.md):
 * framing and size checks → path normalization → router → the route's stages → proxy.
 * Everything here is synchronous until a stage or the body makes it wait. A WebSocket upgrade
 * takes the same way up to the stages and then opens a tunnel instead of a proxy call.
 */
import type { Readable } from 'node:stream'
import { REJECT, type Rejection } from '../errors.js'
import { resolveClientAddress } from './client-address.js'
import type { Exchange } from './exchange.js'
import { normalizePath } from './normalize-path.js'
import { BodyCollector, BodyPrefix } from './request-body.js'
import { runPipeline } from '../pipeline/run.js'
import type { Verdict } from '../pipeline/stage.js'
import { ProxyCall } from '../proxy/forward.js'
import { checkHandshake, UpstreamHandshake, type UpgradeExchange } from '../proxy/websocket.js'
import { matchRoute, MatchKind, type MatchResult } from '../router/match.js'
import { templateParams } from '../router/template.js'
import { preflightMethod } from '../stages/cors/preflight.js'

export function handleRequest(exchange: Exchange): void {
  const runtime = exchange.runtime
  runtime.state.inFlight++
  if (runtime.trustedProxies !== null) resolveClientAddress(exchange, runtime.trustedProxies)
  const maxPerClient = runtime.maxConcurrentPerClient
  if (maxPerClient > 0) {
    if (!runtime.state.clientSlots.take(exchange.clientAddress, maxPerClient)) {
      return exchange.reject(REJECT.tooManyConcurrent)
    }
    exchange.holdsClientSlot = true
  }
  if (!admit(exchange)) return
  const stages = exchange.route!.stages
  if (stages.length === 0) proceed(exchange, undefined)
  else runPipeline(exchange, stages, 0, proceed)
}

/**
 * A WebSocket opening handshake (RFC 6455 §4.2.1), from a front that can tunnel it: the same
 * checks and the same stages as any request of its route (a stage that authenticates must see
 * upgrades too), then the handshake's own rules, then the upstream handshake.
 */
export function handleUpgrade(exchange: UpgradeExchange): void {
  const runtime = exchange.runtime
  runtime.state.inFlight++
  if (runtime.trustedProxies !== null) resolveClientAddress(exchange, runtime.trustedProxies)
  if (!admit(exchange)) return
  const invalid = checkHandshake(exchange)
  if (invalid !== undefined) return exchange.reject(invalid, true)
  const stages = exchange.route!.stages
  if (stages.length === 0) openTunnel(exchange, undefined)
  else runPipeline(exchange, stages, 0, openTunnel)
}

function openTunnel(exchange: Exchange, rejection: Rejection | undefined): void {
  if (rejection !== undefined) return exchange.reject(rejection, true)
  new UpstreamHandshake(exchange as UpgradeExchange).dispatch()
}

/**
 * The checks every request passes before its route's stages: framing and size, path, route
 * (404/405), the upgrade rule, the declared body length. Fills path, route and upstreamPath;
 * false when the exchange has been answered.
 */
function admit(exchange: Exchange): boolean {
  const runtime = exchange.runtime
  if (exchange.invalid !== null) {
    exchange.reject(exchange.invalid, true)
    return false
  }
  if (exchange.headerBytes > runtime.maxHeaderBytes) {
    exchange.reject(REJECT.headersTooLarge, true)
    return false
  }
  const path = normalizePath(exchange.rawPath)
  if (typeof path !== 'string') {
    exchange.reject(path)
    return false
  }
  exchange.path = path

  const match =
    exchange.method === 'OPTIONS'
      ? matchOptions(exchange, path)
      : matchRoute(runtime.table, exchange.host, path, exchange.method, runtime.matchResult)
  if (match.kind === MatchKind.NotFound) {
    exchange.reject(REJECT.notFound)
    return false
  }
  if (match.kind === MatchKind.MethodNotAllowed) {
    exchange.pathRoutes = match.routeNames
    exchange.reject(runtime.methodNotAllowed(match.allow))
    return false
  }
  const route = match.route!
  exchange.route = route
  // RFC 6797 §7.2: only over TLS. First, so that the route's own error answers carry it too.
  if (route.hsts !== null && exchange.listener !== 'http') {
    exchange.addResponseHeader('strict-transport-security', route.hsts)
  }
  if (match.template !== null) exchange.pathParams = templateParams(match.template, path)
  // Upgrade only where the route asks for WebSocket; h2c (RFC 7540 §3.2, removed by RFC 9113)
  // would let a client talk HTTP/2 past every stage.
  if (exchange.upgrade !== '' && (!route.websocket || exchange.upgrade !== 'websocket')) {
    exchange.reject(REJECT.upgradeNotAllowed)
    return false
  }
  // Checked on the declared length before a byte of body is read (and, on the node front,
  // before 100 Continue is sent); chunked bodies are counted as they stream.
  if (exchange.contentLength > route.maxBodyBytes) {
    exchange.reject(REJECT.payloadTooLarge, true)
    return false
  }
  let upstreamPath = path
  if (route.stripPrefix) {
    upstreamPath = path.slice(match.prefixLength)
    if (upstreamPath.charCodeAt(0) !== 47 /* / */) upstreamPath = '/' + upstreamPath
  }
  exchange.upstreamPath = exchange.query === '' ? upstreamPath : `${upstreamPath}?${exchange.query}`
  return true
}

/**
 * An OPTIONS request is matched like any other, unless it is a CORS preflight for a route that
 * owns CORS: then it is matched by the method it asks about, so that the route which will take
 * the actual request answers it (its cors stage), even when that route does not list OPTIONS.
 * Any other OPTIONS request, preflights for routes without cors included, goes its usual way.
 */
function matchOptions(exchange: Exchange, path: string): MatchResult {
  const runtime = exchange.runtime
  const asked = preflightMethod(exchange)
  if (asked !== undefined) {
    const match = matchRoute(runtime.table, exchange.host, path, asked, runtime.matchResult)
    if (match.kind === MatchKind.Found && match.route!.ownsCors) return match
  }
  return matchRoute(runtime.table, exchange.host, path, 'OPTIONS', runtime.matchResult)
}

function proceed(exchange: Exchange, rejection: Rejection | undefined): void {
  if (rejection !== undefined) return exchange.reject(rejection)
  const route = exchange.route!
  const length = exchange.contentLength
  if (route.bodyStages.length > 0) return readWholeBody(exchange, length)
  if (length === 0) {
    new ProxyCall(exchange, route.upstream, exchange.upstreamPath, null, route.timeoutMs).dispatch()
  } else if (length > 0 && length <= route.bufferBodyBytes) {
    exchange.readBody(new BodyCollector(exchange, length, forwardBody))
  } else {
    exchange.readBody(
      new BodyPrefix(exchange, route.maxBodyBytes, route.bufferBodyBytes, forwardBody),
    )
  }
}

const EMPTY_BODY = Buffer.alloc(0)

/**
 * A route whose stages read the body (Stage.onBody) receives it whole, up to max_body, under
 * limits.min_body_rate when it is larger than buffer_body; an empty body is checked too (a
 * signature may cover its absence, a schema may require one).
 */
function readWholeBody(exchange: Exchange, length: number): void {
  const route = exchange.route!
  if (length === 0) return checkBody(exchange, EMPTY_BODY)
  if (length > 0 && length <= route.bufferBodyBytes) {
    return exchange.readBody(new BodyCollector(exchange, length, checkBody))
  }
  // A prefix limit past max_body: the body ends (or is refused with 413) before it would stream.
  exchange.readBody(new BodyPrefix(exchange, route.maxBodyBytes, route.maxBodyBytes + 1, checkBody))
}

function checkBody(exchange: Exchange, body: Buffer | Readable): void {
  const stages = exchange.route!.bodyStages
  const whole = body as Buffer
  for (let i = 0; i < stages.length; i++) {
    const stage = stages[i]!
    let verdict: Verdict
    try {
      verdict = stage.onBody!(exchange, whole)
    } catch (error) {
      exchange.stageFailed(stage.name, error)
      return
    }
    if (verdict !== undefined) return exchange.reject(verdict)
  }
  forwardBody(exchange, whole)
}

/**
 * Called by the body once it is complete (a Buffer) or once buffer_body bytes of it arrived (a
 * stream of the rest): the upstream request starts only now.
 */
function forwardBody(exchange: Exchange, body: Buffer | Readable): void {
  const route = exchange.route!
  new ProxyCall(exchange, route.upstream, exchange.upstreamPath, body, route.timeoutMs).dispatch()
}
