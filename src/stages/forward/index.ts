/**
 * forward — the identity goes in, the credential goes out. Maps the configured claims of the
 * verified identity, and the consumer it resolves to (headers.consumer: its name, groups and
 * chosen metadata), to request headers for the upstream; (strip_credentials) removes the token
 * the request was authenticated with, and an API key is always removed, in every header spelling
 * and from the query. Every header the gateway may set for identity is removed from every request
 * beforehand, public routes included (proxy/request-header-rules.ts), so a client can never send
 * its own X-User-Id or anything under X-Consumer- and X-Auth-.
 *
 * A claim value goes out only as visible ASCII and spaces (RFC 9110 §5.5): one with CR, LF or any
 * other control or non-ASCII character refuses the request (401 invalid_token) rather than
 * being forwarded raw or altered. The header list is kept on the (cached) identity for the last
 * route policy and consumer object that built it, so repeated credentials on one route build it
 * once, and a consumer changed since (a new object) is seen on the next request.
 *
 * Reads: identity, consumer. Writes: forwardHeaders, headers (authorization, cookie, the key
 * header), upstreamPath (query).
 */
import type { Static, TObject } from '@sinclair/typebox'
import type { Consumer } from '../../consumers/consumer.js'
import type { Rejection } from '../../errors.js'
import { foldHeaderName, isGatewayOwned } from '../../http/field-names.js'
import type { Identity } from '../../identity.js'
import type {
  RouteSite,
  Stage,
  StageDefinition,
  StageExchange,
  Verdict,
} from '../../pipeline/stage.js'
import type { Challenges } from '../authenticate/challenge.js'
import {
  apiKeyToken,
  withoutCookie,
  withoutQueryParameter,
  type KeySources,
  type TokenSources,
} from '../authenticate/credentials.js'
import { AUTHENTICATION } from '../authenticate/index.js'
import { consumerHeaderList, type ConsumerHeaders } from './consumer-headers.js'
import { ForwardSchema } from './schema.js'

/** The route keys this stage owns. */
const ROUTE_KEYS = { forward: ForwardSchema }
export type ForwardRouteConfig = Static<TObject<typeof ROUTE_KEYS>>

/** The shared services the stage asks for. */
export interface ForwardDeps {
  /**
   * The generation's identity header names, folded (http/field-names.ts foldHeaderName): every
   * route's claim headers are removed from every request, public routes included.
   */
  readonly identityHeaders: Set<string>
  /** headers.consumer compiled. */
  readonly consumerHeaders: ConsumerHeaders
}

export const forward: StageDefinition<typeof ROUTE_KEYS, ForwardDeps> = {
  name: 'forward',
  schema: ROUTE_KEYS,
  compile(config, route, deps) {
    const authenticate = route.product(AUTHENTICATION)?.stage ?? null
    const stage = compileForward(config, route, authenticate, deps.consumerHeaders)
    if (stage !== null) {
      for (const name of stage.headerNames) deps.identityHeaders.add(foldHeaderName(name))
    }
    return stage
  },
}

interface ClaimHeader {
  /** The claim's path: ['sub'], or ['realm_access', 'roles'] for a dotted name. */
  readonly claim: readonly string[]
  /** Lowercase header name. */
  readonly header: string
}

/** What the forward stage needs of the route's authenticate stage. */
export interface ForwardedAuthentication {
  /** Where a bearer token is read; null on a route without jwt. */
  readonly sources: TokenSources | null
  /** Where an API key is read; null on a route without api_key. */
  readonly keySources: KeySources | null
  /** Whether an identity of the route can name a consumer (a key; a JWT by consumer_claim). */
  readonly namesConsumers: boolean
  readonly challenges: Challenges
}

/**
 * `authenticate`: the route's authenticate stage, null on a public route. `consumerHeaders`:
 * headers.consumer, null where the route's identities are never given consumer headers.
 */
export function compileForward(
  route: ForwardRouteConfig,
  site: RouteSite,
  authenticate: ForwardedAuthentication | null,
  consumerHeaders: ConsumerHeaders | null = null,
): ForwardStage | null {
  const { path, problems } = site
  const claims: ClaimHeader[] = []
  const seen = new Set<string>()
  for (const [claim, headerName] of Object.entries(route.forward.claims)) {
    const header = headerName.toLowerCase()
    if (isGatewayOwned(header)) {
      problems.push({
        path: `${path}.forward.claims.${claim}`,
        reason: `${headerName} is a header the gateway sets or removes itself; choose another name`,
      })
    } else if (consumerHeaders?.names.includes(header)) {
      problems.push({
        path: `${path}.forward.claims.${claim}`,
        reason: `${headerName} carries the consumer (headers.consumer); choose another name`,
      })
    } else if (seen.has(foldHeaderName(header))) {
      problems.push({
        path: `${path}.forward.claims.${claim}`,
        reason: `${headerName} already receives another claim`,
      })
    }
    seen.add(foldHeaderName(header))
    claims.push({ claim: claim.split('.'), header })
  }
  if (authenticate === null) {
    if (claims.length > 0) {
      problems.push({
        path: `${path}.forward.claims`,
        reason: 'claims come from a verified identity; this route is public (auth: none)',
      })
    }
    return null
  }
  const consumers = authenticate.namesConsumers ? consumerHeaders : null
  const strip = route.forward.strip_credentials ? authenticate.sources : null
  const keys = authenticate.keySources
  // Nothing to set and nothing to strip: no stage, so the route's requests do not pay for one.
  if (claims.length === 0 && consumers === null && strip === null && keys === null) return null
  return new ForwardStage(
    claims,
    consumers,
    strip,
    keys,
    authenticate.challenges.invalid('unforwardable_claim'),
  )
}

