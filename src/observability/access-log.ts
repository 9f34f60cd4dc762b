/**
 * One access-log line per request. Only the normalized path is logged, never the query (it can
 * carry credentials such as api_key=…) nor any header value.
 */
import type { Logger } from 'pino'
import type { Exchange } from '../gateway/exchange.js'
import { traceOf } from './trace-context.js'

/** `now` is the exchange's end in performance.now() milliseconds, read once for metrics too. */
export function writeAccessLog(logger: Logger, exchange: Exchange, now: number): void {
  const upstreamStarted = exchange.upstreamStartedAt
  // A request answered before the upstream (a 401, a 404) gets its trace id here.
  traceOf(exchange)
  logger.info(
    {
      request_id: exchange.requestId,
      trace_id: exchange.traceId,
      method: exchange.method,
      path: exchange.path === '' ? '(invalid)' : exchange.path,
      route: exchange.route?.name ?? exchange.pathRoutes,
      status: exchange.status,
      client: exchange.clientAddress,
      // The proxy the client came through (trusted_proxies), when there was one.
      peer: exchange.peerAddress === exchange.clientAddress ? undefined : exchange.peerAddress,
      duration_ms: round(now - exchange.startedAt),
      upstream_ms:
        upstreamStarted === 0 ? null : round((exchange.upstreamHeadersAt || now) - upstreamStarted),
      upstream: exchange.upstreamTarget || null,
      bytes_out: exchange.responseBytes,
      aborted: exchange.aborted,
      error: exchange.errorDetail,
    },
    'access',
  )
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000
}
