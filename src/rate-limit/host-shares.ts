/**
 * Small limits held exactly across the workers of one host. Gossip lets each worker see the
 * others' consumption within an interval, which for a limit of 5 a minute is already too late: a
 * quick burst spread over the workers is admitted by each before it hears the others. So a small
 * limit is not gossiped between the workers of a host but split among them: each worker holds a
 * share of every key's budget (the shares of a key add up to the limit), decides from its share
 * alone, synchronously, and when its share is spent asks the other workers of its host for some
 * of theirs ({@link BudgetBroker}, a loopback exchange in src/cluster/budget-exchange.ts). Budget
 * only moves by grants, so the host never admits more than the limit; a worker refuses only once
 * every other worker answered that it has nothing to give (or did not answer in time).
 *
 * - Shares start as an even split (the remainder to the first workers), so nothing is refused at
 *   start-up that the host would admit: a worker with a share of 0 borrows at its first request.
 * - Shares outlive windows: a sliding window's previous count must stay covered by the share of
 *   the worker that made it, and a bucket's capacity moves with its tokens (each share refills at
 *   its part of the rate). A key whose share differs from the even split is therefore never
 *   reclaimed as idle; only eviction from a full table (or a worker's restart) loses or
 *   duplicates a share.
 * - Other hosts' consumption (gossip) is charged to each worker in proportion to its share, so
 *   the host's budget drops by what the other hosts consumed, once.
 * - Redis's global view, when reconciled, is held to the whole limit (Limits.globalQuota): it
 *   counts only what really happened, so it never refuses what the host would admit.
 */
import { createLimits, type Algorithm, type Limits, type TierRate } from './algorithms/algorithm.js'
import { fixedWindow } from './algorithms/fixed-window.js'

/** What a worker asks of its host's other workers (implemented in src/cluster). */
export interface BudgetBroker {
  /**
   * Asks the other workers of this host for `need` units of `counter`'s budget. Grants are
   * credited through the registry as they arrive (late ones too); resolves with what the workers
   * reported left after granting (summed), or Infinity when some did not answer in time.
   */
  borrow(counter: string, need: number): Promise<number>
  /** True while this worker's own request for `counter` awaits answers. */
  borrowing(counter: string): boolean
}

/** How a worker takes part in exact limits; set once per process (src/cluster). */
export interface HostOptions {
  /** This worker's index on its host (0…workers-1). */
  readonly workerIndex: number
  readonly workers: number
  /** Limits of at most this many requests per window (buckets: burst) are held exactly. */
  readonly upTo: number
  readonly broker: BudgetBroker
}

/** Comparisons of fractional shares: sums of grants and decayed counts drift by ulps. */
export const SLACK = 1e-9

/** The shares of one counter table's exact tiers, per slot. */
export class HostShares {
  readonly options: HostOptions
  readonly #tiers: readonly (TierRate | null)[]
  readonly #algorithm: Algorithm
  /** Per tier: 1 when held exactly. */
  readonly #exact: Uint8Array
  /** Per tier: this worker's share of a fresh key. */
  readonly #base: Float64Array
  /** Per slot: the budget this worker holds for the key. */
  #share: Float64Array
  /** Per slot: until when the whole host is known to be spent (no borrowing before). */
  #spentUntil: Float64Array
  /** Filled per decision: the limits of one slot. */
  readonly #limits: Limits = createLimits()
  /** Cut off from other hosts' gossip (shareOf > 1): the host holds workers ÷ shareOf of it. */
  #scale = 1

  constructor(
    options: HostOptions,
    tiers: readonly (TierRate | null)[],
    algorithm: Algorithm,
    capacity: number,
  ) {
    this.options = options
    this.#tiers = tiers
    this.#algorithm = algorithm
    this.#exact = new Uint8Array(tiers.length)
    this.#base = new Float64Array(tiers.length)
    tiers.forEach((tier, i) => {
      if (tier === null) return
      const whole = wholeOf(tier, algorithm)
      if (options.workers < 2 || whole > options.upTo) return
      this.#exact[i] = 1
      this.#base[i] = evenShare(whole, options.workers, options.workerIndex)
    })
    this.#share = new Float64Array(capacity)
    this.#spentUntil = new Float64Array(capacity)
  }