export class ForwardStage implements Stage {
  readonly name = 'forward'
  readonly onResponse = null
  readonly onFinish = null
  readonly headerNames: readonly string[]
  readonly #claims: readonly ClaimHeader[]
  readonly #consumerHeaders: ConsumerHeaders | null
  readonly #strip: TokenSources | null
  readonly #keys: KeySources | null
  /** The key header folded (X_Api_Key reaches a CGI-style upstream as X-Api-Key). */
  readonly #keyHeader: string | null
  readonly #unforwardable: Rejection

  constructor(
    claims: readonly ClaimHeader[],
    consumerHeaders: ConsumerHeaders | null,
    strip: TokenSources | null,
    keys: KeySources | null,
    unforwardable: Rejection,
  ) {
    this.#claims = claims
    this.#consumerHeaders = consumerHeaders
    this.#strip = strip
    this.#keys = keys
    this.#keyHeader = keys === null ? null : foldHeaderName(keys.header)
    this.#unforwardable = unforwardable
    this.headerNames = claims.map((c) => c.header)
  }

  onRequest(exchange: StageExchange): Verdict {
    const identity = exchange.identity!
    const consumer = this.#consumerHeaders === null ? null : exchange.consumer
    if (this.#claims.length > 0 || consumer !== null) {
      let memo = identity.forwarded
      if (memo === null || memo.policy !== this || memo.consumer !== consumer) {
        memo = { policy: this, consumer, headers: this.#headersOf(identity, consumer) }
        identity.forwarded = memo
      }
      if (memo.headers === null) return this.#unforwardable
      exchange.forwardHeaders = memo.headers
    }
    if (this.#strip !== null) stripCredential(exchange, this.#strip)
    if (this.#keys !== null) this.#stripKey(exchange, this.#keys)
    return undefined
  }

  /**
   * The key never reaches the upstream, whichever method admitted the request: its header in
   * every spelling, an `Authorization: ApiKey` field, its query parameter.
   */
  #stripKey(exchange: StageExchange, keys: KeySources): void {
    const headers = exchange.headers
    const folded = this.#keyHeader!
    for (let i = headers.length - 2; i >= 0; i -= 2) {
      const name = headers[i]!
      if (
        name === folded ||
        (name.length === folded.length && foldHeaderName(name) === folded) ||
        (keys.authorization && name === 'authorization' && apiKeyToken(headers[i + 1]!) !== null)
      ) {
        headers.splice(i, 2)
      }
    }
    if (keys.query !== null && exchange.query !== '') {
      stripQueryParameter(exchange, keys.query)
    }
  }

  /** The identity's headers, or null when a claim cannot be sent as a header value. */
  #headersOf(identity: Identity, consumer: Consumer | null): readonly string[] | null {
    const out: string[] =
      consumer === null ? [] : consumerHeaderList(this.#consumerHeaders!, consumer)
    for (const { claim, header } of this.#claims) {
      let value: unknown = identity.claims
      for (const part of claim) {
        value =
          value !== null && typeof value === 'object' && Object.hasOwn(value, part)
            ? (value as Record<string, unknown>)[part]
            : undefined
      }
      if (value === undefined || value === null) continue
      const text = headerValue(value)
      if (text === null) return null
      out.push(header, text)
    }
    return out
  }
}

/** Visible ASCII and space only (RFC 9110 §5.5 field-vchar, without obs-text), not empty-edged. */
const SAFE_VALUE = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/

function headerValue(value: unknown): string | null {
  let text: string
  if (typeof value === 'string') text = value
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value)
  else if (Array.isArray(value)) {
    const parts: string[] = []
    for (const item of value) {
      if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean') {
        parts.push(String(item))
      } else return null
    }
    text = parts.join(' ')
  } else return null
  if (text === '') return ''
  return SAFE_VALUE.test(text) ? text : null
}

function stripCredential(exchange: StageExchange, sources: TokenSources): void {
  if (sources.header) exchange.deleteHeader('authorization')
  if (sources.cookie !== null) {
    const headers = exchange.headers
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === 'cookie') headers[i + 1] = withoutCookie(headers[i + 1]!, sources.cookie)
    }
    // An emptied Cookie header is dropped rather than sent empty.
    for (let i = headers.length - 2; i >= 0; i -= 2) {
      if (headers[i] === 'cookie' && headers[i + 1] === '') headers.splice(i, 2)
    }
  }
  if (sources.query !== null && exchange.query !== '') stripQueryParameter(exchange, sources.query)
}

function stripQueryParameter(exchange: StageExchange, name: string): void {
  const at = exchange.upstreamPath.indexOf('?')
  if (at < 0) return
  // The upstream path's own query: a strip before this one may have changed it already.
  const query = withoutQueryParameter(exchange.upstreamPath.slice(at + 1), name)
  const path = exchange.upstreamPath.slice(0, at)
  exchange.upstreamPath = query === '' ? path : `${path}?${query}`
}
