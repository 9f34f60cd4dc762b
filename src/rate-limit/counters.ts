/**
 * The counters of one rate-limit policy in one worker: a bounded table from key to slot, every
 * slot's state in typed arrays, so a decision for a known key is one Map lookup and a few numbers
 * read and written, with no allocation.
 *
 * Bounded: at most `maxKeys` slots. Keys idle long enough that their state equals a fresh one are
 * reclaimed as new keys arrive; when the table is full the CLOCK hand (second-chance LRU) forgets
 * a key not used since its last pass. A flood of distinct keys therefore costs a full table, never
 * more, and a forgotten key simply starts afresh.
 *
 * Synced: every admitted request is also counted as pending local consumption, handed to the
 * gossip layer by {@link CounterTable.takeLocalDeltas}; consumption of other members arrives
 * through the registry ({@link CounterTable.applyDelta}) and reduces what this member still admits. Counter ids
 * are `<policy>|<tier>|<key>` (src/gossip/types.ts); a key that fell back to the client address
 * is written `\nip:<address>` (no header value can contain a line feed, so it never collides with
 * one).
 *
 * Reconciled: when Redis is configured (src/state/rate-limit-sync.ts), `trackRedis` keeps a
 * second, independent accumulator of local consumption, handed over by
 * {@link CounterTable.takeRedisDeltas} (gossip drains the first one), and a list of the keys used
 * since the last reconciliation, refused requests included; {@link CounterTable.applyGlobal} merges
 * what Redis answered without ever adding it to what gossip brought.
 */
import type { ConsumptionDelta, DeltaSource } from '../gossip/types.js'
import {
  ceilSeconds,
  createLimits,
  type Algorithm,
  type Decision,
  type Limits,
  type TierRate,
} from './algorithms/algorithm.js'
import { HostShares, lendable, SLACK, type HostOptions } from './host-shares.js'

export type { TierRate }

export interface CounterTableOptions {
  readonly policy: string
  readonly algorithm: Algorithm
  /** Index 0 is the policy's own rate (may be absent: null), then the tiers in config order. */
  readonly tiers: readonly (TierRate | null)[]
  readonly maxKeys: number
  /** Members sharing the limit: each enforces 1/shareOf of it. Default 1. */
  readonly shareOf?: number
}

/**
 * A key's consumption for the Redis reconciliation since the last one; `count` 0 asks only to
 * read the global state of a key in use.
 */
export interface SyncDelta extends ConsumptionDelta {
  /** The tier's configured rate: Redis holds the whole cluster's consumption. */
  readonly rate: TierRate
  /** False for token buckets. */
  readonly windowed: boolean
  /**
   * Token buckets: when the first unit of `count` was consumed, ms. Redis's bucket credits the
   * refill up to there: consumption spread over a round but published at its end must not read
   * as a burst at the end (the bucket would show a debt the cluster never ran up).
   */
  readonly since: number
}

export const FALLBACK_PREFIX = '\nip:'

/** What a worker lends of an exact limit's budget, and what it has left after. */
export interface Loan {
  granted: number
  left: number
}

/** Slots allocated at first; the table doubles up to maxKeys as keys arrive. */
const INITIAL_SLOTS = 1024
/** Slots examined for idleness per new key: reclaims idle keys at the pace new ones come. */
const SWEEP_STEP = 2
const FREE = -1

export class CounterTable implements DeltaSource {
  readonly policy: string
  readonly algorithm: Algorithm
  readonly maxKeys: number
  /** Limits per tier as this member enforces them; mutated in place when shareOf changes. */
  readonly limits: readonly (Limits | null)[]
  /** Keys forgotten while still in use because the table was full. */
  evictions = 0

