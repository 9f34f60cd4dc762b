/**
 * The registered claims of a JWT (RFC 7519 §4.1) against an issuer's policy, and the `typ`
 * header rule of RFC 8725 §3.11. Runs after the signature check, on every token not served from
 * the cache; plain comparisons, no allocation.
 *
 * Claims are read as own properties only: a claim name such as `constructor` or `toString` must
 * not be found on Object.prototype, and a polluted prototype must not supply a missing claim.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7519#section-4.1
 */
import type { JwtFailure } from './types.js'

/** What an issuer's tokens must say, compiled once from its config. */
export interface ClaimPolicy {
  /** The exact `iss` (RFC 7519 §4.1.1: a case-sensitive string). */
  readonly issuer: string
  /** A token is accepted when its `aud` names any of these; empty skips the check. */
  readonly audiences: ReadonlySet<string>
  /** Leeway on exp, nbf and iat, both ways (RFC 7519 §4.1.4: "some small leeway"). */
  readonly clockSkewS: number
  /** Refuse tokens whose iat is older than this; null for no bound. Makes iat required. */
  readonly maxTokenAgeS: number | null
  /** Claims the token must carry (with any value). */
  readonly requiredClaims: readonly string[]
}

/**
 * Checks the registered claims. `exp`, `nbf` and `iat` are NumericDates: finite numbers of
 * seconds, not necessarily integers (RFC 7519 §2); `iss`, `sub` and `jti` are strings; `aud` is a
 * string or an array of strings. A claim of the wrong type is `invalid_claim`, whatever the
 * policy.
 *
 * @returns the first failure, or null when the token is acceptable now
 * @example
 *   const failure = checkClaims(parsed.payload, issuer.policy, Date.now() / 1000)
 */
export function checkClaims(
  payload: Record<string, unknown>,
  policy: ClaimPolicy,
  nowSeconds: number,
): JwtFailure | null {
  const iss = claim(payload, 'iss')
  if (iss === undefined) return 'missing_claim'
  if (typeof iss !== 'string') return 'invalid_claim'
  if (iss !== policy.issuer) return 'unknown_issuer'

  const sub = claim(payload, 'sub')
  if (sub !== undefined && typeof sub !== 'string') return 'invalid_claim'
  const jti = claim(payload, 'jti')
  if (jti !== undefined && typeof jti !== 'string') return 'invalid_claim'

  const audienceFailure = checkAudience(claim(payload, 'aud'), policy.audiences)
  if (audienceFailure !== null) return audienceFailure

  const skew = policy.clockSkewS
  const exp = claim(payload, 'exp')
  if (exp !== undefined) {
    if (!isNumericDate(exp)) return 'invalid_claim'
    // RFC 7519 §4.1.4: "on or after which the JWT MUST NOT be accepted".
    if (nowSeconds - skew >= exp) return 'expired'
  }
  const nbf = claim(payload, 'nbf')
  if (nbf !== undefined) {
    if (!isNumericDate(nbf)) return 'invalid_claim'
    // RFC 7519 §4.1.5: "before which the JWT MUST NOT be accepted".
    if (nowSeconds + skew < nbf) return 'not_yet_valid'
  }
  const iat = claim(payload, 'iat')
  if (iat !== undefined) {
    if (!isNumericDate(iat)) return 'invalid_claim'
    if (iat > nowSeconds + skew) return 'issued_in_future'
  }
  if (policy.maxTokenAgeS !== null) {
    if (iat === undefined) return 'missing_claim'
    if (nowSeconds - (iat as number) - skew > policy.maxTokenAgeS) return 'too_old'
  }

  const required = policy.requiredClaims
  for (let i = 0; i < required.length; i++) {
    if (!Object.hasOwn(payload, required[i]!)) return 'missing_claim'
  }
  return null
}

/**
 * RFC 8725 §3.11 and RFC 9068 §4: whether the `typ` header names the required type. Media types
 * are case-insensitive and `application/` may be left out (RFC 7515 §4.1.9), so `at+jwt` equals
 * `application/AT+JWT`; a type under another top-level type (`text/at+jwt`) does not.
 *
 * @param required the type the issuer requires, or null to accept any (or none)
 */
export function checkType(typ: string | null, required: string | null): boolean {
  if (required === null) return true
  if (typ === null) return false
  return normalizeType(typ) === normalizeType(required)
}

/** The `exp` claim in seconds, for how long a verdict may be cached; null without a valid one. */
export function tokenExpiry(payload: Record<string, unknown>): number | null {
  const exp = claim(payload, 'exp')
  return isNumericDate(exp) ? exp : null
}

const APPLICATION = 'application/'

function normalizeType(type: string): string {
  const lower = type.toLowerCase()
  return lower.startsWith(APPLICATION) ? lower.slice(APPLICATION.length) : lower
}

function claim(payload: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(payload, name) ? payload[name] : undefined
}

/** JSON.parse reads `1e400` as Infinity, so finiteness is checked, not only the type. */
function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

function checkAudience(aud: unknown, audiences: ReadonlySet<string>): JwtFailure | null {
  if (aud === undefined) return audiences.size === 0 ? null : 'missing_claim'
  if (typeof aud === 'string') {
    return audiences.size === 0 || audiences.has(aud) ? null : 'wrong_audience'
  }
  if (!Array.isArray(aud)) return 'invalid_claim'
  // Every member is type-checked, even past a match: a malformed aud is refused consistently.
  let matched = audiences.size === 0
  for (let i = 0; i < aud.length; i++) {
    const value: unknown = aud[i]
    if (typeof value !== 'string') return 'invalid_claim'
    if (!matched && audiences.has(value)) matched = true
  }
  return matched ? null : 'wrong_audience'
}
