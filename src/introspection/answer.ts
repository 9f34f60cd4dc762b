/**
 * An introspection response (RFC 7662 §2.2) judged by an introspector's policy: active or not,
 * from the expected issuer, for an expected audience, and the identity it vouches for. Judged
 * once per call; the result is cached and shared by every request presenting the token.
 *
 * Members are read as own properties only (a member named `constructor` must not be found on
 * Object.prototype), like JWT claims.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2.2
 */
import { readScopes, type Identity } from '../identity.js'

/** Why an introspected token is refused. */
export const INTROSPECTION_FAILURES = {
  inactive: 'The token is not active.',
  wrong_issuer: 'The token was issued by an issuer this route does not accept.',
  wrong_audience: 'The token audience is not accepted.',
  expired: 'The token has expired.',
  not_yet_valid: 'The token is not valid yet.',
  too_large: 'The token exceeds the size limit.',
  unavailable: 'The token could not be checked: the introspection endpoint is unavailable.',
} as const
export type IntrospectionFailure = keyof typeof INTROSPECTION_FAILURES

/** What the introspector's config says an answer must be, compiled. */
export interface AnswerPolicy {
  /** The introspector's name: the identity's issuer. */
  readonly name: string
  /** The `iss` an answer must carry when it has one; null: not checked. */
  readonly issuer: string | null
  /** `aud` must name one of these when present; empty: not checked. */
  readonly audiences: ReadonlySet<string>
  readonly scopeClaim: string
  readonly consumerClaim: string | null
}

/** The outcome for one token; cached and shared, never modified after it is built. */
export interface Answer {
  /** Its consumer is the consumer_claim's value, when configured and present. */
  readonly identity: Identity | null
  /** The same identity without a consumer, for when no consumer has that name; else null. */
  readonly unmapped: Identity | null
  readonly failure: IntrospectionFailure | null
  /** `exp` in seconds, null without one: an active answer is never kept past it. */
  readonly expSeconds: number | null
}

export function refused(failure: IntrospectionFailure): Answer {
  return { identity: null, unmapped: null, failure, expSeconds: null }
}

/**
 * Judges a parsed response body. A body that is not an object or whose `active` is not a
 * boolean is not an answer at all: null (the call failed, it says nothing of the token).
 */
export function judgeAnswer(
  body: unknown,
  policy: AnswerPolicy,
  nowSeconds: number,
): Answer | null {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return null
  const members = body as Record<string, unknown>
  const active = member(members, 'active')
  if (typeof active !== 'boolean') return null
  // RFC 7662 §2.2: "active" is the only required member; an inactive answer says nothing more.
  if (!active) return refused('inactive')
  const iss = member(members, 'iss')
  if (policy.issuer !== null && iss !== undefined && iss !== policy.issuer) {
    return refused('wrong_issuer')
  }
  if (!audienceAccepted(member(members, 'aud'), policy.audiences)) return refused('wrong_audience')
  const exp = member(members, 'exp')
  const expSeconds = typeof exp === 'number' && Number.isFinite(exp) ? exp : null
  // The server said active; a stale clock on either side must not admit a token past its exp.
  if (expSeconds !== null && nowSeconds >= expSeconds) return refused('expired')
  const nbf = member(members, 'nbf')
  if (typeof nbf === 'number' && nowSeconds < nbf) return refused('not_yet_valid')
  const identity = createIdentity(policy, members)
  return {
    identity,
    unmapped: identity.consumer === null ? null : { ...identity, consumer: null, forwarded: null },
    failure: null,
    expSeconds,
  }
}

function createIdentity(policy: AnswerPolicy, members: Record<string, unknown>): Identity {
  const sub = member(members, 'sub')
  const named = policy.consumerClaim === null ? undefined : member(members, policy.consumerClaim)
  return {
    method: 'introspection',
    issuer: policy.name,
    subject: typeof sub === 'string' ? sub : null,
    scopes: readScopes(member(members, policy.scopeClaim)),
    claims: members,
    // Only a name: the authenticate stage looks the consumer up on every request.
    consumer: typeof named === 'string' && named !== '' ? named : null,
    credentialId: null,
    forwarded: null,
  }
}

function audienceAccepted(aud: unknown, audiences: ReadonlySet<string>): boolean {
  if (audiences.size === 0 || aud === undefined) return true
  if (typeof aud === 'string') return audiences.has(aud)
  return (
    Array.isArray(aud) && aud.some((value) => typeof value === 'string' && audiences.has(value))
  )
}

function member(members: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(members, name) ? members[name] : undefined
}
