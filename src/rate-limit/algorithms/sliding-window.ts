/**
 * Sliding window counter: the count of the current calendar window plus the previous window's
 * count weighted by how much of it the sliding window still covers,
 *
 *     estimate = previous × (1 − elapsed / window) + current
 *
 * the approximation Cloudflare and nginx-style limiters use. It is chosen over an exact sliding
 * log because it keeps three numbers per key whatever the rate (a log keeps one timestamp per
 * admitted request: 100 000/day would be 800 kB per key), decides in O(1), and its state is two
 * per-window counts, exactly what a ConsumptionDelta carries between members. It assumes requests
 * were spread evenly over the previous window; Cloudflare measured 0.003% of requests wrongly
 * decided on real traffic. State per key: [window start, current count, previous count, global
 * current, global previous]: the counts are this member's own plus what gossip brought, the
 * global ones what Redis last reported plus this member's consumption since (0: no report); each
 * window weighs with the larger of the two.
 *
 * @see https://blog.cloudflare.com/counting-things-a-lot-of-different-things/
 */
import { ceilSeconds, type Algorithm, type Decision, type Limits } from './algorithm.js'

const START = 0
const CURRENT = 1
const PREVIOUS = 2
const GLOBAL_CURRENT = 3
const GLOBAL_PREVIOUS = 4

/** Moves the key to the window that contains `atMs`, if it has begun. */
function roll(state: Float64Array, base: number, windowMs: number, atMs: number): void {
  const start = atMs - (atMs % windowMs)
  const stored = state[base + START]!
  if (start <= stored) return
  const next = start - stored === windowMs
  state[base + PREVIOUS] = next ? state[base + CURRENT]! : 0
  state[base + GLOBAL_PREVIOUS] = next ? state[base + GLOBAL_CURRENT]! : 0
  state[base + CURRENT] = 0
  state[base + GLOBAL_CURRENT] = 0
  state[base + START] = start
}

export const slidingWindow: Algorithm = {
  width: 5,
  windowed: true,

  init(state, base, limits, nowMs) {
    state[base + START] = nowMs - (nowMs % limits.windowMs)
    state[base + CURRENT] = 0
    state[base + PREVIOUS] = 0
    state[base + GLOBAL_CURRENT] = 0
    state[base + GLOBAL_PREVIOUS] = 0
  },

  consume(state, base, limits, nowMs, cost, out: Decision) {
    if (limits.exact) return consumeShare(state, base, limits, nowMs, cost, out)
    const windowMs = limits.windowMs
    roll(state, base, windowMs, nowMs)
    const start = state[base + START]!
    const elapsed = nowMs < start ? 0 : nowMs - start
    const localPrevious = state[base + PREVIOUS]!
    const globalPrevious = state[base + GLOBAL_PREVIOUS]!
    const previous = globalPrevious > localPrevious ? globalPrevious : localPrevious
    const localCurrent = state[base + CURRENT]!
    const globalCurrent = state[base + GLOBAL_CURRENT]!
    let current = globalCurrent > localCurrent ? globalCurrent : localCurrent
    const weighted = previous * (1 - elapsed / windowMs)
    const admitted = weighted + current + cost <= limits.quota
    if (admitted) {
      state[base + CURRENT] = localCurrent + cost
      state[base + GLOBAL_CURRENT] = globalCurrent + cost
      current += cost
    }
    const left = limits.quota - weighted - current
    out.admitted = admitted
    out.borrow = false
    out.quota = limits.quota
    out.windowSeconds = ceilSeconds(windowMs, 1)
    out.remaining = left > 0 ? Math.floor(left) : 0
    out.resetSeconds = resetSecondsOf(previous, current, start, nowMs, windowMs)
    out.retryAfterSeconds = admitted
      ? 0
      : ceilSeconds(waitMs(limits.quota - cost, previous, current, elapsed, windowMs), 1)
    return admitted
  },

  spare(state, base, limits, nowMs) {
    const windowMs = limits.windowMs
    roll(state, base, windowMs, nowMs)
    const start = state[base + START]!
    const elapsed = nowMs < start ? 0 : nowMs - start
    return (
      limits.quota - state[base + PREVIOUS]! * (1 - elapsed / windowMs) - state[base + CURRENT]!
    )
  },

  credit() {
    // The counts stay; the share (quota) moves.
  },

  refund(state, base, _limits, cost) {
    const current = state[base + CURRENT]! - cost
    state[base + CURRENT] = current < 0 ? 0 : current
    const global = state[base + GLOBAL_CURRENT]! - cost
    state[base + GLOBAL_CURRENT] = global < 0 ? 0 : global
  },

  windowOf(state, base) {
    return state[base + START]!
  },

  applyRemote(state, base, limits, window, count, nowMs) {
    const windowMs = limits.windowMs
    roll(state, base, windowMs, nowMs)
    // A peer whose clock is a little ahead may already count in the next window: follow it.
    if (window > state[base + START]!) roll(state, base, windowMs, window)
    const start = state[base + START]!
    if (window === start) state[base + CURRENT] = state[base + CURRENT]! + count
    else if (window === start - windowMs) state[base + PREVIOUS] = state[base + PREVIOUS]! + count
  },

  applyGlobal(state, base, limits, window, global, nowMs) {
    const windowMs = limits.windowMs
    roll(state, base, windowMs, nowMs)
    if (window > state[base + START]!) roll(state, base, windowMs, window)
    const start = state[base + START]!
    // A max, not a sum: gossip may already have brought some of what Redis counted.
    const at =
      window === start ? GLOBAL_CURRENT : window === start - windowMs ? GLOBAL_PREVIOUS : -1
    if (at >= 0 && global > state[base + at]!) state[base + at] = global
  },

  isLive(window, currentWindow, limits) {
    return window === currentWindow || window === currentWindow - limits.windowMs
  },

  idleMs(limits) {
    return 2 * limits.windowMs
  },
}

