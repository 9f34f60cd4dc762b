/**
 * The seams of JWT authentication: algorithms, keys as the hot path sees them, and the reasons a
 * token is refused. Parsing, key loading, verification and the stage all speak these types.
 */
import type { KeyObject } from 'node:crypto'

/** Asymmetric JWS algorithms (RFC 7518 §3, RFC 8037). `none` is never one of them. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const

/** HMAC algorithms: only with a secret of the issuer's own config, never with a public key. */
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const

export const JWS_ALGORITHMS = [...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS] as const

export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number]

const ALGORITHM_SET: ReadonlySet<string> = new Set(JWS_ALGORITHMS)

export function isJwsAlgorithm(value: unknown): value is JwsAlgorithm {
  return typeof value === 'string' && ALGORITHM_SET.has(value)
}

/** A key ready to verify signatures: checked and imported once, at load or at a JWKS refresh. */
export interface VerificationKey {
  /** The JWK `kid`, or null for a key without one (a PEM file, a secret). */
  readonly kid: string | null
  /**
   * Algorithms this key verifies: its JWK `alg` when it names one, else every algorithm of the
   * issuer's allow-list that fits its type (kty, crv, size). Never empty.
   */
  readonly algorithms: ReadonlySet<JwsAlgorithm>
  readonly key: KeyObject
  /**
   * Stable identity of the key material (RFC 7638 thumbprint; sha-256 of a secret), so a verify
   * thread can keep the imported key and the main thread need not send it again.
   */
  readonly id: string
}

/**
 * Where an issuer's keys come from (a JWKS endpoint, a file, a secret): looked up synchronously
 * on the hot path, refreshed in the background.
 */
export interface KeySource {
  /**
   * Keys that may verify a token with this header: the one with that `kid` when the token names
   * one (and its algorithms include `alg`); for a kid the source does not have, its keys without
   * a kid (a PEM file or a secret cannot name one, yet its tokens often carry one); for a token
   * without a kid, every key whose algorithms include `alg`.
   */
  candidates(kid: string | null, alg: JwsAlgorithm): readonly VerificationKey[]
  /** Changes whenever the set of keys changes (never on a refresh that brought the same keys). */
  readonly generation: number
  /** True once keys were loaded at least once and are not older than the stale bound. */
  readonly usable: boolean
  /**
   * A token named a kid this source does not have: refresh now, shared by every caller while one
   * is in flight. null when refreshing is not possible now (cooldown, static keys).
   */
  refreshForUnknownKid(): Promise<void> | null
  /** First load; resolves when keys arrived or the first attempt failed (logged). */
  start(): Promise<void>
  close(): void
}

/**
 * Why a token was refused. The code goes to the audit log and metrics; the description goes to
 * the client in `WWW-Authenticate: Bearer error_description` (RFC 6750 §3), so it names the rule,
 * never a value from the token.
 */
export const JWT_FAILURES = {
  malformed: 'The token is not a well-formed JWS compact serialization.',
  too_large: 'The token exceeds the size limit.',
  unsupported_header: 'The token header uses a parameter this gateway does not accept.',
  algorithm_not_allowed: 'The token algorithm is not allowed for its issuer.',
  unknown_issuer: 'The token issuer is not accepted on this route.',
  unknown_key: 'No key of the issuer matches the token.',
  keys_unavailable: 'The keys of the token issuer are not available.',
  bad_signature: 'The token signature is invalid.',
  expired: 'The token has expired.',
  not_yet_valid: 'The token is not valid yet.',
  issued_in_future: 'The token was issued in the future.',
  too_old: 'The token is older than the maximum token age.',
  wrong_audience: 'The token audience is not accepted.',
  missing_claim: 'The token lacks a required claim.',
  invalid_claim: 'A registered claim of the token has an invalid type.',
  wrong_type: 'The token type (typ) is not accepted.',
  revoked: 'The token has been revoked.',
  unforwardable_claim: 'A claim of the token cannot be forwarded as a header.',
  consumer_disabled: 'The consumer the token names is disabled.',
  certificate_required: 'The token is bound to a client certificate and none was presented.',
  certificate_mismatch: 'The token is bound to another client certificate.',
  unbound_token: 'This route accepts only tokens bound to the client certificate.',
} as const

export type JwtFailure = keyof typeof JWT_FAILURES
