/**
 * How an upstream failure is classified, for every kind of upstream call (proxied requests,
 * WebSocket handshakes): the codes are undici's and the socket's errno, which both transports use.
 */

/** Failures before the upstream could have answered: the target is counted as failing. */
export const CONNECT_ERRORS: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
])

/** Failures that answer 504 rather than 502. */
export const TIMEOUT_ERRORS: ReadonlySet<string> = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
])

/** Code of {@link QueueTimeoutError}: answered 503 upstream_busy, never retried. */
export const QUEUE_TIMEOUT = 'PCL_UPSTREAM_QUEUE_TIMEOUT'

/**
 * A request waited longer than the upstream's queue_timeout for a free connection. Nothing of it
 * reached the upstream.
 */
export class QueueTimeoutError extends Error {
  override readonly name = 'QueueTimeoutError'
  readonly code = QUEUE_TIMEOUT

  constructor(limitMs: number) {
    super(`no free upstream connection within ${limitMs} ms`)
  }
}
