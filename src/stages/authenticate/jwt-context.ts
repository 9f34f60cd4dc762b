/**
 * What every JWT route of a worker shares, across reloads: the verified-token cache, the cache of
 * refused tokens, the verifications in flight, the verify pool and the deny-list.
 */
import type { KeyObject } from 'node:crypto'
import type { Identity } from '../../identity.js'
import { TokenCache } from '../../jwt/cache.js'
import type { CompiledIssuer } from '../../jwt/issuer.js'
import type { RevocationList } from '../../jwt/revocation.js'
import type { JwsAlgorithm, JwtFailure } from '../../jwt/types.js'
import { shouldOffload, type VerifyPool } from '../../jwt/verify-pool.js'
import { Histogram } from '../../observability/metrics/histogram.js'

/** Refused tokens remembered per worker: enough to absorb a replay flood, small enough not to matter. */
const FAILURE_CACHE_ENTRIES = 4096

/** The outcome for one token; cached and shared, so never modified after it is built. */
export interface TokenVerdict {
  /** Its consumer is the consumer_claim's value, when the issuer has one and the token says it. */
  readonly identity: Identity | null
  /**
   * The same identity without a consumer, for requests when no consumer has that name (the
   * directory is read per request); null when identity names no consumer.
   */
  readonly unmapped: Identity | null
  readonly failure: JwtFailure | null
  readonly issuer: CompiledIssuer | null
  /** The issuer's key generation the verdict was reached with: a rotation invalidates it. */
  readonly generation: number
  readonly kid: string | null
  readonly jti: string | null
  /**
   * The token's `cnf["x5t#S256"]` (RFC 8705 §3.1), null when it has none. A `cnf` whose
   * x5t#S256 is not a string is '' and matches no certificate. The verdict is shared by every
   * request with the token, so the certificate is compared per request, never here.
   */
  readonly certificateBinding: string | null
}

export class JwtContext {
  cache: TokenCache<TokenVerdict>
  readonly failures = new TokenCache<TokenVerdict>(FAILURE_CACHE_ENTRIES)
  readonly inFlight = new Map<string, Promise<TokenVerdict>>()
  readonly pool: VerifyPool | null
  readonly revocations: RevocationList
  /** Verified-token cache lookups (either cache answering is a hit), for /metrics. */
  cacheHits = 0
  cacheMisses = 0
  /** Signature checks by algorithm, for /metrics. */
  readonly signatureTimes = new Map<string, Histogram>()
  /** Whether signature checks are timed: metrics.enabled of the running generation. */
  timesSignatures = true

  constructor(pool: VerifyPool | null, revocations: RevocationList) {
    this.pool = pool
    this.revocations = revocations
    this.cache = new TokenCache<TokenVerdict>(0)
  }

  /** Sizes the verified-token cache for a new config generation (kept when the size is unchanged). */
  resize(entries: number): void {
    if (entries !== this.cache.capacity) this.cache = new TokenCache<TokenVerdict>(entries)
  }

  /** Counts a signature check that took `ms` milliseconds. */
  timeSignature(alg: JwsAlgorithm, ms: number): void {
    let h = this.signatureTimes.get(alg)
    if (h === undefined) {
      h = new Histogram()
      this.signatureTimes.set(alg, h)
    }
    h.observe(ms / 1000)
  }

  /** Whether to check a signature with `alg` and `key` on the pool; for RSA its modulus decides. */
  offload(alg: JwsAlgorithm, key: KeyObject): boolean {
    return this.pool !== null && shouldOffload(alg, this.pool.threads, key)
  }
}
