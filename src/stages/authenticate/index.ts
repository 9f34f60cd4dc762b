/**
 * authenticate — who is calling. Finds the route's credential — a bearer JWT (Authorization
 * header, or a configured cookie or query parameter), an API key (its header, optionally
 * `Authorization: ApiKey`, a named query parameter), an opaque bearer token judged by an OAuth
 * 2.0 introspection endpoint, an RFC 9421 signature (Signature-Input and Signature, with a
 * consumer's shared secret), the connection's client certificate — checks it, and fills
 * `exchange.identity` and, where the credential names a known consumer, `exchange.consumer`.
 * Each method is a {@link CredentialMethod} (method.ts; jwt-method.ts, api-key-method.ts,
 * introspection-method.ts, hmac-method.ts, mtls-method.ts). A method that reads the body (hmac:
 * Content-Digest) gives the stage an onBody; other routes keep streaming their bodies. On an
 * `any:` route the
 * method whose credential the request carries decides; a request carrying two is refused, never
 * guessed. On an `all:` route every method must admit its credential, and those that name a
 * consumer must name the same one. Synchronous for a key and for a cached or inline-verified
 * token or introspection answer; a promise only when a signature goes to the verify pool, an
 * unknown kid waits for a JWKS refresh or a token waits for its introspection call.
 *
 * A key's `allow_ips`/`deny_ips` and the named consumer's `ip:` rules are checked against the
 * client address (gateway/client-address.ts): a valid credential from a refused address is a 403
 * `forbidden`.
 *
 * Reads: headers, query, clientAddress, clientCertificate. Writes: identity, consumer. Answers: 400 invalid_request
 * (several credentials, a malformed Authorization field), 401 + WWW-Authenticate (no credential,
 * invalid token, any refused API key with one body for every reason; 401 invalid_signature +
 * Accept-Signature for any refused signed request or body), 503 when the issuer's keys cannot
 * be had or the worker's replay memory is full, 503 introspection_unavailable when no
 * introspection endpoint could answer. One audit line per decision when `log.audit` is on, with
 * the reason.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750 Bearer tokens
 * @see https://www.rfc-editor.org/rfc/rfc8725 JWT Best Current Practices
 * @see https://www.rfc-editor.org/rfc/rfc7662 OAuth 2.0 Token Introspection
 * @see https://www.rfc-editor.org/rfc/rfc9421 HTTP Message Signatures
 * @see https://www.rfc-editor.org/rfc/rfc8705 mutual TLS, certificate-bound tokens
 */
import { performance } from 'node:perf_hooks'
import { Type, type Static, type TObject } from '@sinclair/typebox'
import type { Logger } from 'pino'
import type { Consumer } from '../../consumers/consumer.js'
import type { CredentialDirectory } from '../../consumers/directory.js'
import { REJECT, type Rejection } from '../../errors.js'
import { isGatewayOwned } from '../../http/field-names.js'
import { parseDuration } from '../../config/units.js'
import type { SignatureMemory } from '../../hmac/replay.js'
import { serializeString } from '../../hmac/structured-fields.js'
import type { Introspector } from '../../introspection/introspector.js'
import type { CompiledIssuer } from '../../jwt/issuer.js'
import type { AuthMeter, AuthMethodMeter } from '../../observability/metrics/meter.js'
import {
  routeProduct,
  type RouteSite,
  type Stage,
  type StageDefinition,
  type StageExchange,
  type Verdict,
} from '../../pipeline/stage.js'
import { ApiKeyAuthenticator, type KeyServices } from './api-key.js'
import { ApiKeyMethod } from './api-key-method.js'
import { BearerSplit } from './bearer-split.js'
import {
  apiKeyScheme,
  bearerScheme,
  challengesFor,
  signatureScheme,
  type AuthScheme,
  MTLS_SCHEME,
  type Challenges,
} from './challenge.js'
import { CredentialProblem, type KeySources, type TokenSources } from './credentials.js'
import { SignatureVerifier, type SignaturePolicy } from './hmac.js'
import { HmacMethod } from './hmac-method.js'
import { JwtAuthenticator } from './jwt.js'
import type { JwtContext } from './jwt-context.js'
import { JwtMethod } from './jwt-method.js'
import { compileIntrospection, IntrospectionMethod } from './introspection-method.js'
import type { AuthMode, CredentialMethod } from './method.js'
import { MtlsMethod } from './mtls-method.js'
import {
  AuthSchema,
  RouteApiKeySchema,
  RouteHmacSchema,
  RouteIntrospectionSchema,
  RouteJwtSchema,
  RouteMtlsSchema,
  type AuthMethodName,
  type RouteHmacConfig,
} from './schema.js'

