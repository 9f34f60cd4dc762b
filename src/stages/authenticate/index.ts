/**
 * authenticate — who is calling. Finds the route's credential — a bearer JWT (Authorization
 * header, or a configured cookie or query parameter), an API key (its header, optionally
 * `Authorization: ApiKey`, a named query parameter) — checks it, and fills `exchange.identity`
 * and, where the credential names a known consumer, `exchange.consumer`. Each method is a
 * {@link CredentialMethod} (method.ts; jwt-method.ts, api-key-method.ts). On an `any:` route the
 * method whose credential the request carries decides; a request carrying two is refused, never
 * guessed. On an `all:` route every method must admit its credential, and those that name a
 * consumer must name the same one. Synchronous for a key and for a cached or inline-verified
 * token; a promise only when a signature goes to the verify pool or an unknown kid waits for a
 * JWKS refresh.
 *
 * Reads: headers, query, clientAddress. Writes: identity, consumer. Answers: 400 invalid_request
 * (several credentials, a malformed Authorization field), 401 + WWW-Authenticate (no credential,
 * invalid token, any refused API key with one body for every reason), 503 when the issuer's keys
 * cannot be had. One audit line per decision when `log.audit` is on, with the reason.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750 Bearer tokens
 * @see https://www.rfc-editor.org/rfc/rfc8725 JWT Best Current Practices
 */
import { performance } from 'node:perf_hooks'
import { Type, type Static, type TObject } from '@sinclair/typebox'
import type { Logger } from 'pino'
import type { Consumer } from '../../consumers/consumer.js'
import type { CredentialDirectory } from '../../consumers/directory.js'
import type { Rejection } from '../../errors.js'
import { isGatewayOwned } from '../../http/field-names.js'
import type { CompiledIssuer } from '../../jwt/issuer.js'
import type { AuthMeter } from '../../observability/metrics/meter.js'
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
import { apiKeyScheme, bearerScheme, challengesFor, type Challenges } from './challenge.js'
import { CredentialProblem, type KeySources, type TokenSources } from './credentials.js'
import { JwtAuthenticator } from './jwt.js'
import type { JwtContext } from './jwt-context.js'
import { JwtMethod } from './jwt-method.js'
import type { AuthMode, CredentialMethod } from './method.js'
import { AuthSchema, RouteApiKeySchema, RouteJwtSchema, type AuthMethodName } from './schema.js'

/** The route keys this stage owns. */
const ROUTE_KEYS = {
  auth: AuthSchema,
  jwt: Type.Optional(RouteJwtSchema),
  api_key: Type.Optional(RouteApiKeySchema),
}
export type AuthenticateConfig = Static<TObject<typeof ROUTE_KEYS>>

/** The shared services the stage asks for. */
export interface AuthenticateDeps extends KeyServices {
  /** The generation's compiled issuers, by name. */
  readonly issuers: ReadonlyMap<string, CompiledIssuer>
  /** Token caches, verify pool and verifications in flight of the worker. */
  readonly jwt: JwtContext
  readonly logger: Logger
  /** `log.audit`: one line per decision. */
  readonly audit: boolean
  /** Consumers and keys of the worker (config and store). */
  readonly credentials: CredentialDirectory
  /** The worker's decision counters for /metrics; none in tools that only compile. */
  readonly authMeter?: AuthMeter | undefined
  /** Where audit lines go (observability/audit-log.ts); `logger` when absent. */
  readonly auditLog?: Logger | undefined
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
const METHOD_KEYS = ['jwt', 'api_key'] as const

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
  const schemes = names.map((name) =>
    name === 'jwt' ? bearerScheme(jwt!.realm) : apiKeyScheme(route.api_key?.realm ?? DEFAULT_REALM),
  )
  const challenges = challengesFor(schemes)
  // Audit lines are info lines: below that level they would be built only to be dropped.
  const auditLog = deps.auditLog ?? deps.logger
  const audit = deps.audit && auditLog.isLevelEnabled('info') ? auditLog : null
  const methods: CredentialMethod[] = []
  let namesConsumers = false
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
      methods.push(
        new JwtMethod(site.name, sources, authenticator, deps.credentials, challenges, audit),
      )
      namesConsumers ||= issuers.some((issuer) => issuer.consumerClaim !== null)
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

export class AuthenticateStage implements Stage {
  readonly name = 'authenticate'
  readonly onResponse = null
  readonly onFinish = null
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
  readonly #meter: AuthMeter | null
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
  ) {
    this.#route = route
    this.#methods = methods
    this.#mode = mode
    this.#meter = meter
    this.#label = mode === 'one' ? methods[0]!.name : mode
    this.namesConsumers = namesConsumers
    this.challenges = challenges
    this.#audit = audit
    let sources: TokenSources | null = null
    let keySources: KeySources | null = null
    for (const method of methods) {
      if (method instanceof JwtMethod) sources = method.sources
      else if (method instanceof ApiKeyMethod) keySources = method.sources
    }
    this.sources = sources
    this.keySources = keySources
  }

  onRequest(exchange: StageExchange): Verdict | Promise<Verdict> {
    if (this.#meter === null) return this.#decide(exchange)
    const started = performance.now()
    const verdict = this.#decide(exchange)
    if (verdict instanceof Promise) return verdict.then((v) => this.#count(exchange, v, started))
    return this.#count(exchange, verdict, started)
  }

  /** Counts a decision: admitted by the identity's method, refused by the wire code. */
  #count(exchange: StageExchange, verdict: Verdict, started: number): Verdict {
    const seconds = (performance.now() - started) / 1000
    if (verdict === undefined)
      this.#meter!.record(exchange.identity?.method ?? this.#label, 'ok', seconds)
    else this.#meter!.record(this.#label, verdict.code, seconds)
    return verdict
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
