/**
 * The one interface of the rate-limit algorithms (Kong `rate-limiting/policies/` style). An
 * algorithm owns no memory: the counter table (../counters.ts) keeps every key's state in one
 * Float64Array, `width` numbers per slot from `base`, so a decision for a known key allocates
 * nothing. Answers go into a {@link Decision} the caller reuses.
 *
 * Times are ms since the epoch. Windows are aligned to the epoch (a minute window starts at :00),
 * so every member of a cluster agrees on which window a consumption belongs to.
 */

/** The limit of one tier as one member enforces it (already divided by `shareOf`). */
export interface Limits {
  /**
   * Requests per window (windows), or the bucket capacity (token bucket). At least 1, except for
   * a member's share of a limit held exactly on its host, which may be 0 (all lent).
   */
  quota: number
  /** The window (windows), or the time to refill an empty bucket (token bucket). */
  windowMs: number
  /** Token bucket refill, tokens per ms; 0 for windows. */
  ratePerMs: number
  /**
   * The limit the global view (Redis) is held to, and the one headers report: `quota` itself,
   * except when `quota` is this member's share of a limit held exactly on its host.
   */
  globalQuota: number
  /** As globalQuota, for the refill of the global bucket. */
  globalRatePerMs: number
  /**
   * True when `quota` is this member's share of a limit held exactly on its host
   * (../host-shares.ts): its own consumption is held to the share and the global view to the
   * whole limit, each on its own, and a refusal by the share alone sets `Decision.borrow`.
   */
  exact: boolean
}

/** The answer to one request for one policy; reused, never kept. */
export interface Decision {
  admitted: boolean
  /** The quota of the policy (RateLimit-Policy q, X-RateLimit-Limit). */
  quota: number
  /** The window in whole seconds (RateLimit-Policy w). */
  windowSeconds: number
  /** Requests still admitted now (RateLimit r, X-RateLimit-Remaining). */
  remaining: number
  /**
   * Seconds until the quota is whole again (RateLimit t, X-RateLimit-Reset of an admitted
   * request; a refusal reports retryAfterSeconds there, ../headers.ts).
   */
  resetSeconds: number
  /** When refused: seconds until this request would be admitted (Retry-After); 0 otherwise. */
  retryAfterSeconds: number
  /**
   * When refused: true when only this member's share of an exact limit is spent, so budget
   * borrowed from the host's other workers may still admit the request.
   */
  borrow: boolean
}

export function createDecision(): Decision {
  return {
    admitted: true,
    quota: 0,
    windowSeconds: 0,
    remaining: 0,
    resetSeconds: 0,
    retryAfterSeconds: 0,
    borrow: false,
  }
}

/** Limits for a tier, filled in by the counter table. */
export function createLimits(): Limits {
  return {
    quota: 1,
    windowMs: 1,
    ratePerMs: 0,
    globalQuota: 1,
    globalRatePerMs: 0,
    exact: false,
  }
}

export interface Algorithm {
  /** Numbers of state per key. */
  readonly width: number
  /** True when consumption belongs to a window (ConsumptionDelta.window), false for buckets. */
  readonly windowed: boolean
  /** The state of a key never seen. */
  init(state: Float64Array, base: number, limits: Limits, nowMs: number): void
  /** Admits `cost` units if the limit allows, and fills `out` either way. */
  consume(
    state: Float64Array,
    base: number,
    limits: Limits,
    nowMs: number,
    cost: number,
    out: Decision,
  ): boolean
  /**
   * What this member could still admit now against `quota` alone (exact limits: the share it may
   * lend); fractional, possibly negative.
   */
  spare(state: Float64Array, base: number, limits: Limits, nowMs: number): number
  /**
   * Exact limits: `amount` of budget moved to (positive) or from (negative) this member's share,
   * called before `limits.quota` changes by as much. Windows keep their counts (the quota moves);
   * a bucket's tokens move with its capacity.
   */
  credit(state: Float64Array, base: number, limits: Limits, nowMs: number, amount: number): void
  /** Gives back what an admitted `consume` took (another policy of the route refused). */
  refund(state: Float64Array, base: number, limits: Limits, cost: number): void
  /** Start of the window local consumption is counted in now (0 for buckets). */
  windowOf(state: Float64Array, base: number): number
  /** Consumption by another member: less is left for this one. */
  applyRemote(
    state: Float64Array,
    base: number,
    limits: Limits,
    window: number,
    count: number,
    nowMs: number,
  ): void
  /**
   * The cluster-wide view read from Redis (src/state/rate-limit-sync.ts), already including this
   * member's consumption not yet published: for windows the count of `window`, for a bucket the
   * tokens left (negative: a debt). Kept apart from what gossip adds, and decisions use the more
   * restrictive of the two, so consumption both carried by gossip and counted in Redis is never
   * counted twice.
   */
  applyGlobal(
    state: Float64Array,
    base: number,
    limits: Limits,
    window: number,
    global: number,
    nowMs: number,
  ): void
  /**
   * True when the key's consumption still matters to peers for `window`: the window is current,
   * or (sliding window) the previous one still weighs in.
   */
  isLive(window: number, currentWindow: number, limits: Limits): boolean
  /** After this long without a request, the key's state equals a fresh one: it may be dropped. */
  idleMs(limits: Limits): number
}

/**
 * Whole seconds, rounded up, at least `min`. A microsecond of floating-point noise
 * (60 000 × 0.30000000000000004) does not add a second.
 */
export function ceilSeconds(ms: number, min = 0): number {
  const s = Math.ceil((ms - 0.001) / 1000)
  return s < min ? min : s
}

/** A tier's rate as configured, before it is shared among members. */
export interface TierRate {
  /** '' for the policy's own rate. */
  readonly name: string
  readonly count: number
  readonly windowMs: number
  /** Bucket capacity (token bucket); the rate's count when not configured. */
  readonly burst: number
}
