/**
 * Token bucket: a bucket of `quota` tokens (the burst) refilled continuously at `ratePerMs`; a
 * request takes `cost` tokens or is refused. State per key: [tokens, last refill time, global
 * tokens].
 *
 * Remote consumption removes tokens and may leave a debt: members that admitted together within
 * one gossip interval took more than the bucket held, and each must wait for that excess to
 * refill, or every member, refilling the whole rate on its own, would admit members × the rate
 * under sustained load (as measured before the debt existed). The debt is bounded by
 * one bucket or one second of the rate, whichever is larger, so no burst of remote deltas can
 * lock a key out for longer.
 *
 * Global tokens are what Redis last reported (the cluster's bucket, src/state/rate-limit-sync.ts)
 * less this member's consumption since, refilled like the local ones; the smaller of the two
 * decides. They may be negative: when members together took more than the bucket between two
 * reconciliations, each waits for the debt to refill, which is what holds the cluster to the rate
 * when Redis alone carries the limit.
 *
 * @see https://en.wikipedia.org/wiki/Token_bucket
 */
import { ceilSeconds, type Algorithm, type Decision, type Limits } from './algorithm.js'

const TOKENS = 0
const REFILLED_AT = 1
const GLOBAL = 2

/**
 * Refills both buckets up to `now` and returns the local tokens; a clock that went back refills
 * nothing.
 */
function refill(state: Float64Array, base: number, limits: Limits, nowMs: number): number {
  const elapsed = nowMs - state[base + REFILLED_AT]!
  let tokens = state[base + TOKENS]!
  if (elapsed > 0) {
    tokens += elapsed * limits.ratePerMs
    if (tokens > limits.quota) tokens = limits.quota
    state[base + TOKENS] = tokens
    // The global bucket is the whole limit's, also when the local one is a share of it.
    const global = state[base + GLOBAL]! + elapsed * limits.globalRatePerMs
    state[base + GLOBAL] = global > limits.globalQuota ? limits.globalQuota : global
    state[base + REFILLED_AT] = nowMs
  }
  return tokens
}

/** The deepest debt remote consumption may leave: one bucket or one second of the rate. */
function maxDebt(limits: Limits): number {
  const second = limits.ratePerMs * 1000
  return second > limits.quota ? second : limits.quota
}

export const tokenBucket: Algorithm = {
  width: 3,
  windowed: false,

  init(state, base, limits, nowMs) {
    state[base + TOKENS] = limits.quota
    state[base + REFILLED_AT] = nowMs
    state[base + GLOBAL] = limits.globalQuota
  },

  consume(state, base, limits, nowMs, cost, out: Decision) {
    const local = refill(state, base, limits, nowMs)
    const global = state[base + GLOBAL]!
    let tokens = global < local ? global : local
    const admitted = tokens >= cost
    if (admitted) {
      state[base + TOKENS] = local - cost
      state[base + GLOBAL] = global - cost
      tokens -= cost
    }
    out.admitted = admitted
    out.borrow = !admitted && limits.exact && global >= cost
    out.quota = limits.globalQuota
    out.windowSeconds = ceilSeconds(limits.windowMs, 1)
    out.remaining = tokens > 0 ? Math.floor(tokens) : 0
    // The whole limit's rate: a share's own rate may be 0 (all lent).
    const rate = limits.globalRatePerMs
    out.resetSeconds = ceilSeconds((limits.globalQuota - tokens) / rate)
    // Until the bucket holds `cost` tokens; at least a second, since Retry-After is whole seconds.
    out.retryAfterSeconds = admitted ? 0 : ceilSeconds((cost - tokens) / rate, 1)
    return admitted
  },

  spare(state, base, limits, nowMs) {
    return refill(state, base, limits, nowMs)
  },

  credit(state, base, limits, nowMs, amount) {
    // Refilled at the share's old rate first: the rate changes with the share.
    state[base + TOKENS] = refill(state, base, limits, nowMs) + amount
  },

  refund(state, base, limits, cost) {
    const tokens = state[base + TOKENS]! + cost
    state[base + TOKENS] = tokens > limits.quota ? limits.quota : tokens
    const global = state[base + GLOBAL]! + cost
    state[base + GLOBAL] = global > limits.globalQuota ? limits.globalQuota : global
  },

  windowOf() {
    return 0
  },

  applyRemote(state, base, limits, _window, count, nowMs) {
    const tokens = refill(state, base, limits, nowMs) - count
    const floor = -maxDebt(limits)
    state[base + TOKENS] = tokens < floor ? floor : tokens
  },

  applyGlobal(state, base, limits, _window, global, nowMs) {
    refill(state, base, limits, nowMs)
    // A min, not a difference: gossip may already have taken some of what Redis counted.
    if (global < state[base + GLOBAL]!) state[base + GLOBAL] = global
  },

  isLive() {
    return true
  },

  idleMs(limits) {
    return limits.windowMs
  },
}
