/**
 * Exact quotas per calendar period (issue 5): a rate-limit policy with `quota:` counts in Redis,
 * without a round trip per request. Per key, a member holds a lease: units Redis handed it and it
 * has not used yet. A request consumes a unit of the lease, synchronously; when the lease runs low
 * the table asks the worker's leaser (src/state/quota-lease.ts) for another block in the
 * background, one request in flight per key. A request that finds the lease empty is refused
 * (429, Retry-After: 1, or the end of the period once Redis said the quota is spent): a member
 * never admits a unit Redis did not grant it, so the members together never exceed the limit.
 *
 * What this costs is under-admission, never over-admission: a key's first request on a member
 * (and its first in each period) finds no lease and is refused while the first block is leased;
 * and near the end of the quota, units other members hold unused are refused here until they
 * come back (a key idle on a member gives its lease back; so does a member that stops).
 *
 * Block sizes adapt per key (block: auto): 1% of the limit to start, doubled while a lease lasts
 * less than a second, halved when one lasts over a minute, capped at 5% of the limit.
 *
 * Redis down: with on_redis_down: deny the lease in hand is spent and then requests are refused;
 * with local_share each member admits up to limit / members in the period (its leased consumption
 * included), and the units it admitted without a lease are published with its next lease.
 */
import type { ConfigProblem } from '../errors.js'
import type { Decision } from './algorithms/algorithm.js'
import { FALLBACK_PREFIX } from './counters.js'
import { periodEnd, periodStart } from './periods.js'
import type { QuotaConfig, QuotaPeriod, RateLimitPolicyConfig } from './schema.js'

/** A lease used up faster than this doubles the block (auto): about one Redis call a second. */
const FAST_LEASE_MS = 1000
/** A lease that lasts longer than this halves the block (auto): the key has slowed down. */
const SLOW_LEASE_MS = 60_000
/** auto: the first block, as a fraction of the limit (at least 1 unit). */
const FIRST_BLOCK = 0.01
/** auto: the largest block, as a fraction of the limit, so no member holds much of it idle. */
const MAX_BLOCK = 0.05
/** While Redis is unreachable, or the quota spent, a key asks again at most this often. */
const RETRY_MS = 1000

/** What a quota table asks of the worker's leaser (src/state/quota-lease.ts). */
export interface QuotaLeaseSource {
  /** True while leases are granted: Redis answers. */
  readonly healthy: boolean
  /** Members sharing a quota when Redis is down (on_redis_down: local_share). */
  readonly members: number
  /**
   * Starts leasing `want` units (and publishing `debt`) for `counter`; never waits. The answer
   * comes back through {@link QuotaTable.applyLease} or {@link QuotaTable.leaseFailed}.
   */
  lease(table: QuotaTable, counter: QuotaCounter, want: number, debt: number): void
  /** Gives `units` of `counter`'s lease in the period starting `periodStart` back; never waits. */
  release(table: QuotaTable, counterId: string, periodStart: number, units: number): void
}

/** The lease state of one key on one member. */
export class QuotaCounter {
  /** `<policy>||<key>` (a fallback key is `\nip:<address>`), as rate-limit counter ids. */
  readonly id: string
  /** Start of the period its lease belongs to, ms. */
  periodStart = -1
  /** Units granted by Redis and not used yet. */
  lease = 0
  /** Units this member admitted in the period (leased or, Redis down, its local share). */
  spent = 0
  /** Units handed out to all members as of the last lease reply; -1 before the first. */
  handedOut = -1
  /** Units admitted without a lease (local_share), to publish with the next lease. */
  debt = 0
  /** The next lease's size. */
  block: number
  /** A lease request is in flight: single flight per key. */
  leasing = false
  /** Redis answered that the period's quota is spent. */
  exhausted = false
  /** When the last lease arrived, ms: how fast it is used sets the next block. */
  grantedAt = 0
  /** No lease is asked for before this, ms (after a failure or an exhausted reply). */
  retryAt = 0
  lastUsed = 0
  /** Dropped from its table (idle, evicted, closed): a lease arriving now is given back. */
  forgotten = false

