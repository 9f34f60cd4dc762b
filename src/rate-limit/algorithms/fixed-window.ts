/**
 * Fixed window: one counter per calendar window (aligned to the epoch, so `1000/min` resets at
 * every :00). The cheapest algorithm, and the one that is exact across members, but a caller can
 * spend a whole quota at the end of one window and another at the start of the next: up to twice
 * the rate over a window that straddles the edge. State per key: [window start, count, global
 * count]: `count` is this member's own consumption plus what gossip brought, `global` the count
 * Redis last reported plus this member's consumption since (0: no report); the larger one decides.
 */
import { ceilSeconds, type Algorithm, type Decision, type Limits } from './algorithm.js'

const START = 0
const COUNT = 1
const GLOBAL = 2

/** Moves the key to the window of `now` when that window has begun. */
function roll(state: Float64Array, base: number, limits: Limits, nowMs: number): void {
  const start = nowMs - (nowMs % limits.windowMs)
  if (start > state[base + START]!) {
    state[base + START] = start
    state[base + COUNT] = 0
    state[base + GLOBAL] = 0
  }
}

export const fixedWindow: Algorithm = {
  width: 3,
  windowed: true,

  init(state, base, limits, nowMs) {
    state[base + START] = nowMs - (nowMs % limits.windowMs)
    state[base + COUNT] = 0
    state[base + GLOBAL] = 0
  },

  consume(state, base, limits, nowMs, cost, out: Decision) {
    roll(state, base, limits, nowMs)
    const local = state[base + COUNT]!
    const global = state[base + GLOBAL]!
    // Each count against its own limit: the same as the larger count against one limit, unless
    // `quota` is this member's share of an exact limit and `globalQuota` the whole of it.
    const localFits = local + cost <= limits.quota
    const admitted = localFits && global + cost <= limits.globalQuota
    let left = limits.quota - local
    let globalLeft = limits.globalQuota - global
    if (admitted) {
      state[base + COUNT] = local + cost
      state[base + GLOBAL] = global + cost
      left -= cost
      globalLeft -= cost
    }
    if (globalLeft < left) left = globalLeft
    out.admitted = admitted
    out.borrow = !admitted && limits.exact && !localFits && global + cost <= limits.globalQuota
    out.quota = limits.globalQuota
    out.windowSeconds = ceilSeconds(limits.windowMs, 1)
    out.remaining = left > 0 ? Math.floor(left) : 0
    out.resetSeconds = ceilSeconds(state[base + START]! + limits.windowMs - nowMs)
    out.retryAfterSeconds = admitted ? 0 : ceilSeconds(out.resetSeconds * 1000, 1)
    return admitted
  },

  spare(state, base, limits, nowMs) {
    roll(state, base, limits, nowMs)
    return limits.quota - state[base + COUNT]!
  },

  credit() {
    // The count stays; the share (quota) moves.
  },

  refund(state, base, _limits, cost) {
    const count = state[base + COUNT]! - cost
    state[base + COUNT] = count < 0 ? 0 : count
    const global = state[base + GLOBAL]! - cost
    state[base + GLOBAL] = global < 0 ? 0 : global
  },

  windowOf(state, base) {
    return state[base + START]!
  },

  applyRemote(state, base, limits, window, count, nowMs) {
    roll(state, base, limits, nowMs)
    const start = state[base + START]!
    if (window === start) state[base + COUNT] = state[base + COUNT]! + count
    else if (window > start) {
      // A peer whose clock is a little ahead is already in the next window: follow it.
      state[base + START] = window
      state[base + COUNT] = count
      state[base + GLOBAL] = 0
    }
    // An older window no longer limits anything.
  },

  applyGlobal(state, base, limits, window, global, nowMs) {
    roll(state, base, limits, nowMs)
    const start = state[base + START]!
    if (window === start) {
      // A max, not a sum: gossip may already have brought some of what Redis counted.
      if (global > state[base + GLOBAL]!) state[base + GLOBAL] = global
    } else if (window > start) {
      state[base + START] = window
      state[base + COUNT] = 0
      state[base + GLOBAL] = global
    }
  },

  isLive(window, currentWindow) {
    return window === currentWindow
  },

  idleMs(limits) {
    return limits.windowMs
  },
}
