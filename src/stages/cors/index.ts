/**
 * cors — which cross-origin pages may call the route, and what their browsers may let them read
 * (Fetch standard, "CORS protocol"). The route's `cors:` policy (or the top-level default) is
 * compiled once (./policy.ts, ./origins.ts); a request only reads its Origin.
 *
 * A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here and never
 * forwarded: before authentication, since browsers send no credentials on it. Its origin, method
 * and every name of Access-Control-Request-Headers allowed: 204 with Access-Control-Allow-Origin
 * (the origin itself), -Methods, -Headers, -Credentials, -Max-Age and Vary; anything refused: 403
 * `forbidden` with no CORS header, so the browser stops there. The request path matches a
 * preflight by the method it asks about (gateway/request-path.ts), so it reaches this stage even
 * on a route that does not list OPTIONS.
 *
 * Any other request goes on. With an allowed Origin its answer, the gateway's own rejections
 * included (401, 403, 429 of later stages), carries Access-Control-Allow-Origin, -Credentials and
 * -Expose-Headers (the route's rate-limit fields added to expose_headers); every answer carries
 * Vary: Origin, since it depends on it. The upstream's own Access-Control-* fields never reach the
 * client on such a route (proxy/headers.ts, CompiledRoute.ownsCors): they are replaced, not merged.
 *
 * Reads: method, headers (origin, access-control-request-*). Writes: responseHeaders. Answers:
 * 204 (preflight), 403 `forbidden` (refused preflight).
 *
 * @see https://fetch.spec.whatwg.org/#http-cors-protocol
 */
import { Type, type Static, type TObject } from '@sinclair/typebox'
import { createEmptyAnswer, createRejection, type Rejection } from '../../errors.js'
import type { Stage, StageDefinition, StageExchange, Verdict } from '../../pipeline/stage.js'
import { RATE_LIMIT_FIELDS } from '../rate-limit/index.js'
import { compileCorsPolicy, type CorsPolicy } from './policy.js'
import { ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD } from './preflight.js'
import { RouteCorsSchema } from './schema.js'

/** The route keys this stage owns. */
const ROUTE_KEYS = { cors: Type.Optional(RouteCorsSchema) }
export type CorsRouteConfig = Static<TObject<typeof ROUTE_KEYS>>

/** The shared services the stage asks for. */
export interface CorsDeps {
  /** The top-level `cors:` compiled; null when there is none (or it has a problem). */
  readonly corsDefault: CorsPolicy | null
}

export const cors: StageDefinition<typeof ROUTE_KEYS, CorsDeps> = {
  name: 'cors',
  schema: ROUTE_KEYS,
  compile(config, route, deps) {
    const own = config.cors
    const policy =
      own === false
        ? null
        : own === undefined
          ? deps.corsDefault
          : compileCorsPolicy(own, `${route.path}.cors`, route.problems)
    if (policy === null) return null
    return new CorsStage(policy, route.product(RATE_LIMIT_FIELDS) ?? [])
  },
}

const ALLOW_ORIGIN = 'access-control-allow-origin'
const ALLOW_METHODS = 'access-control-allow-methods'
const ALLOW_HEADERS = 'access-control-allow-headers'
const ALLOW_CREDENTIALS = 'access-control-allow-credentials'
const EXPOSE_HEADERS = 'access-control-expose-headers'
const MAX_AGE = 'access-control-max-age'
/** A preflight's answer depends on all three (Fetch standard, "CORS protocol and HTTP caches"). */
const PREFLIGHT_VARY = 'origin, access-control-request-method, access-control-request-headers'

/** RFC 9110 §5.6.2 token: methods and field names. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

export const PREFLIGHT_REFUSED = createRejection(
  403,
  'forbidden',
  'The CORS policy of this route does not allow this origin, method or header.',
)

export class CorsStage implements Stage {
  readonly name = 'cors'
  readonly onResponse = null
  readonly onFinish = null
  readonly #policy: CorsPolicy
  /** Access-Control-Expose-Headers of an allowed actual request; '' for none. */
  readonly #exposeValue: string
  /** The 204 of an allowed preflight, with the fields that do not depend on the request. */
  readonly #preflightAllowed: Rejection

  constructor(policy: CorsPolicy, rateLimitFields: readonly string[]) {
    this.#policy = policy
    this.#exposeValue = [...new Set([...policy.exposeHeaders, ...rateLimitFields])].join(', ')
    const fields: string[] = []
    if (policy.methodsValue !== '') fields.push(ALLOW_METHODS, policy.methodsValue)
    if (policy.allowHeadersValue !== '') fields.push(ALLOW_HEADERS, policy.allowHeadersValue)
    if (policy.credentials) fields.push(ALLOW_CREDENTIALS, 'true')
    fields.push(MAX_AGE, policy.maxAgeValue, 'vary', PREFLIGHT_VARY)
    this.#preflightAllowed = createEmptyAnswer(fields)
  }

  onRequest(exchange: StageExchange): Verdict {
    const origin = exchange.header('origin')
    if (origin !== undefined && exchange.method === 'OPTIONS') {
      const method = exchange.header(ACCESS_CONTROL_REQUEST_METHOD)
      if (method !== undefined) return this.#preflight(exchange, origin, method)
    }
    exchange.addResponseHeader('vary', 'origin')
    const policy = this.#policy
    if (origin === undefined || !policy.origins.allows(origin)) return undefined
    exchange.addResponseHeader(ALLOW_ORIGIN, policy.origins.any ? '*' : origin)
    if (policy.credentials) exchange.addResponseHeader(ALLOW_CREDENTIALS, 'true')
    if (this.#exposeValue !== '') exchange.addResponseHeader(EXPOSE_HEADERS, this.#exposeValue)
    return undefined
  }

  #preflight(exchange: StageExchange, origin: string, method: string): Rejection {
    const policy = this.#policy
    if (!policy.origins.allows(origin) || !TOKEN.test(method)) return PREFLIGHT_REFUSED
    if (policy.methods !== null && !policy.methods.has(method)) return PREFLIGHT_REFUSED
    const requested = exchange.header(ACCESS_CONTROL_REQUEST_HEADERS)
    const asksHeaders = requested !== undefined && requested.trim() !== ''
    if (asksHeaders && !headersAllowed(requested, policy.allowHeaders)) return PREFLIGHT_REFUSED
    exchange.addResponseHeader(ALLOW_ORIGIN, policy.origins.any ? '*' : origin)
    // Without a methods list the route's own methods decide, and the router matched this
    // preflight by the method it asks about: that one is allowed.
    if (policy.methods === null) exchange.addResponseHeader(ALLOW_METHODS, method)
    // `*` answered by name: browsers never let a wildcard cover Authorization.
    if (policy.allowHeaders === null && asksHeaders) {
      exchange.addResponseHeader(ALLOW_HEADERS, requested)
    }
    return this.#preflightAllowed
  }
}

/**
 * Whether every name of an Access-Control-Request-Headers value (a comma-separated list, Fetch
 * standard) is a field name the policy allows; `allowed` null: any name.
 */
function headersAllowed(list: string, allowed: ReadonlySet<string> | null): boolean {
  let start = 0
  while (start <= list.length) {
    let end = list.indexOf(',', start)
    if (end < 0) end = list.length
    const name = list.slice(start, end).trim().toLowerCase()
    if (name !== '' && (!TOKEN.test(name) || (allowed !== null && !allowed.has(name)))) {
      return false
    }
    start = end + 1
  }
  return true
}
