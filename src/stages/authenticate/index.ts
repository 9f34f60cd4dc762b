/**
 * authenticate — who is calling. Finds the route's credential (today: a bearer JWT from the
 * Authorization header, or a configured cookie or query parameter), verifies it, and fills
 * `exchange.identity`. Synchronous for a cached or inline-verified token; a promise only when a
 * signature goes to the verify pool or an unknown kid waits for a JWKS refresh.
 *
 * Reads: headers, query. Writes: identity. Answers: 400 invalid_request (several credentials,
 * a malformed Authorization field), 401 + WWW-Authenticate (no token, invalid token), 503 when the
 * issuer's keys cannot be had. One audit line per decision when `log.audit` is on.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750 Bearer tokens
 * @see https://www.rfc-editor.org/rfc/rfc8725 JWT Best Current Practices
 */
import { performance } from 'node:perf_hooks'
import { Type, type Static, type TObject } from '@sinclair/typebox'
import type { Logger } from 'pino'
import type { Rejection } from '../../errors.js'
import type { CompiledIssuer } from '../../jwt/issuer.js'
import {
  routeProduct,
  type RouteSite,
  type Stage,
  type StageDefinition,
  type StageExchange,
  type Verdict,
} from '../../pipeline/stage.js'
import { challengesFor, type Challenges } from './challenge.js'
import { CredentialProblem, findToken, type TokenSources } from './credentials.js'
import { JwtAuthenticator } from './jwt.js'
import type { JwtContext, TokenVerdict } from './jwt-context.js'
import { AuthSchema, RouteJwtSchema } from './schema.js'

/** The route keys this stage owns. */
const ROUTE_KEYS = { auth: AuthSchema, jwt: Type.Optional(RouteJwtSchema) }
export type AuthenticateConfig = Static<TObject<typeof ROUTE_KEYS>>

/** The shared services the stage asks for. */
export interface AuthenticateDeps {
  /** The generation's compiled issuers, by name. */
  readonly issuers: ReadonlyMap<string, CompiledIssuer>
  /** Token caches, verify pool and verifications in flight of the worker. */
  readonly jwt: JwtContext
  readonly logger: Logger
  /** `log.audit`: one line per decision. */
  readonly audit: boolean
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

/** Compiles the authenticate stage of a route, or null for a public route. */
export function compileAuthenticate(
  route: AuthenticateConfig,
  site: RouteSite,
  deps: AuthenticateDeps,
): AuthenticateStage | null {
  const { path, problems } = site
  const auth = route.auth
  if (auth === 'none') {
    if (route.jwt !== undefined) {
      problems.push({
        path: `${path}.jwt`,
        reason: 'the route is public (auth: none); jwt needs auth: jwt',
      })
    }
    return null
  }
  const methods = typeof auth === 'string' ? [auth] : auth.any
  if (methods.includes('jwt') && route.jwt === undefined) {
    problems.push({
      path: `${path}.jwt`,
      reason: 'auth names jwt: say which issuers this route trusts (jwt: { issuers: [...] })',
    })
    return null
  }
  const jwt = route.jwt!
  const issuers: CompiledIssuer[] = []
  for (const name of jwt.issuers) {
    // Missing: an unknown name (config/references.ts reports it) or an invalid issuer (reported
    // under issuers[]).
    const issuer = deps.issuers.get(name)
    if (issuer !== undefined) issuers.push(issuer)
  }
  if (issuers.length !== jwt.issuers.length) return null
  return new AuthenticateStage(
    site.name,
    { header: jwt.header, cookie: jwt.cookie ?? null, query: jwt.query ?? null },
    new JwtAuthenticator(issuers, deps.jwt),
    challengesFor(jwt.realm),
    // Audit lines are info lines: below that level they would be built only to be dropped.
    deps.audit && deps.logger.isLevelEnabled('info') ? deps.logger : null,
  )
}

export class AuthenticateStage implements Stage {
  readonly name = 'authenticate'
  readonly onResponse = null
  readonly onFinish = null
  readonly sources: TokenSources
  readonly challenges: Challenges
  readonly #route: string
  readonly #authenticator: JwtAuthenticator
  readonly #audit: Logger | null

  constructor(
    route: string,
    sources: TokenSources,
    authenticator: JwtAuthenticator,
    challenges: Challenges,
    audit: Logger | null,
  ) {
    this.#route = route
    this.sources = sources
    this.#authenticator = authenticator
    this.challenges = challenges
    this.#audit = audit
  }

  onRequest(exchange: StageExchange): Verdict | Promise<Verdict> {
    const token = findToken(exchange, this.sources)
    if (typeof token !== 'string') {
      const rejection =
        token === CredentialProblem.Missing
          ? this.challenges.missing
          : token === CredentialProblem.Multiple
            ? this.challenges.multiple
            : this.challenges.malformed
      if (this.#audit !== null) this.#auditNoToken(exchange, rejection)
      return rejection
    }
    const started = this.#audit === null ? 0 : performance.now()
    const verdict = this.#authenticator.verify(token)
    if (verdict instanceof Promise) {
      return verdict.then((v) => this.#decide(exchange, v, token, started))
    }
    return this.#decide(exchange, verdict, token, started)
  }

  #decide(exchange: StageExchange, verdict: TokenVerdict, token: string, started: number): Verdict {
    if (this.#audit !== null) this.#auditVerdict(exchange, verdict, token, started)
    if (verdict.identity !== null) {
      exchange.identity = verdict.identity
      return undefined
    }
    if (verdict.failure === 'keys_unavailable') return this.challenges.unavailable
    return this.challenges.invalid(verdict.failure!)
  }

  #auditVerdict(
    exchange: StageExchange,
    verdict: TokenVerdict,
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
        kid: verdict.kid,
        outcome: verdict.identity !== null ? 'allow' : 'deny',
        reason: verdict.failure,
        // This decision's cost: a hash and a probe for a cached token, the signature otherwise.
        verify_us: Math.round((performance.now() - started) * 1000),
        // Never the token: its first 8 characters at most (docs/architecture.md).
        token: token.slice(0, 8),
      },
      'auth decision',
    )
  }

  #auditNoToken(exchange: StageExchange, rejection: Rejection): void {
    this.#audit!.info(
      {
        audit: 'authenticate',
        route: this.#route,
        request_id: exchange.requestId,
        method: 'jwt',
        outcome: 'deny',
        reason: rejection.status === 401 ? 'no_token' : 'invalid_request',
      },
      'auth decision',
    )
  }
}