/** The metrics reason of a request without one usable credential, by CredentialProblem. */
const REFUSALS: Readonly<Record<CredentialProblem, string>> = {
  [CredentialProblem.Missing]: 'no_credential',
  [CredentialProblem.Multiple]: 'multiple_credentials',
  [CredentialProblem.Malformed]: 'malformed_credential',
}

/**
 * The consumer's `ip:` rules, once a method named it: deny wins, then a non-empty allow list
 * (consumers/address-rules.ts). 403 forbidden, as the route's own IP rules answer.
 */
function consumerAddressVerdict(exchange: StageExchange): Verdict {
  const rules = exchange.consumer?.addresses ?? null
  if (rules === null || rules.admits(exchange.clientAddress)) return undefined
  exchange.identity = null
  exchange.consumer = null
  exchange.authRefusal = 'address_not_allowed'
  return REJECT.addressRefused
}

/** The route keys this stage owns. */
const ROUTE_KEYS = {
  auth: AuthSchema,
  jwt: Type.Optional(RouteJwtSchema),
  api_key: Type.Optional(RouteApiKeySchema),
  hmac: Type.Optional(RouteHmacSchema),
  introspection: Type.Optional(RouteIntrospectionSchema),
  mtls: Type.Optional(RouteMtlsSchema),
}
export type AuthenticateConfig = Static<TObject<typeof ROUTE_KEYS>>

/** The shared services the stage asks for. */
export interface AuthenticateDeps extends KeyServices {
  /** The generation's compiled issuers, by name. */
  readonly issuers: ReadonlyMap<string, CompiledIssuer>
  /** The generation's introspectors, by name. */
  readonly introspectors: ReadonlyMap<string, Introspector>
  /** Token caches, verify pool and verifications in flight of the worker. */
  readonly jwt: JwtContext
  readonly logger: Logger
  /** `log.audit`: one line per decision. */
  readonly audit: boolean
  /** Consumers and keys of the worker (config and store). */
  readonly credentials: CredentialDirectory
  /** The signatures the worker accepted, to refuse replays (hmac). */
  readonly signatures: SignatureMemory
  /** The worker's decision counters for /metrics; none in tools that only compile. */
  readonly authMeter?: AuthMeter | undefined
  /** Where audit lines go (observability/audit-log.ts); `logger` when absent. */
  readonly auditLog?: Logger | undefined
  /** `tracing:` is configured: decisions are timed onto the exchange for the auth span. */
  readonly traced?: boolean | undefined
}

/** What authentication compiled for a route, for the stages compiled after it. */
export interface Authentication {
  /** `auth: none`. */
  readonly isPublic: boolean
  /** null on a public route, and where the route's auth did not compile (a problem says why). */
  readonly stage: AuthenticateStage | null
}

export const AUTHENTICATION = routeProduct<Authentication>('authentication')

export const authenticate: StageDefinition<typeof ROUTE_KEYS, AuthenticateDeps> = {
  name: 'authenticate',
  schema: ROUTE_KEYS,
  compile(config, route, deps) {
    const stage = compileAuthenticate(config, route, deps)
    route.provide(AUTHENTICATION, { isPublic: config.auth === 'none', stage })
    return stage
  },
}

/** Where a route with auth api_key and no `api_key:` reads the key (the schema's defaults). */
const DEFAULT_KEY_SOURCES: KeySources = { header: 'x-api-key', authorization: false, query: null }
const DEFAULT_REALM = 'portcullis'

/** The route keys that configure one method each: present only when `auth` names the method. */
const METHOD_KEYS = ['jwt', 'api_key', 'hmac', 'introspection', 'mtls'] as const