/**
 * A member's share of an exact limit (../host-shares.ts): its own estimate (own counts and the
 * shares of other hosts' gossip) is held to the share, and the global estimate (Redis's counts
 * and own consumption since) to the whole limit, each on its own: the counts of a share and
 * those of the whole limit are not comparable window by window.
 */
function consumeShare(
  state: Float64Array,
  base: number,
  limits: Limits,
  nowMs: number,
  cost: number,
  out: Decision,
): boolean {
  const windowMs = limits.windowMs
  roll(state, base, windowMs, nowMs)
  const start = state[base + START]!
  const elapsed = nowMs < start ? 0 : nowMs - start
  const weight = 1 - elapsed / windowMs
  const previous = state[base + PREVIOUS]!
  let current = state[base + CURRENT]!
  const globalPrevious = state[base + GLOBAL_PREVIOUS]!
  let globalCurrent = state[base + GLOBAL_CURRENT]!
  const localFits = previous * weight + current + cost <= limits.quota
  const globalFits = globalPrevious * weight + globalCurrent + cost <= limits.globalQuota
  const admitted = localFits && globalFits
  if (admitted) {
    current += cost
    globalCurrent += cost
    state[base + CURRENT] = current
    state[base + GLOBAL_CURRENT] = globalCurrent
  }
  const left = limits.quota - previous * weight - current
  const globalLeft = limits.globalQuota - globalPrevious * weight - globalCurrent
  const least = globalLeft < left ? globalLeft : left
  out.admitted = admitted
  out.borrow = !admitted && !localFits && globalFits
  out.quota = limits.globalQuota
  out.windowSeconds = ceilSeconds(windowMs, 1)
  out.remaining = least > 0 ? Math.floor(least) : 0
  out.resetSeconds = resetSecondsOf(
    globalPrevious > previous ? globalPrevious : previous,
    globalCurrent > current ? globalCurrent : current,
    start,
    nowMs,
    windowMs,
  )
  out.retryAfterSeconds = admitted
    ? 0
    : ceilSeconds(
        waitMs(limits.globalQuota - cost, globalPrevious, globalCurrent, elapsed, windowMs),
        1,
      )
  return admitted
}

/** Whole again once both counted windows have slid out of view. */
function resetSecondsOf(
  previous: number,
  current: number,
  start: number,
  nowMs: number,
  windowMs: number,
): number {
  return current > 0
    ? ceilSeconds(start + 2 * windowMs - nowMs)
    : previous > 0
      ? ceilSeconds(start + windowMs - nowMs)
      : 0
}

/**
 * How long until `previous × (1 − elapsed / window) + current ≤ room`: within this window while
 * the weighted previous count decays, or else in the next one, where this window's count becomes
 * the decaying previous one.
 */
function waitMs(
  room: number,
  previous: number,
  current: number,
  elapsed: number,
  windowMs: number,
): number {
  if (room < 0) return 2 * windowMs - elapsed
  if (current <= room && previous > 0) {
    const at = windowMs * (1 - (room - current) / previous)
    if (at < windowMs) return at > elapsed ? at - elapsed : 0
  }
  const next = current > 0 ? windowMs * (1 - room / current) : 0
  return windowMs - elapsed + (next > 0 ? next : 0)
}
