/**
 * Verifies a bearer JWT for a route (RFC 7519, RFC 8725): matches the token to one of the route's
 * issuers by `iss` before any key is touched, takes the algorithm from that issuer's allow-list
 * (the header only chooses among it), the key from the issuer's own key source (never from the
 * token). The claims are checked before the signature (an expired or mis-addressed token costs
 * no public-key work), then the signature inline or on the verify pool, then the deny-list.
 *
 * A verified token is cached by a hash of the token until it expires, so a repeated token costs
 * a hash and a map probe; its identity object is shared by every request that presents it. A
 * refused token is cached briefly too, so a replayed bad token costs no signature check.
 * Concurrent requests with the same unverified token share one verification.
 */
import { performance } from 'node:perf_hooks'
import { readScopes, type Identity } from '../../identity.js'
import { checkClaims, checkType, tokenExpiry } from '../../jwt/claims.js'
import { parseToken, type ParsedToken } from '../../jwt/compact.js'
import type { CompiledIssuer } from '../../jwt/issuer.js'
import { verifySignature } from '../../jwt/signature.js'
import {
  isJwsAlgorithm,
  type JwsAlgorithm,
  type JwtFailure,
  type VerificationKey,
} from '../../jwt/types.js'
import type { JwtContext, TokenVerdict } from './jwt-context.js'

/** A token without exp (when an issuer does not require it) is re-verified this often. */
const NO_EXP_CACHE_MS = 5 * 60_000
/** How long a refused token stays refused without a new check. */
const FAILURE_CACHE_MS = 10_000
/** Without a kid, at most this many of the issuer's keys are tried: a bound on the work a bogus token can cause. */
const MAX_KEYS_WITHOUT_KID = 3

/**
 * Refusals that stop holding with time, never cached. (Route-dependent ones — unknown issuer,
 * unknown key, keys unavailable, revoked — never reach the failure cache at all.)
 */
const UNCACHED: ReadonlySet<JwtFailure> = new Set<JwtFailure>(['not_yet_valid', 'issued_in_future'])

export class JwtAuthenticator {
  readonly #context: JwtContext
  readonly #byIss: ReadonlyMap<string, CompiledIssuer>
  readonly #maxTokenBytes: number
  readonly #unknownIssuer: TokenVerdict
  readonly #tooLarge: TokenVerdict

  constructor(issuers: readonly CompiledIssuer[], context: JwtContext) {
    this.#context = context
    this.#byIss = new Map(issuers.map((issuer) => [issuer.iss, issuer]))
    this.#maxTokenBytes = Math.max(...issuers.map((issuer) => issuer.maxTokenBytes))
    this.#unknownIssuer = failed('unknown_issuer', null, null)
    this.#tooLarge = failed('too_large', null, null)
  }

  verify(token: string): TokenVerdict | Promise<TokenVerdict> {
    // A bound on every issuer's limit comes first: nothing of an oversized token is hashed or
    // decoded. The limit of the issuer the token names is checked once iss is read.
    if (token.length > this.#maxTokenBytes) return this.#tooLarge
    const context = this.#context
    const key = context.cache.keyOf(token)
    const now = Date.now()
    // A success that no longer stands (keys rotated, issuer reloaded) must not hide a refusal
    // reached since with the current keys: each cache is judged on its own, successes first.
    const hit =
      this.#admit(context.cache.get(key, now)) ?? this.#admit(context.failures.get(key, now))
    if (hit !== null) {
      context.cacheHits++
      return hit
    }
    context.cacheMisses++
    const pending = context.inFlight.get(key)
    // The verification in flight may be another route's: its verdict is judged by this route's
    // issuers like a cached one, or a token of an issuer only that route trusts would pass here.
    if (pending !== undefined) {
      return pending.then(
        (verdict) => this.#admit(verdict) ?? this.#verifyNew(token, key, Date.now()),
      )
    }
    return this.#verifyNew(token, key, now)
  }

  /**
   * A verdict reached elsewhere (the caches, a verification in flight, maybe for another route)
   * as it holds on this route; null when it does not apply here and the token must be verified
   * again.
   */
  #admit(verdict: TokenVerdict | undefined): TokenVerdict | null {
    if (verdict === undefined) return null
    const issuer = verdict.issuer
    // A refusal that no issuer was involved in (malformed) holds on every route.
    if (issuer === null) return verdict
    const trusted = this.#byIss.get(issuer.iss)
    if (trusted === undefined) return this.#unknownIssuer
    // The same issuer object with the same keys: the verdict stands. After a reload that changed
    // the issuer, or a key rotation, the token is verified again.
    if (trusted !== issuer || issuer.keys.generation !== verdict.generation) return null
    if (verdict.jti !== null && this.#context.revocations.has(verdict.jti)) {
      return failed('revoked', issuer, verdict.kid)
    }
    return verdict
  }

