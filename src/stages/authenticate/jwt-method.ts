/**
 * The jwt method: a bearer token where the route allows it (credentials.ts), verified against
 * the route's issuers (jwt.ts), mapped to a consumer by `issuers[].consumer_claim`.
 *
 * The consumer is looked up by name on every request (a map probe), never frozen into a cached
 * token's decision: a consumer disabled or changed after a token was cached is seen at once.
 * Likewise a certificate-bound token (RFC 8705 §3) is compared with the connection's client
 * certificate on every request: the cached verdict is shared by every connection.
 */
import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import type { Consumer } from '../../consumers/consumer.js'
import type { CredentialDirectory } from '../../consumers/directory.js'
import type { JwtFailure } from '../../jwt/types.js'
import type { StageExchange, Verdict } from '../../pipeline/stage.js'
import type { BearerSplit } from './bearer-split.js'
import type { Challenges } from './challenge.js'
import { CredentialProblem, findToken, type TokenSources } from './credentials.js'
import type { JwtAuthenticator } from './jwt.js'
import type { TokenVerdict } from './jwt-context.js'
import type { CredentialMethod } from './method.js'

export class JwtMethod implements CredentialMethod {
  readonly name = 'jwt'
  readonly ambient = false
  readonly sources: TokenSources
  readonly #route: string
  readonly #jwt: JwtAuthenticator
  readonly #credentials: CredentialDirectory
  readonly #challenges: Challenges
  readonly #audit: Logger | null
  /** On a route that also takes introspection: which bearer tokens are JWTs; else null. */
  readonly #split: BearerSplit | null
  /** jwt.require_bound_tokens: a token without cnf["x5t#S256"] is refused. */
  readonly #requireBound: boolean

  constructor(
    route: string,
    sources: TokenSources,
    jwt: JwtAuthenticator,
    credentials: CredentialDirectory,
    challenges: Challenges,
    audit: Logger | null,
    split: BearerSplit | null = null,
    requireBoundTokens = false,
  ) {
    this.#requireBound = requireBoundTokens
    this.#route = route
    this.#split = split
    this.sources = sources
    this.#jwt = jwt
    this.#credentials = credentials
    this.#challenges = challenges
    this.#audit = audit
  }

  find(exchange: StageExchange): string | CredentialProblem {
    const token = findToken(exchange, this.sources)
    // Beside introspection, a bearer token that is no JWT of this route's issuers is its.
    if (this.#split !== null && typeof token === 'string' && !this.#split.isJwt(token)) {
      return CredentialProblem.Missing
    }
    return token
  }

  check(exchange: StageExchange, token: string): Verdict | Promise<Verdict> {
    const started = this.#audit === null ? 0 : performance.now()
    const verdict = this.#jwt.verify(token)
    if (verdict instanceof Promise) {
      return verdict.then((v) => this.#decide(exchange, v, token, started))
    }
    return this.#decide(exchange, verdict, token, started)
  }

  #decide(exchange: StageExchange, verdict: TokenVerdict, token: string, started: number): Verdict {
    let identity = verdict.identity
    let failure: JwtFailure | null = verdict.failure
    let consumer: Consumer | null = null
    if (identity !== null) {
      const unbound = this.#checkBinding(exchange, verdict.certificateBinding)
      if (unbound !== null) {
        identity = null
        failure = unbound
      }
    }
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
    exchange.authRefusal = failure!
    if (failure === 'keys_unavailable') return this.#challenges.unavailable
    return this.#challenges.invalid(failure!)
  }

  /**
   * RFC 8705 §3: a token bound to a certificate is admitted only over a connection presenting
   * that certificate (its base64url SHA-256 equals cnf["x5t#S256"], §3.1); one string compare.
   */
  #checkBinding(exchange: StageExchange, binding: string | null): JwtFailure | null {
    if (binding === null) return this.#requireBound ? 'unbound_token' : null
    const certificate = exchange.clientCertificate
    if (certificate === null) return 'certificate_required'
    return certificate.x5tS256 === binding ? null : 'certificate_mismatch'
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
}
