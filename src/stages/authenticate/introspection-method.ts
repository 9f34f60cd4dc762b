/**
 * The introspection method: a bearer token judged by the route's OAuth 2.0 introspection
 * endpoints (RFC 7662), in the order the route names them; the first active answer admits it.
 * Its members become the identity as a JWT's claims do (`scope`, `sub`, `client_id`…), so
 * `scopes:` and `forward.claims` read them the same way, and `consumer_claim` maps it to a
 * consumer, looked up on every request.
 *
 * On a route that also takes jwt, a {@link BearerSplit} decides in `find` which of the two
 * methods a bearer token belongs to, once.
 *
 * Answers: 401 invalid_token (inactive, wrong issuer or audience, a disabled consumer), 503
 * introspection_unavailable + Retry-After when no endpoint could answer and no stale answer
 * stands in.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7662 OAuth 2.0 Token Introspection
 */
import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import type { Consumer } from '../../consumers/consumer.js'
import type { CredentialDirectory } from '../../consumers/directory.js'
import { createRejection, type Rejection } from '../../errors.js'
import type { Identity } from '../../identity.js'
import {
  INTROSPECTION_FAILURES,
  type Answer,
  type IntrospectionFailure,
} from '../../introspection/answer.js'
import type { Introspector } from '../../introspection/introspector.js'
import type { StageExchange, Verdict } from '../../pipeline/stage.js'
import type { BearerSplit } from './bearer-split.js'
import type { Challenges } from './challenge.js'
import { CredentialProblem, findToken, type TokenSources } from './credentials.js'
import type { CredentialMethod } from './method.js'

export class IntrospectionMethod implements CredentialMethod {
  readonly name = 'introspection'
  readonly ambient = false
  readonly sources: TokenSources
  /** Whether an answer can name a consumer (an introspector with consumer_claim). */
  readonly namesConsumers: boolean
  readonly #route: string
  readonly #introspectors: readonly Introspector[]
  readonly #split: BearerSplit | null
  readonly #credentials: CredentialDirectory
  readonly #challenges: Challenges
  readonly #refusals: ReadonlyMap<IntrospectionFailure, Rejection>
  readonly #audit: Logger | null

  /**
   * @param split on a route that also takes jwt: which bearer tokens are JWTs; else null
   * @param challenge the route's bearer challenge (`Bearer realm="api"`)
   */
  constructor(
    route: string,
    sources: TokenSources,
    introspectors: readonly Introspector[],
    split: BearerSplit | null,
    credentials: CredentialDirectory,
    challenge: string,
    challenges: Challenges,
    audit: Logger | null,
  ) {
    this.#route = route
    this.sources = sources
    this.#introspectors = introspectors
    this.namesConsumers = introspectors.some((i) => i.namesConsumers)
    this.#split = split
    this.#credentials = credentials
    this.#challenges = challenges
    this.#refusals = createRefusals(challenge, introspectors)
    this.#audit = audit
  }