/** Compiles the authenticate stage of a route, or null for a public route. */
export function compileAuthenticate(
  route: AuthenticateConfig,
  site: RouteSite,
  deps: AuthenticateDeps,
): AuthenticateStage | null {
  const { path, problems } = site
  const auth = route.auth
  if (auth === 'none') {
    for (const key of METHOD_KEYS) {
      if (route[key] !== undefined) {
        problems.push({
          path: `${path}.${key}`,
          reason: `the route is public (auth: none); ${key} needs auth: ${key}`,
        })
      }
    }
    return null
  }
  const [mode, names]: [AuthMode, readonly AuthMethodName[]] =
    typeof auth === 'string'
      ? ['one', [auth]]
      : 'any' in auth
        ? ['any', auth.any]
        : ['all', auth.all]
  const before = problems.length
  if (names.includes('jwt') && route.jwt === undefined) {
    problems.push({
      path: `${path}.jwt`,
      reason: 'auth names jwt: say which issuers this route trusts (jwt: { issuers: [...] })',
    })
  }
  if (names.includes('introspection') && route.introspection === undefined) {
    problems.push({
      path: `${path}.introspection`,
      reason: 'auth names introspection: say which introspectors judge the token',
    })
  }
  if (mode === 'all' && names.includes('jwt') && names.includes('introspection')) {
    problems.push({
      path: `${path}.auth`,
      reason: 'jwt and introspection take the same bearer token; combine them with any',
    })
  }
  for (const key of METHOD_KEYS) {
    if (!names.includes(key) && route[key] !== undefined) {
      problems.push({
        path: `${path}.${key}`,
        reason: `auth does not name ${key}, so ${key} would not apply; add it to auth or remove it`,
      })
    }
  }
  const keySources = names.includes('api_key') ? keySourcesOf(route, path, problems) : null
  if (problems.length > before) return null
  const jwt = route.jwt
  if (jwt?.query !== undefined && keySources !== null && jwt.query === keySources.query) {
    problems.push({
      path: `${path}.api_key.query`,
      reason: `jwt.query reads the same parameter (${jwt.query}); give each method its own`,
    })
    return null
  }
  const hmac = names.includes('hmac') ? hmacPolicyOf(route.hmac, path, problems) : null
  if (problems.length > before) return null
  const schemes = names.map((name): AuthScheme =>
    name === 'jwt'
      ? bearerScheme(jwt!.realm)
      : name === 'introspection'
        ? bearerScheme(route.introspection!.realm)
        : name === 'hmac'
          ? signatureScheme(hmac!.realm, acceptSignature(hmac!.policy))
          : name === 'mtls'
            ? MTLS_SCHEME
            : apiKeyScheme(route.api_key?.realm ?? DEFAULT_REALM),
  )
  const challenges = challengesFor(schemes)
  // Audit lines are info lines: below that level they would be built only to be dropped.
  const auditLog = deps.auditLog ?? deps.logger
  const audit = deps.audit && auditLog.isLevelEnabled('info') ? auditLog : null
  const methods: CredentialMethod[] = []
  let namesConsumers = false
  const split =
    names.includes('introspection') && jwt !== undefined ? bearerSplit(jwt.issuers, deps) : null
  for (const name of names) {
    if (name === 'jwt') {
      const issuers: CompiledIssuer[] = []
      for (const issuerName of jwt!.issuers) {
        // Missing: an unknown name (config/references.ts reports it) or an invalid issuer
        // (reported under issuers[]).
        const issuer = deps.issuers.get(issuerName)
        if (issuer !== undefined) issuers.push(issuer)
      }
      if (issuers.length !== jwt!.issuers.length) return null
      const sources = {
        header: jwt!.header,
        cookie: jwt!.cookie ?? null,
        query: jwt!.query ?? null,
      }
      const authenticator = new JwtAuthenticator(issuers, deps.jwt)
      const bound = jwt!.require_bound_tokens === true
      methods.push(
        new JwtMethod(
          site.name,
          sources,
          authenticator,
          deps.credentials,
          challenges,
          audit,
          split,
          bound,
        ),
      )
      namesConsumers ||= issuers.some((issuer) => issuer.consumerClaim !== null)
    } else if (name === 'hmac') {
      const verifier = new SignatureVerifier(deps.credentials, deps.signatures, hmac!.policy)
      methods.push(
        new HmacMethod(site.name, verifier, hmac!.policy.contentDigest, challenges, audit),
      )
      namesConsumers = true
    } else if (name === 'introspection') {
      const config = route.introspection!
      const jwtSources =
        jwt === undefined
          ? null
          : { header: jwt.header, cookie: jwt.cookie ?? null, query: jwt.query ?? null }
      const method = compileIntrospection(
        site.name,
        config.introspectors,
        config.realm,
        deps.introspectors,
        jwtSources,
        split,
        deps.credentials,
        challenges,
        audit,
      )
      if (method === null) return null
      methods.push(method)
      namesConsumers ||= method.namesConsumers
    } else if (name === 'mtls') {
      const allowUnmapped = route.mtls?.allow_unmapped ?? false
      methods.push(new MtlsMethod(site.name, deps.credentials, allowUnmapped, challenges, audit))
      namesConsumers = true
    } else {
      const keys = new ApiKeyAuthenticator(deps)
      methods.push(new ApiKeyMethod(site.name, keySources!, keys, challenges, audit))
      namesConsumers = true
    }
  }
  return new AuthenticateStage(
    site.name,
    methods,
    mode,
    namesConsumers,
    challenges,
    audit,
    deps.authMeter ?? null,
    deps.traced ?? false,
  )
}