  constructor(id: string, block: number) {
    this.id = id
    this.block = block
  }
}

export interface QuotaTableOptions {
  readonly policy: string
  readonly config: QuotaConfig
  readonly maxKeys: number
}

/** Where a request's units came from, for a refund. */
const enum Source {
  None,
  Lease,
  Debt,
}

/**
 * The quota counters of one policy on one worker: the same consume/refund interface as
 * CounterTable, so the rate-limit stage applies both alike.
 */
export class QuotaTable {
  readonly policy: string
  readonly limit: number
  readonly period: QuotaPeriod
  readonly localShare: boolean
  readonly maxKeys: number
  readonly #fixedBlock: number
  readonly #firstBlock: number
  readonly #maxBlock: number
  readonly #counters = new Map<string, QuotaCounter>()
  readonly #fallbacks = new Map<string, QuotaCounter>()
  #source: QuotaLeaseSource | null = null
  /** The current period, cached: a month's bounds need a Date. */
  #periodStart = 0
  #periodEnd = 0
  /** The counter and source of the last consume, for a refund in the same request. */
  #last: QuotaCounter | null = null
  #lastSource = Source.None

  constructor(options: QuotaTableOptions) {
    const { config } = options
    this.policy = options.policy
    this.limit = config.limit
    this.period = config.period
    this.localShare = config.on_redis_down === 'local_share'
    this.maxKeys = options.maxKeys
    const first = Math.max(1, Math.floor(config.limit * FIRST_BLOCK))
    this.#fixedBlock = config.block === 'auto' ? 0 : Math.min(config.block, config.limit)
    this.#firstBlock = this.#fixedBlock || first
    this.#maxBlock = this.#fixedBlock || Math.max(first, Math.floor(config.limit * MAX_BLOCK))
  }

  /** The worker's leaser; null while none runs (then every key is as if Redis were down). */
  get source(): QuotaLeaseSource | null {
    return this.#source
  }

  set source(source: QuotaLeaseSource | null) {
    this.#source = source
  }

  get size(): number {
    return this.#counters.size + this.#fallbacks.size
  }

  /** A quota has no tiers. */
  tierIndex(_name: string): number {
    return -1
  }

