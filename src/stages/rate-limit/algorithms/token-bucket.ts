/**
 * Token bucket: a bucket of `quota` tokens (the burst) refilled continuously at `ratePerMs`; a
 * request takes `cost` tokens or is refused. State per key: [tokens, last refill time].
 *
 * Remote consumption removes tokens, never below zero: a peer's burst cannot push this member
 * into a debt longer than one refill of the bucket.
 *
 * @see https://en.wikipedia.org/wiki/Token_bucket
 */
import { ceilSeconds, type Algorithm, type Decision, type Limits } from './algorithm.js'

const TOKENS = 0
const REFILLED_AT = 1

/** Refills the bucket up to `now`; a clock that went back refills nothing. */
function refill(state: Float64Array, base: number, limits: Limits, nowMs: number): number {
  const elapsed = nowMs - state[base + REFILLED_AT]!
  let tokens = state[base + TOKENS]!
  if (elapsed > 0) {
    tokens += elapsed * limits.ratePerMs
    if (tokens > limits.quota) tokens = limits.quota
    state[base + TOKENS] = tokens
    state[base + REFILLED_AT] = nowMs
  }
  return tokens
}

export const tokenBucket: Algorithm = {
  width: 2,
  windowed: false,

  init(state, base, limits, nowMs) {
    state[base + TOKENS] = limits.quota
    state[base + REFILLED_AT] = nowMs
  },

  consume(state, base, limits, nowMs, cost, out: Decision) {
    let tokens = refill(state, base, limits, nowMs)
    const admitted = tokens >= cost
    if (admitted) state[base + TOKENS] = tokens -= cost
    out.admitted = admitted
    out.quota = limits.quota
    out.windowSeconds = ceilSeconds(limits.windowMs, 1)
    out.remaining = Math.floor(tokens)
    out.resetSeconds = ceilSeconds((limits.quota - tokens) / limits.ratePerMs)
    // Until the bucket holds `cost` tokens; at least a second, since Retry-After is whole seconds.
    out.retryAfterSeconds = admitted ? 0 : ceilSeconds((cost - tokens) / limits.ratePerMs, 1)
    return admitted
  },

  refund(state, base, limits, cost) {
    const tokens = state[base + TOKENS]! + cost
    state[base + TOKENS] = tokens > limits.quota ? limits.quota : tokens
  },

  windowOf() {
    return 0
  },

  applyRemote(state, base, limits, _window, count, nowMs) {
    const tokens = refill(state, base, limits, nowMs) - count
    state[base + TOKENS] = tokens < 0 ? 0 : tokens
  },

  isLive() {
    return true
  },

  idleMs(limits) {
    return limits.windowMs
  },
}