/** Which bearer tokens are JWTs of the route's issuers, beside introspection. */
function bearerSplit(names: readonly string[], deps: AuthenticateDeps): BearerSplit {
  const issuers = names.flatMap((name) => deps.issuers.get(name) ?? [])
  return new BearerSplit(
    new Set(issuers.map((issuer) => issuer.iss)),
    Math.max(0, ...issuers.map((issuer) => issuer.maxTokenBytes)),
  )
}

function keySourcesOf(
  route: AuthenticateConfig,
  path: string,
  problems: ConfigProblemList,
): KeySources | null {
  const config = route.api_key
  if (config === undefined) return DEFAULT_KEY_SOURCES
  const header = config.header.toLowerCase()
  if (isGatewayOwned(header) || header === 'authorization' || header === 'cookie') {
    problems.push({
      path: `${path}.api_key.header`,
      reason:
        header === 'authorization'
          ? 'use api_key.authorization: true to read Authorization: ApiKey <key>'
          : `${config.header} is a header the gateway sets or reads itself; choose another name`,
    })
    return null
  }
  return { header, authorization: config.authorization, query: config.query ?? null }
}

type ConfigProblemList = RouteSite['problems']

/** The defaults of RouteHmacSchema, for a route with auth hmac and no `hmac:`. */
const DEFAULT_HMAC: RouteHmacConfig = {
  components: ['@method', '@target-uri'],
  content_digest: true,
  max_age: '300s',
  replay: true,
  clock_skew: '5s',
  realm: DEFAULT_REALM,
}

function hmacPolicyOf(
  config: RouteHmacConfig = DEFAULT_HMAC,
  path: string,
  problems: ConfigProblemList,
): { policy: SignaturePolicy; realm: string } | null {
  const maxAgeSeconds = Math.floor(parseDuration(config.max_age) / 1000)
  if (maxAgeSeconds < 1) {
    problems.push({
      path: `${path}.hmac.max_age`,
      reason: `must be at least 1s: created is counted in seconds (got "${config.max_age}")`,
    })
    return null
  }
  if (config.components.includes('content-digest') && !config.content_digest) {
    problems.push({
      path: `${path}.hmac.components`,
      reason:
        'requires content-digest, which content_digest: false would not check against the body',
    })
    return null
  }
  const policy: SignaturePolicy = {
    components: config.components,
    contentDigest: config.content_digest,
    maxAgeSeconds,
    replay: config.replay,
    clockSkewSeconds: Math.floor(parseDuration(config.clock_skew) / 1000),
  }
  return { policy, realm: config.realm }
}

/**
 * RFC 9421 §5.1 Accept-Signature: the components the route requires (content-digest listed
 * when the route checks bodies, though only a request with a body must cover it), `created`
 * and the algorithm.
 */
function acceptSignature(policy: SignaturePolicy): string {
  const components = policy.contentDigest
    ? [...policy.components.filter((c) => c !== 'content-digest'), 'content-digest']
    : policy.components
  return `sig=(${components.map(serializeString).join(' ')});created;alg="hmac-sha256"`
}

/** The verdict of the first method that refuses the body. */
function checkBodies(
  readers: readonly CredentialMethod[],
  exchange: StageExchange,
  body: Buffer,
): Verdict {
  for (const method of readers) {
    const verdict = method.onBody!(exchange, body)
    if (verdict !== undefined) return verdict
  }
  return undefined
}