  find(exchange: StageExchange): string | CredentialProblem {
    const token = findToken(exchange, this.sources)
    if (this.#split === null) return token
    // Beside jwt the token and its problems are found by both; jwt reports the problems.
    if (typeof token !== 'string' || this.#split.isJwt(token)) return CredentialProblem.Missing
    return token
  }

  check(exchange: StageExchange, token: string): Verdict | Promise<Verdict> {
    const started = this.#audit === null ? 0 : performance.now()
    return this.#ask(exchange, token, 0, null, started)
  }

  /** Asks introspectors `from` on; `refusal` is the refusal of those before. */
  #ask(
    exchange: StageExchange,
    token: string,
    from: number,
    refusal: Answer | null,
    started: number,
  ): Verdict | Promise<Verdict> {
    const introspectors = this.#introspectors
    for (let i = from; i < introspectors.length; i++) {
      const answer = introspectors[i]!.introspect(token)
      if (answer instanceof Promise) {
        return answer.then((a) =>
          a.failure === null
            ? this.#decide(exchange, a, i, token, started)
            : this.#ask(exchange, token, i + 1, worse(refusal, a), started),
        )
      }
      if (answer.failure === null) return this.#decide(exchange, answer, i, token, started)
      refusal = worse(refusal, answer)
    }
    return this.#decide(exchange, refusal!, -1, token, started)
  }

  #decide(
    exchange: StageExchange,
    answer: Answer,
    by: number,
    token: string,
    started: number,
  ): Verdict {
    let identity = answer.identity
    let refusal: Rejection | null = null
    let reason: string | null = answer.failure
    let consumer: Consumer | null = null
    // consumer_claim: the consumer of the moment, whatever it was when the answer was cached.
    if (identity !== null && identity.consumer !== null) {
      const found = this.#credentials.consumer(identity.consumer)
      if (found === undefined) identity = answer.unmapped
      else if (found.disabled) {
        identity = null
        reason = 'consumer_disabled'
        refusal = this.#challenges.invalid('consumer_disabled')
      } else consumer = found
    }
    if (this.#audit !== null) this.#auditAnswer(exchange, identity, by, reason, token, started)
    if (identity !== null) {
      exchange.identity = identity
      exchange.consumer = consumer
      return undefined
    }
    exchange.authRefusal = reason!
    return refusal ?? this.#refusals.get(answer.failure!)!
  }

  #auditAnswer(
    exchange: StageExchange,
    identity: Identity | null,
    by: number,
    reason: string | null,
    token: string,
    started: number,
  ): void {
    this.#audit!.info(
      {
        audit: 'authenticate',
        route: this.#route,
        request_id: exchange.requestId,
        method: 'introspection',
        introspector: by < 0 ? null : this.#introspectors[by]!.name,
        sub: identity?.subject ?? null,
        consumer: identity?.consumer ?? null,
        outcome: identity !== null ? 'allow' : 'deny',
        reason,
        // This decision's cost: a hash and a probe for a cached answer, the call otherwise.
        verify_us: Math.round((performance.now() - started) * 1000),
        // Never the token: its first 8 characters at most (docs/architecture.md).
        token: token.slice(0, 8),
      },
      'auth decision',
    )
  }
}

/** An endpoint that could not answer outweighs a refusal: the token may be good elsewhere. */
function worse(refusal: Answer | null, answer: Answer): Answer {
  if (refusal === null || answer.failure === 'unavailable') return answer
  return refusal
}

function createRefusals(
  challenge: string,
  introspectors: readonly Introspector[],
): Map<IntrospectionFailure, Rejection> {
  const refusals = new Map<IntrospectionFailure, Rejection>()
  const retryAfter = Math.max(...introspectors.map((i) => i.retryAfterSeconds))
  for (const [failure, description] of Object.entries(INTROSPECTION_FAILURES) as [
    IntrospectionFailure,
    string,
  ][]) {
    refusals.set(
      failure,
      failure === 'unavailable'
        ? createRejection(503, 'introspection_unavailable', `${description} Try again later.`, [
            'retry-after',
            String(retryAfter),
          ])
        : createRejection(401, 'invalid_token', description, [
            'www-authenticate',
            `${challenge}, error="invalid_token", error_description="${description}"`,
          ]),
    )
  }
  return refusals
}

/** Where a route without jwt reads the token: Authorization: Bearer only (RFC 6750 §2.1). */
const HEADER_ONLY: TokenSources = { header: true, cookie: null, query: null }

/**
 * The method of a route naming `introspectors` (every name known: config/references.ts reports
 * the others, and the route does not compile). `jwtSources`: where the route's jwt method reads
 * its token, null without one.
 */
export function compileIntrospection(
  route: string,
  names: readonly string[],
  realm: string,
  introspectors: ReadonlyMap<string, Introspector>,
  jwtSources: TokenSources | null,
  split: BearerSplit | null,
  credentials: CredentialDirectory,
  challenges: Challenges,
  audit: Logger | null,
): IntrospectionMethod | null {
  const found = names.flatMap((name) => introspectors.get(name) ?? [])
  if (found.length !== names.length) return null
  return new IntrospectionMethod(
    route,
    jwtSources ?? HEADER_ONLY,
    found,
    split,
    credentials,
    `Bearer realm="${realm}"`,
    challenges,
    audit,
  )
}