  /** The counter of `key`, or undefined (tests, metrics). */
  counter(key: string, fallback = false): QuotaCounter | undefined {
    return (fallback ? this.#fallbacks : this.#counters).get(key)
  }

  /**
   * Admits `cost` units from `key`'s lease if it holds them, and fills `out` either way; starts a
   * lease in the background when the lease runs low. Returns 0: a refund needs no slot, it goes
   * to this request's counter (the stage runs one request at a time).
   */
  consume(
    _tier: number,
    fallback: boolean,
    key: string,
    nowMs: number,
    cost: number,
    out: Decision,
  ): number {
    if (nowMs >= this.#periodEnd || nowMs < this.#periodStart) this.#setPeriod(nowMs)
    const map = fallback ? this.#fallbacks : this.#counters
    let counter = map.get(key)
    if (counter === undefined) counter = this.#insert(map, fallback, key)
    counter.lastUsed = nowMs
    // A new period: the old lease expires with its key in Redis, there is nothing to give back.
    if (counter.periodStart !== this.#periodStart) this.#rollOver(counter)
    this.#last = counter
    out.quota = this.limit
    out.windowSeconds = Math.round((this.#periodEnd - this.#periodStart) / 1000)
    out.resetSeconds = Math.ceil((this.#periodEnd - nowMs) / 1000)
    if (counter.lease >= cost) {
      counter.lease -= cost
      counter.spent += cost
      this.#lastSource = Source.Lease
      out.admitted = true
      out.retryAfterSeconds = 0
      if (counter.lease <= counter.block / 2) this.#refill(counter, nowMs)
    } else if (this.localShare && !this.#healthy() && this.#withinShare(counter, cost)) {
      // Redis down, local_share: admitted without a lease, published as debt when it returns.
      counter.spent += cost
      counter.debt += cost
      this.#lastSource = Source.Debt
      out.admitted = true
      out.retryAfterSeconds = 0
      this.#refill(counter, nowMs)
    } else {
      this.#lastSource = Source.None
      out.admitted = false
      // Spent in Redis: nothing comes back before the period ends but other members' leftovers.
      out.retryAfterSeconds = counter.exhausted ? out.resetSeconds : 1
      this.#refill(counter, nowMs)
    }
    out.remaining = this.#remaining(counter)
    return 0
  }

  /** Gives back the units of the last consume: another policy of the route refused it. */
  refund(_slot: number, _tier: number, cost: number): void {
    const counter = this.#last
    if (counter === null) return
    if (this.#lastSource === Source.Lease) counter.lease += cost
    else if (this.#lastSource === Source.Debt) counter.debt -= cost
    else return
    counter.spent -= cost
    this.#lastSource = Source.None
  }

  /**
   * The leaser's answer for `counter`: `grant` units leased for the period starting
   * `periodStart`, after publishing `debt`; `used` is the period's count handed out. Returns the
   * units the table could not take (the key was forgotten meanwhile): the leaser gives them back.
   */
  applyLease(
    counter: QuotaCounter,
    periodStart: number,
    debt: number,
    grant: number,
    used: number,
    nowMs: number,
  ): number {
    counter.leasing = false
    // The period ended while the lease was in flight: those units expire with their key.
    if (counter.periodStart !== periodStart) return 0
    if (counter.forgotten) return grant
    counter.debt = Math.max(0, counter.debt - debt)
    counter.lease += grant
    counter.handedOut = used
    counter.grantedAt = nowMs
    counter.retryAt = 0
    if (grant === 0 && used >= this.limit) {
      counter.exhausted = true
      counter.retryAt = nowMs + RETRY_MS
    }
    return 0
  }

  /** The lease request for `counter` failed (Redis down): asks again after a while. */
  leaseFailed(counter: QuotaCounter, nowMs: number): void {
    counter.leasing = false
    counter.retryAt = nowMs + RETRY_MS
  }

  /**
   * Forgets keys unused since `idleBefore` and gives their leases back (the leaser calls it on
   * its timer). Keys with unpublished debt are kept until it is published. Returns how many.
   */
  sweepIdle(idleBefore: number, nowMs: number): number {
    let freed = 0
    for (const map of [this.#counters, this.#fallbacks]) {
      for (const [key, counter] of map) {
        if (counter.lastUsed >= idleBefore || counter.debt > 0 || counter.leasing) continue
        map.delete(key)
        this.#giveBack(counter, nowMs)
        freed++
      }
    }
    return freed
  }

  /** Gives every lease back and forgets every key: the member stops or the policy went away. */
  releaseAll(nowMs: number, source: QuotaLeaseSource | null = this.#source): void {
    for (const map of [this.#counters, this.#fallbacks]) {
      for (const counter of map.values()) this.#giveBack(counter, nowMs, source)
      map.clear()
    }
  }

  /** Counters with debt to publish, for the leaser's retry after an outage. */
  *withDebt(): IterableIterator<QuotaCounter> {
    for (const map of [this.#counters, this.#fallbacks]) {
      for (const counter of map.values()) if (counter.debt > 0) yield counter
    }
  }

  /** Asks for a lease of `counter` if none is in flight and it is not held back; never waits. */
  requestLease(counter: QuotaCounter, nowMs: number): void {
    this.#refill(counter, nowMs)
  }

  #giveBack(
    counter: QuotaCounter,
    nowMs: number,
    source: QuotaLeaseSource | null = this.#source,
  ): void {
    counter.forgotten = true
    const units = counter.lease
    counter.lease = 0
    if (units > 0 && counter.periodStart === this.#periodOf(nowMs)) {
      source?.release(this, counter.id, counter.periodStart, units)
    }
  }

  #refill(counter: QuotaCounter, nowMs: number): void {
    const source = this.#source
    if (counter.leasing || source === null || nowMs < counter.retryAt) return
    if (this.#fixedBlock === 0 && counter.grantedAt > 0) {
      // auto: size the next block by how long the last one lasted.
      const lasted = nowMs - counter.grantedAt
      if (lasted < FAST_LEASE_MS) counter.block = Math.min(counter.block * 2, this.#maxBlock)
      else if (lasted > SLOW_LEASE_MS)
        counter.block = Math.max(Math.floor(counter.block / 2), this.#firstBlock)
    }
    counter.leasing = true
    source.lease(this, counter, counter.block, counter.debt)
  }

  #healthy(): boolean {
    const source = this.#source
    return source !== null && source.healthy
  }

  /** local_share: this member's part of the limit for the period, its leased units included. */
  #withinShare(counter: QuotaCounter, cost: number): boolean {
    const members = this.#source === null ? 1 : Math.max(1, this.#source.members)
    return counter.spent + cost <= Math.floor(this.limit / members)
  }

  /** The best local estimate: what Redis had not handed out at the last reply, plus the lease. */
  #remaining(counter: QuotaCounter): number {
    if (counter.handedOut < 0) return Math.max(0, this.limit - counter.spent)
    const left = this.limit - counter.handedOut - counter.debt + counter.lease
    return left > 0 ? left : 0
  }

  #insert(map: Map<string, QuotaCounter>, fallback: boolean, key: string): QuotaCounter {
    if (this.size >= this.maxKeys) this.#evictOne()
    const id = `${this.policy}||${fallback ? FALLBACK_PREFIX : ''}${key}`
    const counter = new QuotaCounter(id, this.#firstBlock)
    map.set(key, counter)
    return counter
  }

  /** Full: forgets the key inserted first (Map order), giving its lease back. */
  #evictOne(): void {
    const map = this.#counters.size > 0 ? this.#counters : this.#fallbacks
    for (const [key, counter] of map) {
      map.delete(key)
      this.#giveBack(counter, counter.lastUsed)
      return
    }
  }

  #rollOver(counter: QuotaCounter): void {
    counter.periodStart = this.#periodStart
    counter.lease = 0
    counter.spent = 0
    counter.handedOut = -1
    counter.debt = 0
    counter.exhausted = false
    counter.grantedAt = 0
    counter.retryAt = 0
    counter.block = this.#firstBlock
  }

  #setPeriod(nowMs: number): void {
    this.#periodStart = this.#periodOf(nowMs)
    this.#periodEnd = periodEnd(this.period, this.#periodStart)
  }

  #periodOf(nowMs: number): number {
    return periodStart(this.period, nowMs)
  }
}

/** The cross-field rules of a quota policy: a quota is not a rate. */
export function checkQuotaPolicy(
  config: RateLimitPolicyConfig,
  path: string,
  problems: ConfigProblem[],
): void {
  for (const field of ['rate', 'burst', 'tiers', 'tier_from', 'default_tier'] as const) {
    if (config[field] === undefined) continue
    problems.push({
      path: `${path}.${field}`,
      reason: `does not apply to a quota (quota: counts ${config.quota!.limit} per ${config.quota!.period}); use a separate policy for a rate`,
    })
  }
}

/** Quotas live in Redis: each policy with `quota:` is refused when `redis:` is not configured. */
export function checkQuotasNeedRedis(
  config: {
    readonly rate_limits: Readonly<Record<string, RateLimitPolicyConfig>>
    readonly redis?: object
  },
  problems: ConfigProblem[],
): void {
  if (config.redis !== undefined) return
  for (const [name, policy] of Object.entries(config.rate_limits)) {
    if (policy.quota === undefined) continue
    problems.push({
      path: `rate_limits.${name}.quota`,
      reason:
        'needs redis: (the url of the Redis that holds the quota for all members); without it ' +
        'no member could know what the others admitted',
    })
  }
}