export class AuthenticateStage implements Stage {
  readonly name = 'authenticate'
  readonly onResponse = null
  readonly onFinish = null
  /** Set only when a method reads the body: other routes stream theirs (Stage.onBody). */
  readonly onBody: ((exchange: StageExchange, body: Buffer) => Verdict) | null
  /** Where the route reads a bearer token; null when it takes no JWT. */
  readonly sources: TokenSources | null
  /** Where the route reads an API key; null when it takes none. */
  readonly keySources: KeySources | null
  /** Whether an identity of this route can name a consumer (a key; a JWT by consumer_claim). */
  readonly namesConsumers: boolean
  readonly challenges: Challenges
  readonly #route: string
  readonly #methods: readonly CredentialMethod[]
  readonly #mode: AuthMode
  readonly #audit: Logger | null
  /**
   * The meter of a refusal: the route's only method, or `any`/`all`; null when metrics are off.
   * Resolved here so that counting looks nothing up.
   */
  readonly #refusals: AuthMethodMeter | null
  /** The meters of admissions, one per method in `#methods` order. */
  readonly #admissions: readonly AuthMethodMeter[]
  /** Decisions are timed (metrics or tracing); else onRequest is the bare decision. */
  readonly #timed: boolean
  /** The method label of a refusal: the route's only method, or `any`/`all`. */
  readonly #label: string

  constructor(
    route: string,
    methods: readonly CredentialMethod[],
    mode: AuthMode,
    namesConsumers: boolean,
    challenges: Challenges,
    audit: Logger | null,
    meter: AuthMeter | null = null,
    traced = false,
  ) {
    this.#route = route
    this.#methods = methods
    this.#mode = mode
    this.#label = mode === 'one' ? methods[0]!.name : mode
    this.#refusals = meter?.method(this.#label) ?? null
    this.#admissions = meter === null ? [] : methods.map((method) => meter.method(method.name))
    this.#timed = meter !== null || traced
    this.namesConsumers = namesConsumers
    this.challenges = challenges
    this.#audit = audit
    let sources: TokenSources | null = null
    let keySources: KeySources | null = null
    for (const method of methods) {
      if (method instanceof JwtMethod) sources = method.sources
      else if (method instanceof IntrospectionMethod) sources ??= method.sources
      else if (method instanceof ApiKeyMethod) keySources = method.sources
    }
    this.sources = sources
    this.keySources = keySources
    const readers = methods.filter((method) => method.onBody !== undefined)
    this.onBody =
      readers.length === 0
        ? null
        : readers.length === 1
          ? readers[0]!.onBody!.bind(readers[0]!)
          : (exchange, body) => checkBodies(readers, exchange, body)
  }

  onRequest(exchange: StageExchange): Verdict | Promise<Verdict> {
    if (!this.#timed) return this.#admit(exchange)
    const started = performance.now()
    const verdict = this.#admit(exchange)
    if (verdict instanceof Promise) return verdict.then((v) => this.#count(exchange, v, started))
    return this.#count(exchange, verdict, started)
  }

  /**
   * Notes a decision on the exchange (the auth span) and counts it: admitted by the identity's
   * method, refused by the method's reason.
   */
  #count(exchange: StageExchange, verdict: Verdict, started: number): Verdict {
    const ended = performance.now()
    const seconds = (ended - started) / 1000
    exchange.authStartedAt = started
    exchange.authEndedAt = ended
    if (verdict === undefined) {
      const method = exchange.identity?.method
      exchange.authMethod = method ?? this.#label
      exchange.authOutcome = 'ok'
      if (this.#refusals !== null) this.#admittedBy(method)!.admit(seconds)
    } else {
      const reason = exchange.authRefusal || verdict.code
      exchange.authMethod = this.#label
      exchange.authOutcome = reason
      this.#refusals?.refuse(reason, seconds)
    }
    return verdict
  }

  /** The meter of the method that admitted: under `all` the last one, whose identity stands. */
  #admittedBy(method: string | undefined): AuthMethodMeter | undefined {
    const methods = this.#methods
    for (let i = 0; i < methods.length; i++)
      if (methods[i]!.name === method) return this.#admissions[i]
    return this.#admissions[methods.length - 1]
  }

  /** The methods' verdict, then the consumer's `ip:` rules once a method named one. */
  #admit(exchange: StageExchange): Verdict | Promise<Verdict> {
    const verdict = this.#decide(exchange)
    if (!this.namesConsumers) return verdict
    return verdict instanceof Promise
      ? verdict.then((v) => v ?? consumerAddressVerdict(exchange))
      : (verdict ?? consumerAddressVerdict(exchange))
  }