  readonly #tiers: readonly (TierRate | null)[]
  readonly #tierIndex: ReadonlyMap<string, number>
  /** Per map index (tier × 2 + fallback): key → slot. */
  readonly #maps: Map<string, number>[]
  #shareOf = 1
  #capacity: number
  #used = 0
  #state: Float64Array
  #lastUsed: Float64Array
  #pendingCount: Float64Array
  #pendingWindow: Float64Array
  /** Map index of the slot's key, or FREE. */
  #owner: Int32Array
  #ref: Uint8Array
  #dirty: Uint8Array
  #dirtyList: Int32Array
  #dirtyCount = 0
  #free: Int32Array
  #freeCount = 0
  #keys: string[]
  #hand = 0
  #sweepAt = 0
  /** Local consumption of windows a key has left before it was taken: still owed to peers. */
  #spilled: ConsumptionDelta[] = []
  #trackRedis = false
  /** Shares of the tiers held exactly on this host, or null (./host-shares.ts). */
  #host: HostShares | null = null
  /** The second accumulator, for Redis: as #pendingCount/#pendingWindow/#spilled. */
  #redisCount: Float64Array
  #redisWindow: Float64Array
  /** Token buckets: when the consumption in #redisCount began (SyncDelta.since). */
  #redisSince: Float64Array
  #redisSpilled: SyncDelta[] = []
  /** Keys used since the last takeRedisDeltas (refused requests too). */
  #touched: Uint8Array
  #touchedList: Int32Array
  #touchedCount = 0

