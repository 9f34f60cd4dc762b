/**
 * Header names with a fixed meaning to the gateway, whatever the config: the hop-by-hop fields, the
 * fields the gateway sets itself, and the identity names and prefixes only the gateway may set.
 * The proxy removes them from client requests (proxy/request-header-rules.ts); the forward stage
 * refuses to put a claim into one.
 */

/** Never forwarded in either direction (RFC 9110 §7.6.1, RFC 9112 §6.1, RFC 7230 legacy names). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Expect is answered by the gateway itself; undici refuses to send it anyway.
  'expect',
])

/** Set by the gateway on every forwarded request; the client's values never pass. */
export const GATEWAY_OWNED: ReadonlySet<string> = new Set([
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-real-ip',
  'forwarded',
  'x-request-id',
  'via',
  // W3C Trace Context: the gateway's span replaces the client's (observability/trace-context.ts).
  'traceparent',
  'tracestate',
])

/**
 * The spelling an upstream may fold a header name into: lower case with `_` read as `-` (CGI and
 * WSGI turn both into HTTP_X_USER_ID; nginx and others can be set to accept either). A client's
 * `X_User_Id` must be removed wherever `X-User-Id` is.
 */
export function foldHeaderName(lowercaseName: string): string {
  return lowercaseName.indexOf('_') < 0 ? lowercaseName : lowercaseName.replace(/_/g, '-')
}

/** A name the gateway sets or removes itself, in any spelling: not available to forward claims into. */
export function isGatewayOwned(lowercaseName: string): boolean {
  const name = foldHeaderName(lowercaseName)
  return GATEWAY_OWNED.has(name) || HOP_BY_HOP.has(name)
}

/** The names the gateway may set for identity on any route, lowercase: removed from every request. */
export const DEFAULT_IDENTITY_HEADERS = ['x-user-id', 'x-tenant-id', 'x-scopes'] as const

/**
 * Every name under these prefixes is identity too (X-Consumer-Id, X-Auth-Subject…), whether or not
 * a route sets it today: an upstream written for another gateway's headers trusts the whole family.
 */
export const IDENTITY_HEADER_PREFIXES = ['x-consumer-', 'x-auth-'] as const