  #decide(exchange: StageExchange): Verdict | Promise<Verdict> {
    if (this.#mode === 'one') {
      const method = this.#methods[0]!
      const credential = method.find(exchange)
      return typeof credential === 'string'
        ? method.check(exchange, credential)
        : this.#refuse(exchange, credential, method.name)
    }
    return this.#mode === 'any' ? this.#checkAny(exchange) : this.#checkAll(exchange)
  }

  /**
   * The method whose credential the request carries decides. A request carrying two (or one and
   * a broken Authorization field) is refused: which one would count is a guess. A connection's
   * credential (ambient) decides only when the request carries none.
   */
  #checkAny(exchange: StageExchange): Verdict | Promise<Verdict> {
    let chosen: CredentialMethod | null = null
    let found: string | CredentialProblem = CredentialProblem.Missing
    let ambient: CredentialMethod | null = null
    let ambientFound = ''
    for (const method of this.#methods) {
      const credential = method.find(exchange)
      if (credential === CredentialProblem.Missing) continue
      if (method.ambient) {
        if (typeof credential === 'string' && ambient === null) {
          ambient = method
          ambientFound = credential
        }
        continue
      }
      if (chosen !== null) return this.#refuse(exchange, CredentialProblem.Multiple, 'any')
      chosen = method
      found = credential
    }
    if (chosen === null) {
      return ambient === null
        ? this.#refuse(exchange, CredentialProblem.Missing, 'any')
        : ambient.check(exchange, ambientFound)
    }
    return typeof found === 'string'
      ? chosen.check(exchange, found)
      : this.#refuse(exchange, found, chosen.name)
  }

  /** Every method must find and admit its credential, in the order `all` names them. */
  #checkAll(exchange: StageExchange): Verdict | Promise<Verdict> {
    const methods = this.#methods
    const credentials: string[] = []
    for (const method of methods) {
      const credential = method.find(exchange)
      if (typeof credential !== 'string') return this.#refuse(exchange, credential, method.name)
      credentials.push(credential)
    }
    return this.#continueAll(exchange, credentials, 0, null)
  }

  /**
   * Checks methods `from` on; `agreed` is the consumer the methods before named. Methods that
   * name consumers must name the same one; the last method's identity stands.
   */
  #continueAll(
    exchange: StageExchange,
    credentials: readonly string[],
    from: number,
    agreed: Consumer | null,
  ): Verdict | Promise<Verdict> {
    const methods = this.#methods
    for (let i = from; i < methods.length; i++) {
      const verdict = methods[i]!.check(exchange, credentials[i]!)
      if (verdict instanceof Promise) {
        return verdict.then((v) =>
          v !== undefined ? v : this.#agree(exchange, credentials, i, agreed),
        )
      }
      if (verdict !== undefined) return verdict
      const consumer = exchange.consumer
      if (agreed !== null && consumer !== null && consumer.name !== agreed.name) {
        return this.#conflict(exchange)
      }
      if (consumer === null) exchange.consumer = agreed
      agreed = exchange.consumer
    }
    return undefined
  }

  #agree(
    exchange: StageExchange,
    credentials: readonly string[],
    at: number,
    agreed: Consumer | null,
  ): Verdict | Promise<Verdict> {
    const consumer = exchange.consumer
    if (agreed !== null && consumer !== null && consumer.name !== agreed.name) {
      return this.#conflict(exchange)
    }
    if (consumer === null) exchange.consumer = agreed
    return this.#continueAll(exchange, credentials, at + 1, exchange.consumer)
  }

  #conflict(exchange: StageExchange): Rejection {
    exchange.identity = null
    exchange.consumer = null
    exchange.authRefusal = 'consumer_mismatch'
    if (this.#audit !== null) {
      this.#audit.info(
        {
          audit: 'authenticate',
          route: this.#route,
          request_id: exchange.requestId,
          method: 'all',
          outcome: 'deny',
          reason: 'consumer_mismatch',
        },
        'auth decision',
      )
    }
    return this.challenges.consumerMismatch
  }

  #refuse(exchange: StageExchange, problem: CredentialProblem, method: string): Rejection {
    const rejection =
      problem === CredentialProblem.Missing
        ? this.challenges.missing
        : problem === CredentialProblem.Multiple
          ? this.challenges.multiple
          : this.challenges.malformed
    exchange.authRefusal = REFUSALS[problem]
    if (this.#audit !== null) this.#auditNoCredential(exchange, rejection, method)
    return rejection
  }

  #auditNoCredential(exchange: StageExchange, rejection: Rejection, method: string): void {
    this.#audit!.info(
      {
        audit: 'authenticate',
        route: this.#route,
        request_id: exchange.requestId,
        method,
        outcome: 'deny',
        reason: rejection.status === 401 ? 'no_credential' : 'invalid_request',
      },
      'auth decision',
    )
  }
}