  #verifyNew(token: string, cacheKey: string, now: number): TokenVerdict | Promise<TokenVerdict> {
    const parsed = parseToken(token, this.#maxTokenBytes)
    if (typeof parsed === 'string') return this.#remember(cacheKey, failed(parsed, null, null), now)
    // The issuer is chosen by iss alone, before any key work: an issuer's keys verify only its
    // own tokens, and a token of an issuer this route does not trust costs nothing more.
    const issuer = parsed.iss === null ? undefined : this.#byIss.get(parsed.iss)
    if (issuer === undefined) return this.#unknownIssuer
    const alg = parsed.header.alg
    const kid = parsed.header.kid
    // The limit is the named issuer's own, not the largest of the route's issuers.
    if (token.length > issuer.maxTokenBytes) {
      return this.#remember(cacheKey, failed('too_large', issuer, kid), now)
    }
    if (!isJwsAlgorithm(alg) || !issuer.algorithms.has(alg)) {
      return this.#remember(cacheKey, failed('algorithm_not_allowed', issuer, kid), now)
    }
    if (issuer.typ !== null && !checkType(parsed.header.typ, issuer.typ)) {
      return this.#remember(cacheKey, failed('wrong_type', issuer, kid), now)
    }
    // Claims before the signature: an expired or mis-addressed token costs no public-key work.
    // The verdict is the same either way, and nothing about the key is revealed.
    const claimFailure = checkClaims(parsed.payload, issuer.policy, now / 1000)
    if (claimFailure !== null)
      return this.#remember(cacheKey, failed(claimFailure, issuer, kid), now)
    return this.#checkSignature(parsed, issuer, alg, cacheKey, now, true)
  }

  #checkSignature(
    parsed: ParsedToken,
    issuer: CompiledIssuer,
    alg: JwsAlgorithm,
    cacheKey: string,
    now: number,
    mayRefresh: boolean,
  ): TokenVerdict | Promise<TokenVerdict> {
    const kid = parsed.header.kid
    const keys = issuer.keys
    const candidates = keys.candidates(kid, alg)
    if (candidates.length === 0) {
      // A source past its stale bound (or never loaded) has no candidates either.
      if (!keys.usable) return failed('keys_unavailable', issuer, kid)
      // A kid the issuer has not published yet: one shared, rate-limited refresh, then one retry.
      const refresh = mayRefresh && kid !== null ? keys.refreshForUnknownKid() : null
      if (refresh === null) return failed('unknown_key', issuer, kid)
      return this.#track(
        cacheKey,
        refresh.then(() => this.#checkSignature(parsed, issuer, alg, cacheKey, Date.now(), false)),
      )
    }
    const generation = keys.generation
    const pool = this.#context.pool
    // The first candidate is the key tried first (the only one when the token names a kid).
    const timed = this.#context.timesSignatures
    const started = timed ? performance.now() : 0
    if (pool !== null && this.#context.offload(alg, candidates[0]!.key)) {
      return this.#track(
        cacheKey,
        verifyOnPool(pool, alg, candidates, parsed).then((valid) => {
          if (timed) this.#context.timeSignature(alg, performance.now() - started)
          return this.#conclude(parsed, issuer, generation, valid, cacheKey, Date.now())
        }),
      )
    }
    let valid = false
    const tries = Math.min(candidates.length, MAX_KEYS_WITHOUT_KID)
    for (let i = 0; i < tries && !valid; i++) {
      valid = verifySignature(alg, candidates[i]!.key, parsed.signingInput, parsed.signature)
    }
    if (timed) this.#context.timeSignature(alg, performance.now() - started)
    return this.#conclude(parsed, issuer, generation, valid, cacheKey, now)
  }

  #conclude(
    parsed: ParsedToken,
    issuer: CompiledIssuer,
    generation: number,
    valid: boolean,
    cacheKey: string,
    now: number,
  ): TokenVerdict {
    const kid = parsed.header.kid
    if (!valid) {
      return this.#remember(cacheKey, { ...failed('bad_signature', issuer, kid), generation }, now)
    }
    const payload = parsed.payload
    const jti = typeof payload['jti'] === 'string' ? payload['jti'] : null
    const identity = createIdentity(issuer, payload)
    const verdict: TokenVerdict = {
      identity,
      unmapped:
        identity.consumer === null ? null : { ...identity, consumer: null, forwarded: null },
      failure: null,
      issuer,
      generation,
      kid,
      jti,
      certificateBinding: certificateBindingOf(payload),
    }
    if (issuer.cacheSize > 0)
      this.#context.cache.set(cacheKey, verdict, validUntil(issuer, payload, now))
    if (jti !== null && this.#context.revocations.has(jti)) return failed('revoked', issuer, kid)
    return verdict
  }

  #remember(cacheKey: string, verdict: TokenVerdict, now: number): TokenVerdict {
    if (!UNCACHED.has(verdict.failure!))
      this.#context.failures.set(cacheKey, verdict, now + FAILURE_CACHE_MS)
    return verdict
  }

  /** Single flight: concurrent requests with this token wait for the same verification. */
  #track(cacheKey: string, pending: Promise<TokenVerdict>): Promise<TokenVerdict> {
    const inFlight = this.#context.inFlight
    const settled = pending.finally(() => inFlight.delete(cacheKey))
    inFlight.set(cacheKey, settled)
    return settled
  }
}