  /** True when `tier` is held exactly. */
  isExact(tier: number): boolean {
    return this.#exact[tier] === 1
  }

  /** True when any tier is. */
  get any(): boolean {
    return this.#exact.includes(1)
  }

  set shareOf(n: number) {
    this.#scale = n > 1 ? Math.min(1, this.options.workers / n) : 1
  }

  /** A slot taken by a new key of `tier`: the even share. */
  reset(slot: number, tier: number): void {
    this.#share[slot] = this.#base[tier]!
    this.#spentUntil[slot] = 0
  }

  /** This worker's share of a fresh key of `tier`. */
  baseOf(tier: number): number {
    return this.#base[tier]!
  }

  /** True when the slot's share is the even one: forgetting the key loses nothing. */
  atBase(slot: number, tier: number): boolean {
    return this.#share[slot] === this.#base[tier]
  }

  /** The limits of `slot` (reused: valid until the next call). */
  limitsOf(tier: number, slot: number): Limits {
    const rate = this.#tiers[tier]!
    const limits = this.#limits
    const whole = wholeOf(rate, this.#algorithm)
    const share = this.#share[slot]! * this.#scale
    limits.exact = true
    limits.globalQuota = whole
    limits.quota = share + SLACK
    if (this.#algorithm.windowed) {
      limits.windowMs = rate.windowMs
      limits.ratePerMs = 0
      limits.globalRatePerMs = 0
    } else {
      // Every share refills in the time the whole bucket does.
      limits.globalRatePerMs = rate.count / rate.windowMs
      limits.ratePerMs = (limits.globalRatePerMs * share) / whole
      limits.windowMs = whole / limits.globalRatePerMs
    }
    return limits
  }

  /** The slot's part of consumption another host reported. */
  portion(tier: number, slot: number, count: number): number {
    return (count * this.#share[slot]!) / wholeOf(this.#tiers[tier]!, this.#algorithm)
  }

  spentUntil(slot: number): number {
    return this.#spentUntil[slot]!
  }

  /**
   * After a borrow: when this worker's spare and what the others reported left cannot pay
   * `cost`, the host is spent until at least the returned time, and nothing is asked before.
   * Fixed windows: the window's end (budget only shrinks within it). Sliding windows and buckets:
   * the soonest the missing budget can come back (decay or refill at the whole rate).
   */
  markSpent(slot: number, tier: number, missing: number, windowStart: number, nowMs: number): void {
    const rate = this.#tiers[tier]!
    const whole = wholeOf(rate, this.#algorithm)
    let until: number
    if (this.#algorithm === fixedWindow) {
      until = windowStart + rate.windowMs
    } else if (this.#algorithm.windowed) {
      until = nowMs + (missing * rate.windowMs) / whole
    } else {
      until = nowMs + (missing * rate.windowMs) / rate.count
    }
    this.#spentUntil[slot] = until
  }

  /** Moves `amount` (in share units; negative: lent) into the slot's share. */
  move(slot: number, amount: number): void {
    this.#share[slot] = this.#share[slot]! + amount
    if (amount > 0) this.#spentUntil[slot] = 0
  }

  /** Share units per unit of the limits handed to the algorithm. */
  get scale(): number {
    return this.#scale
  }

  grow(capacity: number): void {
    const share = new Float64Array(capacity)
    share.set(this.#share)
    this.#share = share
    const spent = new Float64Array(capacity)
    spent.set(this.#spentUntil)
    this.#spentUntil = spent
  }
}

/** The whole limit a tier's shares add up to: requests per window, or the bucket's burst. */
function wholeOf(tier: TierRate, algorithm: Algorithm): number {
  return algorithm.windowed ? tier.count : tier.burst
}

/** Worker `index`'s part of `whole` split over `workers`: whole units, the remainder first. */
export function evenShare(whole: number, workers: number, index: number): number {
  const each = Math.floor(whole / workers)
  return each + (index < whole - each * workers ? 1 : 0)
}

/**
 * What a worker lends of `spare` when asked for `need`: what is asked, or half of what it has
 * when that is more (the asker is the busier one), never more than it has.
 */
export function lendable(spare: number, need: number): number {
  if (!(spare > SLACK)) return 0
  const half = spare >= 2 ? Math.ceil(spare / 2) : spare
  const amount = need > half ? need : half
  return amount < spare ? amount : spare
}
