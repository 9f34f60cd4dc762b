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
