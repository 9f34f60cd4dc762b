/**
 * Header rewriting between client and upstream, both ways.
 *
 * Hop-by-hop fields are removed per RFC 9110 §7.6.1: the fixed list plus every name the sender
 * lists in Connection. Which other client fields never pass is compiled per config
 * (request-header-rules.ts). The gateway's own fields (Host, X-Forwarded-For/-Proto/-Host,
 * X-Request-Id, Via, traceparent, tracestate) are removed from the client's request
 * unconditionally and then set, so a client can neither supply one nor make the gateway drop one
 * by naming it in Connection. The client certificate headers (headers.client_certificate) are
 * removed the same way and set on requests of an mTLS connection.
 */
import type { Exchange } from '../gateway/exchange.js'
import { HOP_BY_HOP } from '../http/field-names.js'
import { traceOf } from '../observability/trace-context.js'
import type { Target, UpstreamTimings } from './upstream.js'

/**
 * The gateway's Via replaces the client's: what a client says about proxies before the edge
 * cannot be verified, and an upstream that reads Via (loop detection, protocol choice) must see
 * only hops it can trust.
 */
const VIA = '1.1 portcullis'

/** The CORS response fields (Fetch standard), all under this prefix. */
const ACCESS_CONTROL = 'access-control-'

/**
 * Builds the upstream request headers as a flat [name, value…] list (undici's fastest form).
 * `upgrade` is the Upgrade value to keep ('' to drop it).
 *
 * X-Forwarded-For is the client address, or the chain a trusted proxy vouched for with that proxy
 * appended (gateway/client-address.ts), never what an untrusted peer sent; X-Forwarded-Proto the listener's scheme,
 * X-Forwarded-Host the Host the client sent: each replaces whatever the client sent.
 */
export function buildUpstreamHeaders(
  exchange: Exchange,
  target: Target,
  upstream: UpstreamTimings,
  upgrade: string,
): string[] {
  const src = exchange.headers
  const listed = connectionListed(exchange.connectionHeader)
  const rules = exchange.runtime.headerRules
  const out: string[] = []
  for (let i = 0; i < src.length; i += 2) {
    const name = src[i]!
    if (rules.removes(name)) continue
    if (listed !== null && listed.has(name)) continue
    out.push(name, src[i + 1]!)
  }
  const clientHost = exchange.hostHeader
  out.push(
    'host',
    upstream.preserveHost && clientHost !== '' ? clientHost : target.hostHeader,
    'x-forwarded-for',
    exchange.forwardedFor === '' ? exchange.clientAddress : exchange.forwardedFor,
    'x-forwarded-proto',
    exchange.listener === 'http' ? 'http' : 'https',
    'x-request-id',
    exchange.requestId,
    'via',
    VIA,
    'traceparent',
    traceOf(exchange),
  )
  if (exchange.traceState !== '') out.push('tracestate', exchange.traceState)
  if (clientHost !== '') out.push('x-forwarded-host', clientHost)
  const forwarded = exchange.forwardHeaders
  if (forwarded !== null) for (let i = 0; i < forwarded.length; i++) out.push(forwarded[i]!)
  const certificate = exchange.clientCertificate
  if (certificate !== null) {
    const fields = exchange.runtime.certificateHeaders.of(certificate)
    for (let i = 0; i < fields.length; i++) out.push(fields[i]!)
  }
  if (upgrade !== '') out.push('connection', 'upgrade', 'upgrade', upgrade)
  return out
}

/**
 * Filters upstream response headers into a flat list for the client. Content-Length and
 * Transfer-Encoding are framing the front writes itself; Date is written by the front too.
 * `dropCors`: the route's CORS fields are the gateway's, so the upstream's are dropped.
 */
export function buildResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
  requestId: string,
  dropCors = false,
): string[] {
  const connection = headers['connection']
  // Repeated Connection lines arrive as an array; each names fields to drop (RFC 9110 §7.6.1).
  const listed = connectionListed(
    typeof connection === 'string' ? connection : connection?.join(', '),
  )
  const out: string[] = []
  for (const name in headers) {
    if (!passesToClient(name, listed, dropCors)) continue
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
 * upstream's Connection (`listed`), not Content-Length or Date, which the front writes, and not
 * an Access-Control-* field on a route whose CORS fields are the gateway's (`dropCors`).
 */
function passesToClient(name: string, listed: Set<string> | null, dropCors: boolean): boolean {
  if (HOP_BY_HOP.has(name) || name === 'content-length' || name === 'date') return false
  if (dropCors && name.startsWith(ACCESS_CONTROL)) return false
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
  const route = exchange.route!
  return withStageHeaders(
    exchange,
    buildResponseHeaders(upstreamHeaders, exchange.requestId, route.ownsCors),
  )
}

/** {@link clientResponseHeaders} for a field list, [name, value, …] with lowercase names. */
export function clientResponseFields(exchange: Exchange, fields: readonly string[]): string[] {
  return withStageHeaders(
    exchange,
    buildResponseFields(fields, exchange.requestId, exchange.route!.ownsCors),
  )
}

/**
 * {@link buildResponseHeaders} for a field list: the same fields dropped, repeated ones kept as
 * separate lines in their order, and every Connection line's names honoured.
 */
export function buildResponseFields(
  fields: readonly string[],
  requestId: string,
  dropCors = false,
): string[] {
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
    if (!passesToClient(name, listed, dropCors)) continue
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