async function verifyOnPool(
  pool: NonNullable<JwtContext['pool']>,
  alg: JwsAlgorithm,
  candidates: readonly VerificationKey[],
  parsed: ParsedToken,
): Promise<boolean> {
  const tries = Math.min(candidates.length, MAX_KEYS_WITHOUT_KID)
  for (let i = 0; i < tries; i++) {
    if (await pool.verify(alg, candidates[i]!, parsed.signingInput, parsed.signature)) return true
  }
  return false
}

function failed(
  failure: JwtFailure,
  issuer: CompiledIssuer | null,
  kid: string | null,
): TokenVerdict {
  return {
    identity: null,
    unmapped: null,
    failure,
    issuer,
    generation: issuer === null ? 0 : issuer.keys.generation,
    kid,
    jti: null,
    certificateBinding: null,
  }
}

/** RFC 8705 §3.1: `"cnf": { "x5t#S256": "<base64url SHA-256 of the DER certificate>" }`. */
function certificateBindingOf(payload: Record<string, unknown>): string | null {
  const cnf = payload['cnf']
  if (cnf === null || typeof cnf !== 'object' || !Object.hasOwn(cnf, 'x5t#S256')) return null
  const thumbprint = (cnf as Record<string, unknown>)['x5t#S256']
  return typeof thumbprint === 'string' ? thumbprint : ''
}

/**
 * When a cached verdict must be checked again: at exp (plus the skew the claims check allows),
 * or when the token grows older than max_token_age.
 */
function validUntil(issuer: CompiledIssuer, payload: Record<string, unknown>, now: number): number {
  const skewMs = issuer.policy.clockSkewS * 1000
  const exp = tokenExpiry(payload)
  let until = exp !== null ? exp * 1000 + skewMs : now + NO_EXP_CACHE_MS
  const maxAge = issuer.policy.maxTokenAgeS
  const iat = payload['iat']
  if (maxAge !== null && typeof iat === 'number') {
    until = Math.min(until, (iat + maxAge) * 1000 + skewMs)
  }
  return until
}

function createIdentity(issuer: CompiledIssuer, claims: Record<string, unknown>): Identity {
  const sub = claims['sub']
  const named = issuer.consumerClaim === null ? undefined : claims[issuer.consumerClaim]
  return {
    method: 'jwt',
    issuer: issuer.name,
    subject: typeof sub === 'string' ? sub : null,
    scopes: readScopes(claims[issuer.scopeClaim]),
    claims,
    // Only a name: the authenticate stage looks the consumer up on every request.
    consumer: typeof named === 'string' && named !== '' ? named : null,
    credentialId: null,
    forwarded: null,
  }
}
