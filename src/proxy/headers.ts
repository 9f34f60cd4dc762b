/**
 * Header rewriting between client and upstream, both ways.
 *
 * Hop-by-hop fields are removed per RFC 9110 §7.6.1: the fixed list plus every name the sender
 * lists in Connection. The gateway's own fields (X-Forwarded-*, Via, X-Request-Id, Host) are
 * removed from the client's request unconditionally and then appended, so a client can never make
 * the gateway drop or replace one by naming it in Connection.
 */
import type { Exchange } from '../front/exchange.js'
import type { Target, UpstreamTimings } from './upstream.js'

/** Never forwarded in either direction (RFC 9110 §7.6.1, RFC 9112 §6.1, RFC 7230 legacy names). */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
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

/** Set by the gateway; the client's values never pass. */
const GATEWAY_OWNED: ReadonlySet<string> = new Set([
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-real-ip',
  'forwarded',
  'x-request-id',
])

const VIA = '1.1 portcullis'

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
  return GATEWAY_OWNED.has(name) || HOP_BY_HOP.has(name) || name === 'via'
}

/**
 * Builds the upstream request headers as a flat [name, value…] list (undici's fastest form).
 * `upgrade` is the Upgrade value to keep ('' to drop it).
 */
export function buildUpstreamHeaders(
  exchange: Exchange,
  target: Target,
  upstream: UpstreamTimings,
  upgrade: string,
): string[] {
  const src = exchange.headers
  const listed = connectionListed(exchange.connectionHeader)
  const identity = exchange.runtime.identityHeaders
  const out: string[] = []
  let via = ''
  for (let i = 0; i < src.length; i += 2) {
    const name = src[i]!
    if (HOP_BY_HOP.has(name) || GATEWAY_OWNED.has(name) || identity.has(name)) continue
    if (listed !== null && listed.has(name)) continue
    if (name.indexOf('_') >= 0) {
      // Spoofing by spelling: X_User_Id reaches a CGI-style upstream as X-User-Id.
      const folded = foldHeaderName(name)
      if (GATEWAY_OWNED.has(folded) || identity.has(folded) || HOP_BY_HOP.has(folded)) continue
    }
    if (name === 'via') {
      via = via === '' ? src[i + 1]! : `${via}, ${src[i + 1]!}`
      continue
    }
    out.push(name, src[i + 1]!)
  }
  const clientHost = exchange.hostHeader
  out.push(
    'host',
    upstream.preserveHost && clientHost !== '' ? clientHost : target.hostHeader,
    'x-forwarded-for',
    exchange.clientAddress,
    'x-forwarded-proto',
    exchange.listener === 'http' ? 'http' : 'https',
    'x-request-id',
    exchange.requestId,
    'via',
    via === '' ? VIA : `${via}, ${VIA}`,
  )
  if (clientHost !== '') out.push('x-forwarded-host', clientHost)
  const forwarded = exchange.forwardHeaders
  if (forwarded !== null) for (let i = 0; i < forwarded.length; i++) out.push(forwarded[i]!)
  if (upgrade !== '') out.push('connection', 'upgrade', 'upgrade', upgrade)
  return out
}

/**
 * Filters upstream response headers into a flat list for the client. Content-Length and
 * Transfer-Encoding are framing the front writes itself; Date is written by the front too.
 */
export function buildResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
  requestId: string,
): string[] {
  const connection = headers['connection']
  // Repeated Connection lines arrive as an array; each names fields to drop (RFC 9110 §7.6.1).
  const listed = connectionListed(
    typeof connection === 'string' ? connection : connection?.join(', '),
  )
  const out: string[] = []
  for (const name in headers) {
    if (!passesToClient(name, listed)) continue
    const value = headers[name]
    if (value === undefined) continue
    if (typeof value === 'string') out.push(name, value)
    else for (let i = 0; i < value.length; i++) out.push(name, value[i]!)
  }
  if (headers['x-request-id'] === undefined) out.push('x-request-id', requestId)
  return out
}

/**
 * Whether an upstream response field reaches the client: not hop-by-hop, not named in the
 * upstream's Connection (`listed`), and not Content-Length or Date, which the front writes.
 */
function passesToClient(name: string, listed: Set<string> | null): boolean {
  if (HOP_BY_HOP.has(name) || name === 'content-length' || name === 'date') return false
  return listed === null || !listed.has(name)
}

function connectionListed(value: string | undefined): Set<string> | null {
  if (value === undefined || value === '' || value === 'keep-alive' || value === 'close')
    return null
  const set = new Set<string>()
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase()
    if (name !== '') set.add(name)
  }
  return set
}

/**
 * The response head for the client: the upstream's headers filtered, then whatever the route's
 * stages add (their onResponse hooks run first, so a header they set is never missed).
 */
export function clientResponseHeaders(
  exchange: Exchange,
  upstreamHeaders: Record<string, string | string[] | undefined>,
): string[] {
  return withStageHeaders(exchange, buildResponseHeaders(upstreamHeaders, exchange.requestId))
}

/** {@link clientResponseHeaders} for a field list, [name, value, …] with lowercase names. */
export function clientResponseFields(exchange: Exchange, fields: readonly string[]): string[] {
  return withStageHeaders(exchange, buildResponseFields(fields, exchange.requestId))
}

/**
 * {@link buildResponseHeaders} for a field list: the same fields dropped, repeated ones kept as
 * separate lines in their order, and every Connection line's names honoured.
 */
export function buildResponseFields(fields: readonly string[], requestId: string): string[] {
  let connection = ''
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 'connection') {
      connection = connection === '' ? fields[i + 1]! : `${connection}, ${fields[i + 1]!}`
    }
  }
  const listed = connectionListed(connection)
  const out: string[] = []
  let hasRequestId = false
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!
    if (!passesToClient(name, listed)) continue
    if (name === 'x-request-id') hasRequestId = true
    out.push(name, fields[i + 1]!)
  }
  if (!hasRequestId) out.push('x-request-id', requestId)
  return out
}

function withStageHeaders(exchange: Exchange, out: string[]): string[] {
  const stages = exchange.route!.responseStages
  for (let i = 0; i < stages.length; i++) stages[i]!.onResponse!(exchange)
  const extra = exchange.responseHeaders
  if (extra !== null) for (let i = 0; i < extra.length; i++) out.push(extra[i]!)
  return out
}
