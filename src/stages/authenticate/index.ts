/**
 * authenticate — who is calling. Finds the route's credential — a bearer JWT (Authorization
 * header, or a configured cookie or query parameter), an API key (its header, optionally
 * `Authorization: ApiKey`, a named query parameter) — checks it, and fills `exchange.identity`
 * and, where the credential names a known consumer, `exchange.consumer`. On an `any:` route the
 * method whose credential the request carries decides; a request carrying two is refused, never
 * guessed. Synchronous for a key and for a cached or inline-verified token; a promise only when a
 * signature goes to the verify pool or an unknown kid waits for a JWKS refresh.
 *
 * The consumer is looked up by name on every request (a map probe), never frozen into a cached
 * token's decision: a consumer disabled or changed after a token was cached is seen at once.
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
import type { JwtFailure } from '../../jwt/types.js'
import {
  routeProduct,
  type RouteSite,
  type Stage,
  type StageDefinition,
  type StageExchange,
  type Verdict,
} from '../../pipeline/stage.js'
import { ApiKeyAuthenticator, keyIdentity, type KeyRefusal, type KeyServices } from './api-key.js'
import { challengesFor, type Challenges } from './challenge.js'
import {
  CredentialProblem,
  findApiKey,
  findToken,
  type KeySources,
  type TokenSources,
} from './credentials.js'
import { JwtAuthenticator } from './jwt.js'
import type { JwtContext, TokenVerdict } from './jwt-context.js'
import { AuthSchema, RouteApiKeySchema, RouteJwtSchema } from './schema.js'

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

/** Compiles the authenticate stage of a route, or null for a public route. */
export function compileAuthenticate(
  route: AuthenticateConfig,
  site: RouteSite,
  deps: AuthenticateDeps,
): AuthenticateStage | null {
  const { path, problems } = site
  const auth = route.auth
  if (auth === 'none') {
    for (const key of ['jwt', 'api_key'] as const) {
      if (route[key] !== undefined) {
        problems.push({
          path: `${path}.${key}`,
          reason: `the route is public (auth: none); ${key} needs auth: ${key}`,
        })
      }
    }
    return null
  }
  const methods: readonly string[] = typeof auth === 'string' ? [auth] : auth.any
  const before = problems.length
  if (methods.includes('jwt') && route.jwt === undefined) {
    problems.push({
      path: `${path}.jwt`,
      reason: 'auth names jwt: say which issuers this route trusts (jwt: { issuers: [...] })',
    })
  }
  for (const key of ['jwt', 'api_key'] as const) {
    if (!methods.includes(key) && route[key] !== undefined) {
      problems.push({
        path: `${path}.${key}`,
        reason: `auth does not name ${key}, so ${key} would not apply; add it to auth or remove it`,
      })
    }
  }
  const keySources = methods.includes('api_key') ? keySourcesOf(route, path, problems) : null
  if (problems.length > before) return null
  let authenticator: JwtAuthenticator | null = null
  let sources: TokenSources | null = null
  const jwt = route.jwt
  if (jwt !== undefined) {
    const issuers: CompiledIssuer[] = []
    for (const name of jwt.issuers) {
      // Missing: an unknown name (config/references.ts reports it) or an invalid issuer (reported
      // under issuers[]).
      const issuer = deps.issuers.get(name)
      if (issuer !== undefined) issuers.push(issuer)
    }
    if (issuers.length !== jwt.issuers.length) return null
    authenticator = new JwtAuthenticator(issuers, deps.jwt)
    sources = { header: jwt.header, cookie: jwt.cookie ?? null, query: jwt.query ?? null }
    if (keySources !== null && sources.query !== null && sources.query === keySources.query) {
      problems.push({
        path: `${path}.api_key.query`,
        reason: `jwt.query reads the same parameter (${sources.query}); give each method its own`,
      })
      return null
    }
  }
  return new AuthenticateStage(
    site.name,
    sources,
    authenticator,
    keySources !== null ||
      (jwt !== undefined && jwt.issuers.some((n) => deps.issuers.get(n)!.consumerClaim !== null)),
    keySources,
    keySources === null ? null : new ApiKeyAuthenticator(deps),
    challengesFor(
      jwt === undefined ? null : jwt.realm,
      keySources === null ? null : (route.api_key?.realm ?? DEFAULT_REALM),
    ),
    deps.credentials,
    // Audit lines are info lines: below that level they would be built only to be dropped.
    deps.audit && deps.logger.isLevelEnabled('info') ? deps.logger : null,
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
  readonly #jwt: JwtAuthenticator | null
  readonly #keys: ApiKeyAuthenticator | null
  readonly #credentials: CredentialDirectory
  readonly #audit: Logger | null

  constructor(
    route: string,
    sources: TokenSources | null,
    jwt: JwtAuthenticator | null,
    namesConsumers: boolean,
    keySources: KeySources | null,
    keys: ApiKeyAuthenticator | null,
    challenges: Challenges,
    credentials: CredentialDirectory,
    audit: Logger | null,
  ) {
    this.#route = route
    this.sources = sources
    this.#jwt = jwt
    this.namesConsumers = namesConsumers
    this.keySources = keySources
    this.#keys = keys
    this.challenges = challenges
    this.#credentials = credentials
    this.#audit = audit
  }

  onRequest(exchange: StageExchange): Verdict | Promise<Verdict> {
    const keySources = this.keySources
    if (keySources === null) return this.#onToken(exchange, findToken(exchange, this.sources!))
    const key = findApiKey(exchange, keySources)
    if (this.sources === null) {
      return typeof key === 'string'
        ? this.#onKey(exchange, key)
        : this.#refuse(exchange, key, 'api_key')
    }
    // auth: { any: [...] }: the method whose credential the request carries decides.
    const token = findToken(exchange, this.sources)
    if (key === CredentialProblem.Missing) return this.#onToken(exchange, token)
    if (typeof key !== 'string') return this.#refuse(exchange, key, 'api_key')
    if (token === CredentialProblem.Missing) return this.#onKey(exchange, key)
    // A key and a token (or a broken Authorization field): which one counts would be a guess.
    return this.#refuse(exchange, CredentialProblem.Multiple, 'any')
  }

  #onToken(exchange: StageExchange, token: string | CredentialProblem): Verdict | Promise<Verdict> {
    if (typeof token !== 'string') return this.#refuse(exchange, token, 'jwt')
    const started = this.#audit === null ? 0 : performance.now()
    const verdict = this.#jwt!.verify(token)
    if (verdict instanceof Promise) {
      return verdict.then((v) => this.#decide(exchange, v, token, started))
    }
    return this.#decide(exchange, verdict, token, started)
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

  #onKey(exchange: StageExchange, key: string): Verdict {
    const keys = this.#keys!
    const refusal = keys.check(key, exchange.clientAddress, Date.now())
    if (this.#audit !== null) this.#auditKey(exchange, keys, refusal, key)
    if (refusal !== null) return this.challenges.invalidKey
    exchange.identity = keyIdentity(keys.entry!)
    exchange.consumer = keys.consumer
    return undefined
  }

  #decide(exchange: StageExchange, verdict: TokenVerdict, token: string, started: number): Verdict {
    let identity = verdict.identity
    let failure: JwtFailure | null = verdict.failure
    let consumer: Consumer | null = null
    // issuers[].consumer_claim: the consumer of the moment, whatever it was when the token was
    // cached. Unknown: the token keeps its issuer+subject identity; disabled: refused.
    if (identity !== null && identity.consumer !== null) {
      const found = this.#credentials.consumer(identity.consumer)
      if (found === undefined) identity = verdict.unmapped
      else if (found.disabled) {
        identity = null
        failure = 'consumer_disabled'
      } else consumer = found
    }
    if (this.#audit !== null) {
      this.#auditVerdict(exchange, verdict, identity, failure, token, started)
    }
    if (identity !== null) {
      exchange.identity = identity
      exchange.consumer = consumer
      return undefined
    }
    if (failure === 'keys_unavailable') return this.challenges.unavailable
    return this.challenges.invalid(failure!)
  }

  #auditVerdict(
    exchange: StageExchange,
    verdict: TokenVerdict,
    identity: TokenVerdict['identity'],
    failure: JwtFailure | null,
    token: string,
    started: number,
  ): void {
    this.#audit!.info(
      {
        audit: 'authenticate',
        route: this.#route,
        request_id: exchange.requestId,
        method: 'jwt',
        issuer: verdict.issuer?.name ?? null,
        sub: verdict.identity?.subject ?? null,
        consumer: identity?.consumer ?? null,
        kid: verdict.kid,
        outcome: identity !== null ? 'allow' : 'deny',
        reason: failure,
        // This decision's cost: a hash and a probe for a cached token, the signature otherwise.
        verify_us: Math.round((performance.now() - started) * 1000),
        // Never the token: its first 8 characters at most (docs/architecture.md).
        token: token.slice(0, 8),
      },
      'auth decision',
    )
  }

  #auditKey(
    exchange: StageExchange,
    keys: ApiKeyAuthenticator,
    refusal: KeyRefusal | null,
    key: string,
  ): void {
    const entry = keys.entry
    this.#audit!.info(
      {
        audit: 'authenticate',
        route: this.#route,
        request_id: exchange.requestId,
        method: 'api_key',
        key_id: entry?.id ?? null,
        consumer: entry?.consumer ?? null,
        client: exchange.clientAddress,
        outcome: refusal === null ? 'allow' : 'deny',
        reason: refusal,
        // Never the key: its first 8 characters at most, the prefix of a well-formed one.
        key: key.slice(0, 8),
      },
      'auth decision',
    )
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