  constructor(options: CounterTableOptions) {
    this.policy = options.policy
    this.algorithm = options.algorithm
    this.maxKeys = options.maxKeys
    this.#tiers = options.tiers
    this.#tierIndex = new Map(
      options.tiers.flatMap((t, i) => (t === null ? [] : [[t.name, i] as const])),
    )
    this.#maps = options.tiers.flatMap(() => [new Map<string, number>(), new Map<string, number>()])
    this.limits = options.tiers.map((t) => (t === null ? null : createLimits()))
    this.shareOf = options.shareOf ?? 1
    this.#capacity = Math.min(options.maxKeys, INITIAL_SLOTS)
    const c = this.#capacity
    this.#state = new Float64Array(c * this.algorithm.width)
    this.#lastUsed = new Float64Array(c)
    this.#pendingCount = new Float64Array(c)
    this.#pendingWindow = new Float64Array(c)
    this.#redisCount = new Float64Array(c)
    this.#redisWindow = new Float64Array(c)
    this.#redisSince = new Float64Array(c)
    this.#touched = new Uint8Array(c)
    this.#touchedList = new Int32Array(c)
    this.#owner = new Int32Array(c).fill(FREE)
    this.#ref = new Uint8Array(c)
    this.#dirty = new Uint8Array(c)
    this.#dirtyList = new Int32Array(c)
    this.#free = new Int32Array(c)
    this.#keys = new Array<string>(c).fill('')
  }

  /** Keys tracked now. */
  get size(): number {
    return this.#used - this.#freeCount
  }

  get shareOf(): number {
    return this.#shareOf
  }

  /**
   * How many members share the limit. With gossip cut off, each of `n` members enforces 1/n of
   * every quota (at least 1), so together they still hold the configured limit.
   */
  set shareOf(n: number) {
    if (!Number.isFinite(n) || n < 1) throw new RangeError(`shareOf must be at least 1 (got ${n})`)
    this.#shareOf = n
    this.#tiers.forEach((tier, i) => {
      const limits = this.limits[i]
      if (tier !== null && limits !== null) shareLimits(limits, tier, this.algorithm, n)
    })
    if (this.#host !== null) this.#host.shareOf = n
  }

  /**
   * How this worker holds small limits exactly with its host's other workers
   * (./host-shares.ts), or null. Set before traffic: every key in the table restarts from the
   * even share.
   */
  get host(): HostOptions | null {
    return this.#host?.options ?? null
  }

  set host(options: HostOptions | null) {
    const host =
      options === null ? null : new HostShares(options, this.#tiers, this.algorithm, this.#capacity)
    this.#host = host !== null && host.any ? host : null
    if (this.#host === null) return
    this.#host.shareOf = this.#shareOf
    for (let slot = 0; slot < this.#used; slot++) {
      const owner = this.#owner[slot]!
      if (owner !== FREE) this.#host.reset(slot, owner >> 1)
    }
  }

  /** True when `tier` is held exactly on this host. */
  isExact(tier: number): boolean {
    return this.#host !== null && this.#host.isExact(tier)
  }

  /**
   * True while a Redis reconciliation takes {@link takeRedisDeltas}; off, nothing is accumulated
   * for it (and turning it off forgets what was).
   */
  get trackRedis(): boolean {
    return this.#trackRedis
  }

  set trackRedis(on: boolean) {
    if (on === this.#trackRedis) return
    this.#trackRedis = on
    this.#redisCount.fill(0)
    this.#touched.fill(0)
    this.#touchedCount = 0
    this.#redisSpilled = []
  }

  /** The index of a tier by name (index 0: the policy's own rate), or -1. */
  tierIndex(name: string): number {
    return this.#tierIndex.get(name) ?? -1
  }

  /**
   * Counts one request of `cost` for `key` in `tier`, admitted or not (`out.admitted`), and
   * returns the slot, for a {@link refund}.
   */
  consume(
    tier: number,
    fallback: boolean,
    key: string,
    nowMs: number,
    cost: number,
    out: Decision,
  ): number {
    const mapIndex = tier * 2 + (fallback ? 1 : 0)
    const algorithm = this.algorithm
    let slot = this.#maps[mapIndex]!.get(key)
    if (slot === undefined) slot = this.#insert(mapIndex, key, nowMs)
    else this.#ref[slot] = 1
    this.#lastUsed[slot] = nowMs
    // Every use reaches Redis, refusals included (by the share rule too): the global state of a
    // key in use is read back even when this member consumed nothing of it.
    if (this.#trackRedis && this.#touched[slot] === 0) {
      this.#touched[slot] = 1
      this.#touchedList[this.#touchedCount++] = slot
    }
    const host = this.#host
    const exact = host !== null && host.isExact(tier)
    const limits = exact ? host.limitsOf(tier, slot) : this.limits[tier]!
    const base = slot * algorithm.width
    if (algorithm.consume(this.#state, base, limits, nowMs, cost, out)) {
      const window = algorithm.windowOf(this.#state, base)
      if (
        !exact &&
        this.peers > 1 &&
        algorithm.windowed &&
        this.#overShare(slot, window, cost, out)
      ) {
        algorithm.refund(this.#state, base, limits, cost)
        out.admitted = false
        out.remaining += cost
        // The peers' deltas arrive within a gossip interval; Retry-After counts whole seconds.
        out.retryAfterSeconds = 1
        return slot
      }
      if (this.#pendingCount[slot]! > 0 && this.#pendingWindow[slot] !== window) {
        this.#spill(slot, window, limits)
      }
      this.#pendingWindow[slot] = window
      this.#pendingCount[slot] = this.#pendingCount[slot]! + cost
      if (this.#dirty[slot] === 0) {
        this.#dirty[slot] = 1
        this.#dirtyList[this.#dirtyCount++] = slot
      }
      if (this.#trackRedis) this.#countForRedis(slot, window, limits, cost, nowMs)
    } else if (exact && out.borrow && nowMs < host.spentUntil(slot)) {
      // The host was found spent: nothing to ask for before budget can have come back.
      out.borrow = false
      out.retryAfterSeconds = ceilSeconds(host.spentUntil(slot) - nowMs, 1)
    }
    return slot
  }

  /**
   * Exact limits, after `consume` set `out.borrow`: asks this host's other workers for budget for
   * the key, and resolves once what they granted is credited or the bounded wait is over: true
   * when the caller should decide again, because this worker can now pay `cost`, or because
   * every worker answered and the host can pay it though this worker cannot yet (the budget is
   * with a worker that is itself borrowing and lends only to lower indexes, or on its way to
   * one: the next round finds it, where refusing would strand it); false when the request is
   * refused (the host cannot pay, or some worker did not answer in time: asking again would
   * only wait again). When every worker answered and the host cannot pay `cost`, the key is
   * marked spent: nothing is asked before budget can have come back.
   */
  async borrow(
    tier: number,
    fallback: boolean,
    key: string,
    cost: number,
    now: () => number,
  ): Promise<boolean> {
    const host = this.#host
    const map = this.#maps[tier * 2 + (fallback ? 1 : 0)]!
    const slot = map.get(key)
    if (host === null || slot === undefined) return false
    const need = cost - this.#spareOf(host, tier, slot, now())
    if (!(need > 0)) return true
    const left = await host.options.broker.borrow(this.#counterId(slot), need)
    // The key may have been forgotten meanwhile; then nothing is known about it.
    const after = map.get(key)
    if (after === undefined) return false
    const nowMs = now()
    const spare = this.#spareOf(host, tier, after, nowMs)
    const missing = cost - spare - left
    if (missing > SLACK) {
      const window = this.algorithm.windowOf(this.#state, after * this.algorithm.width)
      host.markSpent(after, tier, missing, window, nowMs)
      return false
    }
    // left is Infinity when some worker did not answer in time (or the grants covered the need).
    return spare + SLACK >= cost || left !== Infinity
  }

  /**
   * Another worker of this host asks for `need` of `counter`'s budget: lends what
   * {@link lendable} allows out of this worker's spare (none when `give` is false), moved out of
   * its share. False when the counter does not name a key of this table.
   */
  lend(counter: string, need: number, give: boolean, nowMs: number, out: Loan): boolean {
    const at = this.#locate(counter)
    if (at === null) return false
    out.granted = 0
    out.left = 0
    const host = this.#host
    if (host === null || !host.isExact(at.tier)) return true
    const mapIndex = at.tier * 2 + (at.fallback ? 1 : 0)
    let slot = this.#maps[mapIndex]!.get(at.key)
    if (slot === undefined) {
      // A key this worker never saw holds the even share, which may be nothing.
      if (host.baseOf(at.tier) === 0) return true
      slot = this.#insert(mapIndex, at.key, nowMs)
    }
    const spare = this.#spareOf(host, at.tier, slot, nowMs)
    const granted = give ? lendable(spare, need) : 0
    if (granted > 0) this.#move(host, at.tier, slot, -granted, nowMs)
    out.granted = granted
    out.left = spare - granted > 0 ? spare - granted : 0
    return true
  }

  /** Budget another worker of this host granted for `counter`: this worker's from now on. */
  credit(counter: string, amount: number, nowMs: number): boolean {
    const at = this.#locate(counter)
    if (at === null) return false
    const host = this.#host
    if (host === null || !host.isExact(at.tier) || !(amount > 0)) return true
    const mapIndex = at.tier * 2 + (at.fallback ? 1 : 0)
    let slot = this.#maps[mapIndex]!.get(at.key)
    // Forgotten meanwhile (evicted): the budget still came to this worker.
    if (slot === undefined) slot = this.#insert(mapIndex, at.key, nowMs)
    this.#move(host, at.tier, slot, amount, nowMs)
    return true
  }

  #spareOf(host: HostShares, tier: number, slot: number, nowMs: number): number {
    const limits = host.limitsOf(tier, slot)
    return this.algorithm.spare(this.#state, slot * this.algorithm.width, limits, nowMs) - SLACK
  }

  /** `amount` of budget, in the units the algorithm sees, into (or out of) the slot's share. */
  #move(host: HostShares, tier: number, slot: number, amount: number, nowMs: number): void {
    const limits = host.limitsOf(tier, slot)
    this.algorithm.credit(this.#state, slot * this.algorithm.width, limits, nowMs, amount)
    host.move(slot, amount / host.scale)
  }

  /** The limits `slot` of `tier` is decided with. */
  #limitsOf(tier: number, slot: number): Limits {
    const host = this.#host
    return host !== null && host.isExact(tier) ? host.limitsOf(tier, slot) : this.limits[tier]!
  }

  /**
   * Members exchanging consumption by gossip, this one included. With more than one, a member
   * admits, between two of its gossip sends, at most its share of what was left when the period
   * began (remaining ÷ peers): the peers cannot yet see that consumption, and the sum of the
   * shares is what is left, so a limit spent within a gossip interval is not overshot by what
   * every member admitted before hearing the others. One request per interval always passes.
   * Windows only: a token bucket already carries the debt of an overshoot and pays it back, and a
   * share on top of that debt (with Redis's own) starves it: it then admits well under the rate.
   */
  peers = 1

  #overShare(slot: number, window: number, cost: number, out: Decision): boolean {
    const pending = this.#pendingWindow[slot] === window ? this.#pendingCount[slot]! : 0
    if (pending === 0) return false
    // out.remaining is after this request; adding back this request and what is pending gives
    // what was left when this member last told its peers.
    const share = (out.remaining + cost + pending) / this.peers
    return pending + cost > share
  }

  /** Gives back an admitted request's `cost`: another policy of the route refused it. */
  refund(slot: number, tier: number, cost: number): void {
    const limits = this.#limitsOf(tier, slot)
    this.algorithm.refund(this.#state, slot * this.algorithm.width, limits, cost)
    const pending = this.#pendingCount[slot]! - cost
    this.#pendingCount[slot] = pending < 0 ? 0 : pending
    const forRedis = this.#redisCount[slot]! - cost
    this.#redisCount[slot] = forRedis < 0 ? 0 : forRedis
  }

  takeLocalDeltas(): ConsumptionDelta[] {
    const deltas = this.#spilled
    this.#spilled = []
    const list = this.#dirtyList
    for (let i = 0; i < this.#dirtyCount; i++) {
      const slot = list[i]!
      this.#dirty[slot] = 0
      const count = this.#pendingCount[slot]!
      if (count <= 0 || this.#owner[slot] === FREE) continue
      this.#pendingCount[slot] = 0
      deltas.push({ counter: this.#counterId(slot), window: this.#pendingWindow[slot]!, count })
    }
    this.#dirtyCount = 0
    return deltas
  }

  /**
   * Hands over (and forgets) the local consumption since the last call, for Redis: one delta per
   * key used since then, with `count` 0 when it consumed nothing (its global state is still worth
   * reading), plus the previous window of a sliding window, which still weighs.
   */
  takeRedisDeltas(): SyncDelta[] {
    const deltas = this.#redisSpilled
    this.#redisSpilled = []
    const list = this.#touchedList
    const windowed = this.algorithm.windowed
    for (let i = 0; i < this.#touchedCount; i++) {
      const slot = list[i]!
      this.#touched[slot] = 0
      const owner = this.#owner[slot]!
      if (owner === FREE) continue
      const count = this.#redisCount[slot]!
      this.#redisCount[slot] = 0
      const rate = this.#tiers[owner >> 1]!
      const counter = this.#counterId(slot)
      if (!windowed) {
        deltas.push({ counter, window: 0, count, rate, windowed, since: this.#redisSince[slot]! })
        continue
      }
      const window =
        count > 0
          ? this.#redisWindow[slot]!
          : this.algorithm.windowOf(this.#state, slot * this.algorithm.width)
      deltas.push({ counter, window, count, rate, windowed, since: 0 })
      const previous = window - rate.windowMs
      if (this.algorithm.isLive(previous, window, this.limits[owner >> 1]!)) {
        deltas.push({ counter, window: previous, count: 0, rate, windowed, since: 0 })
      }
    }
    this.#touchedCount = 0
    return deltas
  }

  /**
   * Merges the global state Redis reported for a counter of this policy: `global` is the count of
   * `window` (windows) or the tokens left (buckets), as of when the delta was taken; consumption
   * since is this member's own, still to publish, and is accounted here. A key forgotten since is
   * skipped; false when the counter does not name a key of this table.
   */
  applyGlobal(counter: string, window: number, global: number, nowMs: number): boolean {
    const at = this.#locate(counter)
    if (at === null) return false
    const slot = this.#maps[at.tier * 2 + (at.fallback ? 1 : 0)]!.get(at.key)
    if (slot === undefined) return true
    const windowed = this.algorithm.windowed
    const unpublished =
      !windowed || this.#redisWindow[slot] === window ? this.#redisCount[slot]! : 0
    const value = windowed ? global + unpublished : global - unpublished
    const base = slot * this.algorithm.width
    const limits = this.#limitsOf(at.tier, slot)
    this.algorithm.applyGlobal(this.#state, base, limits, window, value, nowMs)
    return true
  }

  /**
   * Applies one delta whose counter names this policy; false when it does not fit this table.
   * A limit held exactly on this host takes only other hosts' deltas: the shares already account
   * for what this host's workers consumed.
   */
  applyDelta(delta: ConsumptionDelta, nowMs: number, fromThisHost = false): boolean {
    if (!(delta.count > 0)) return false
    const at = this.#locate(delta.counter)
    if (at === null) return false
    if (fromThisHost && this.isExact(at.tier)) return true
    this.#applyOne(at.tier, at.fallback, at.key, delta.window, delta.count, nowMs)
    return true
  }

  /** Parses a counter id of this policy. */
  #locate(id: string): { tier: number; fallback: boolean; key: string } | null {
    const from = this.policy.length + 1
    if (!id.startsWith(this.policy) || id[from - 1] !== '|') return null
    const bar = id.indexOf('|', from)
    if (bar < 0) return null
    const tier = this.#tierIndex.get(id.slice(from, bar))
    if (tier === undefined) return null
    let key = id.slice(bar + 1)
    const fallback = key.startsWith(FALLBACK_PREFIX)
    if (fallback) key = key.slice(FALLBACK_PREFIX.length)
    return { tier, fallback, key }
  }

  /** Forgets every key whose state has become that of a fresh one. */
  sweepIdle(nowMs: number): number {
    let freed = 0
    for (let slot = 0; slot < this.#used; slot++) if (this.#freeIfIdle(slot, nowMs)) freed++
    return freed
  }

  #applyOne(
    tier: number,
    fallback: boolean,
    key: string,
    window: number,
    count: number,
    nowMs: number,
  ): void {
    const mapIndex = tier * 2 + (fallback ? 1 : 0)
    let slot = this.#maps[mapIndex]!.get(key)
    if (slot === undefined) slot = this.#insert(mapIndex, key, nowMs)
    this.#lastUsed[slot] = nowMs
    const base = slot * this.algorithm.width
    const host = this.#host
    const limits = this.#limitsOf(tier, slot)
    // Each worker of an exact limit takes its share's part: the host's budget drops by `count`.
    const part = host !== null && host.isExact(tier) ? host.portion(tier, slot, count) : count
    this.algorithm.applyRemote(this.#state, base, limits, window, part, nowMs)
  }

  #insert(mapIndex: number, key: string, nowMs: number): number {
    for (let i = 0; i < SWEEP_STEP && this.#used > 0; i++) {
      if (this.#sweepAt >= this.#used) this.#sweepAt = 0
      this.#freeIfIdle(this.#sweepAt++, nowMs)
    }
    let slot: number
    if (this.#freeCount > 0) slot = this.#free[--this.#freeCount]!
    else if (this.#used < this.#capacity) slot = this.#used++
    else if (this.#capacity < this.maxKeys) {
      this.#grow()
      slot = this.#used++
    } else {
      slot = this.#victim()
      this.evictions++
      this.#release(slot, nowMs)
    }
    this.#owner[slot] = mapIndex
    this.#keys[slot] = key
    // A new key earns its second chance by a second request: a flood of one-request keys is
    // forgotten before the keys in steady use (scan resistance, as in CLOCK-Pro).
    this.#ref[slot] = 0
    this.#pendingCount[slot] = 0
    this.#redisCount[slot] = 0
    this.#maps[mapIndex]!.set(key, slot)
    this.#host?.reset(slot, mapIndex >> 1)
    const limits = this.#limitsOf(mapIndex >> 1, slot)
    this.algorithm.init(this.#state, slot * this.algorithm.width, limits, nowMs)
    return slot
  }

  /** CLOCK: the first slot under the hand not used since the hand last passed it. */
  #victim(): number {
    for (;;) {
      const slot = this.#hand
      this.#hand = slot + 1 === this.#used ? 0 : slot + 1
      if (this.#ref[slot] === 0) return slot
      this.#ref[slot] = 0
    }
  }

  #freeIfIdle(slot: number, nowMs: number): boolean {
    const owner = this.#owner[slot]!
    if (owner === FREE) return false
    const tier = owner >> 1
    const limits = this.#limitsOf(tier, slot)
    if (nowMs - this.#lastUsed[slot]! < this.algorithm.idleMs(limits)) return false
    // A share other than the even one would be lost (or doubled) with the key.
    const host = this.#host
    if (host !== null && host.isExact(tier) && !host.atBase(slot, tier)) return false
    this.#release(slot, nowMs)
    this.#free[this.#freeCount++] = slot
    return true
  }

  /** Removes the slot's key; consumption not yet taken goes to the spill list. */
  #release(slot: number, nowMs: number): void {
    const owner = this.#owner[slot]!
    if (this.#pendingCount[slot]! > 0) {
      const limits = this.#limitsOf(owner >> 1, slot)
      const current = this.algorithm.windowed ? nowMs - (nowMs % limits.windowMs) : 0
      this.#spill(slot, current, limits)
    }
    if (this.#redisCount[slot]! > 0) {
      const limits = this.#limitsOf(owner >> 1, slot)
      const current = this.algorithm.windowed ? nowMs - (nowMs % limits.windowMs) : 0
      this.#spillForRedis(slot, current, limits)
    }
    this.#maps[owner]!.delete(this.#keys[slot]!)
    this.#owner[slot] = FREE
    this.#keys[slot] = ''
  }

  /** Moves a slot's pending consumption to the spill list, if peers still care about it. */
  #spill(slot: number, currentWindow: number, limits: Limits): void {
    const window = this.#pendingWindow[slot]!
    // Bounded like the table: without a gossip layer taking deltas, nothing piles up.
    if (
      this.algorithm.isLive(window, currentWindow, limits) &&
      this.#spilled.length < this.maxKeys
    ) {
      this.#spilled.push({
        counter: this.#counterId(slot),
        window,
        count: this.#pendingCount[slot]!,
      })
    }
    this.#pendingCount[slot] = 0
  }

  #countForRedis(slot: number, window: number, limits: Limits, cost: number, nowMs: number): void {
    if (this.#redisCount[slot]! > 0 && this.#redisWindow[slot] !== window) {
      this.#spillForRedis(slot, window, limits)
    }
    if (this.#redisCount[slot] === 0) this.#redisSince[slot] = nowMs
    this.#redisWindow[slot] = window
    this.#redisCount[slot] = this.#redisCount[slot]! + cost
  }

  /** As {@link #spill}, for the Redis accumulator. */
  #spillForRedis(slot: number, currentWindow: number, limits: Limits): void {
    const window = this.#redisWindow[slot]!
    if (
      this.algorithm.isLive(window, currentWindow, limits) &&
      this.#redisSpilled.length < this.maxKeys
    ) {
      this.#redisSpilled.push({
        counter: this.#counterId(slot),
        window,
        count: this.#redisCount[slot]!,
        rate: this.#tiers[this.#owner[slot]! >> 1]!,
        windowed: this.algorithm.windowed,
        since: this.#redisSince[slot]!,
      })
    }
    this.#redisCount[slot] = 0
  }

  #counterId(slot: number): string {
    const owner = this.#owner[slot]!
    const key = this.#keys[slot]!
    return `${this.policy}|${this.#tiers[owner >> 1]!.name}|${owner & 1 ? FALLBACK_PREFIX + key : key}`
  }

  #grow(): void {
    const c = Math.min(this.maxKeys, this.#capacity * 2)
    const width = this.algorithm.width
    this.#state = grown(this.#state, new Float64Array(c * width))
    this.#lastUsed = grown(this.#lastUsed, new Float64Array(c))
    this.#pendingCount = grown(this.#pendingCount, new Float64Array(c))
    this.#pendingWindow = grown(this.#pendingWindow, new Float64Array(c))
    this.#redisCount = grown(this.#redisCount, new Float64Array(c))
    this.#redisWindow = grown(this.#redisWindow, new Float64Array(c))
    this.#redisSince = grown(this.#redisSince, new Float64Array(c))
    this.#touched = grown(this.#touched, new Uint8Array(c))
    this.#touchedList = grown(this.#touchedList, new Int32Array(c))
    this.#owner = grown(this.#owner, new Int32Array(c).fill(FREE))
    this.#ref = grown(this.#ref, new Uint8Array(c))
    this.#dirty = grown(this.#dirty, new Uint8Array(c))
    this.#dirtyList = grown(this.#dirtyList, new Int32Array(c))
    this.#free = grown(this.#free, new Int32Array(c))
    for (let i = this.#capacity; i < c; i++) this.#keys.push('')
    this.#host?.grow(c)
    this.#capacity = c
  }
}

function grown<T extends Float64Array | Int32Array | Uint8Array>(from: T, to: T): T {
  to.set(from as never)
  return to
}

/** The limits one member enforces for `tier` when `shareOf` members share it. */
export function shareLimits(
  limits: Limits,
  tier: TierRate,
  algorithm: Algorithm,
  shareOf: number,
): void {
  if (algorithm.windowed) {
    limits.quota = Math.max(1, Math.floor(tier.count / shareOf))
    limits.windowMs = tier.windowMs
    limits.ratePerMs = 0
  } else {
    limits.quota = Math.max(1, Math.floor(tier.burst / shareOf))
    limits.ratePerMs = tier.count / tier.windowMs / shareOf
    // The time an empty bucket takes to fill: the bucket's "window" for headers and idleness.
    limits.windowMs = limits.quota / limits.ratePerMs
  }
  limits.globalQuota = limits.quota
  limits.globalRatePerMs = limits.ratePerMs
  limits.exact = false
}
