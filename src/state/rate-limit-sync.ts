/**
 * Redis reconciliation of the rate-limit counters (issue 5): every `redis.rate_limit_sync.interval`
 * a worker publishes the consumption its requests made since its last publication and reads back
 * the cluster's state of every counter it used, with one script call per batch
 * (./rate-limit-sync.lua.ts). It corrects the drift gossip leaves, teaches a new or restarted
 * member the current state, and alone keeps the limits when gossip is cut. The request path never
 * waits on it: decisions read local counters only, and this loop is Redis's only caller.
 *
 * Layout, under the configured key prefix:
 *   <prefix>rl:w:<window ms>:<window start>:<counter>   fixed and sliding windows: the cluster's
 *       count of that window (INCRBYFLOAT by each member's own consumption); expires 3 windows
 *       after the window started (a sliding window still reads its previous window)
 *   <prefix>rl:b:<window ms>/<count>:<counter>          token buckets: the GCRA theoretical
 *       arrival time in ms; expires when the bucket is full again
 * where <counter> is `<policy>|<tier>|<key>` (src/gossip/types.ts).
 *
 * Composes with gossip without counting anything twice: it drains its own accumulator
 * (`takeRedisDeltas`, not gossip's `takeLocalDeltas`), and what Redis reports is merged beside
 * what gossip brought, never added to it (windows: the larger count; buckets: the fewer tokens).
 *
 * Redis down: decisions go on from gossip and local state; each failed round is counted, one
 * warning is logged per outage, consumption is kept (bounded by `max_backlog`, and only while it
 * still matters: its window has not ended, its bucket has not refilled) and published when Redis
 * returns, which is logged.
 */
import type { Redis } from 'ioredis'
import { createBackgroundRedis, evalScript, luaScript } from './redis-client.js'
import type { Logger } from 'pino'
import { parseDuration } from '../config/units.js'
import type { SyncDelta } from '../rate-limit/counters.js'
import type { RateLimitRegistry } from '../rate-limit/registry.js'
import { RATE_LIMIT_SYNC_SCRIPT } from './rate-limit-sync.lua.js'
import type { RedisConfig } from './schema.js'

const SCRIPT = luaScript(RATE_LIMIT_SYNC_SCRIPT)
/** Healthy means a round succeeded within this many intervals. */
const HEALTHY_INTERVALS = 3

export interface RateLimitSyncStats {
  /** Rounds that reached Redis. */
  syncs: number
  /** Rounds that could not (Redis down or an error); one warning per outage. */
  failures: number
  /** Counters sent, over all rounds (read-only ones included). */
  counters: number
  /** Units of consumption published. */
  published: number
  /** Counters of consumption dropped: beyond max_backlog, or no longer mattering. */
  dropped: number
  /** Counters of consumption waiting for Redis now. */
  backlog: number
}

export interface RateLimitSyncOptions {
  /** Overrides `rate_limit_sync.interval` (tests). */
  readonly intervalMs?: number
}

/** Consumption of one counter and window waiting to be published. */
interface Pending {
  delta: SyncDelta
  count: number
  /** When it was first taken, ms (a bucket's consumption stops mattering once refilled). */
  since: number
  /** Token buckets: when the first unit of `count` was consumed, ms (SyncDelta.since). */
  from: number
}

export class RedisRateLimitSync {
  readonly #registry: RateLimitRegistry
  readonly #logger: Logger
  readonly #client: Redis
  readonly #prefix: string
  readonly #intervalMs: number
  readonly #batch: number
  readonly #maxBacklog: number
  /** By `<window> <counter>`. */
  #backlog = new Map<string, Pending>()
  /** The keys used before the last round: read once more, see #gather. */
  #recent: SyncDelta[] = []
  #timer: NodeJS.Timeout | null = null
  #running = false
  #closed = false
  #failing = false
  #failingSince = 0
  #lastSuccess = -Infinity
  /** When it was created: the lag before a first successful round counts from here. */
  readonly #createdAt: number
  #stats: RateLimitSyncStats = {
    syncs: 0,
    failures: 0,
    counters: 0,
    published: 0,
    dropped: 0,
    backlog: 0,
  }

  /** The settings it runs with, so a reload can tell whether to keep it. */
  readonly config: RedisConfig

  constructor(
    registry: RateLimitRegistry,
    config: RedisConfig,
    logger: Logger,
    options: RateLimitSyncOptions = {},
  ) {
    this.#registry = registry
    this.#createdAt = registry.now()
    this.#logger = logger
    this.config = config
    this.#prefix = `${config.key_prefix}rl:`
    const sync = config.rate_limit_sync
    this.#intervalMs = options.intervalMs ?? parseDuration(sync.interval)
    this.#batch = sync.batch
    this.#maxBacklog = sync.max_backlog
    // Neither the hot path nor a round waits on Redis: the next round tries again.
    this.#client = createBackgroundRedis(config.url)
  }

  /** True while rounds succeed: Redis holds the limits even if gossip is cut. */
  /** Milliseconds since the last round that reached Redis (or since start, before one did). */
  get lagMs(): number {
    return this.#registry.now() - Math.max(this.#lastSuccess, this.#createdAt)
  }

  get healthy(): boolean {
    return (
      !this.#failing &&
      this.#registry.now() - this.#lastSuccess <= HEALTHY_INTERVALS * this.#intervalMs
    )
  }

  get stats(): Readonly<RateLimitSyncStats> {
    return { ...this.#stats, backlog: this.#backlog.size }
  }

  start(): void {
    this.#registry.trackRedis = true
    this.#client.connect().catch(() => {
      // Reported by the first round that fails; ioredis keeps reconnecting.
    })
    this.#timer = setInterval(() => void this.sync(), this.#intervalMs)
    this.#timer.unref()
  }

  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.#closed = true
    this.#registry.trackRedis = false
    this.#client.disconnect()
  }

  /**
   * One round: publishes what was consumed since the last one (and any backlog), reads the global
   * state back and merges it. What the timer calls; false when the round did not reach Redis, or
   * one was already running.
   */
  async sync(): Promise<boolean> {
    if (this.#running || this.#closed) return false
    this.#running = true
    try {
      const sentAt = this.#registry.now()
      const entries = this.#gather(sentAt)
      if (this.#client.status !== 'ready') {
        this.#fail(entries, new Error(`connection ${this.#client.status}`), sentAt)
        return false
      }
      const batches: Pending[][] = []
      for (let i = 0; i < entries.length; i += this.#batch) {
        batches.push(entries.slice(i, i + this.#batch))
      }
      const results = await Promise.allSettled(batches.map((b) => this.#run(b, sentAt)))
      let error: Error | null = null
      const failed: Pending[] = []
      for (let i = 0; i < results.length; i++) {
        const result = results[i]!
        if (result.status === 'fulfilled') continue
        error ??= result.reason as Error
        for (const entry of batches[i]!) failed.push(entry)
      }
      if (error !== null) {
        this.#fail(failed, error, this.#registry.now())
        return false
      }
      this.#stats.syncs++
      this.#lastSuccess = this.#registry.now()
      if (this.#failing) {
        this.#failing = false
        this.#logger.info(
          { down_ms: this.#lastSuccess - this.#failingSince, counters: entries.length },
          'rate-limit sync: redis is back; backlog published',
        )
      }
      return true
    } finally {
      this.#running = false
    }
  }

  /**
   * This round's deltas merged with the backlog (which is emptied), minus what stopped mattering.
   * The keys the previous round took are read once more, even if unused since: that round may
   * have read them before other members published the same period's consumption, and a key
   * whose traffic stopped here would otherwise keep that view until its next request.
   */
  #gather(nowMs: number): Pending[] {
    const byKey = this.#backlog
    this.#backlog = new Map()
    const taken = this.#registry.takeRedisDeltas()
    for (const delta of taken) {
      const id = `${delta.window} ${delta.counter}`
      const known = byKey.get(id)
      const from = delta.count > 0 ? delta.since : nowMs
      if (known === undefined) byKey.set(id, { delta, count: delta.count, since: nowMs, from })
      else merge(known, delta.count, from)
    }
    for (const delta of this.#recent) {
      const id = `${delta.window} ${delta.counter}`
      if (!byKey.has(id)) byKey.set(id, { delta, count: 0, since: nowMs, from: nowMs })
    }
    this.#recent = taken
    const out: Pending[] = []
    for (const entry of byKey.values()) {
      if (matters(entry, nowMs)) out.push(entry)
      else if (entry.count > 0) this.#stats.dropped++
    }
    return out
  }

  async #run(entries: Pending[], sentAt: number): Promise<void> {
    const keys: string[] = []
    const args: string[] = [String(sentAt)]
    for (const { delta, count, from } of entries) {
      const { windowMs, count: quota, burst } = delta.rate
      if (delta.windowed) {
        keys.push(`${this.#prefix}w:${windowMs}:${delta.window}:${delta.counter}`)
        const ttl = Math.max(1000, Math.ceil(delta.window + 3 * windowMs - sentAt))
        args.push('w', String(count), String(ttl))
      } else {
        keys.push(`${this.#prefix}b:${windowMs}/${quota}:${delta.counter}`)
        const per = windowMs / quota
        // A debt of two intervals lets members that overshot together pay it back (see
        // docs/architecture.md), without an outage's backlog blocking a key for long.
        const cap = burst * per + 2 * this.#intervalMs
        args.push('b', String(count), String(per), String(cap), String(count > 0 ? from : sentAt))
      }
    }
    const replies = (await evalScript(this.#client, SCRIPT, keys, args)) as unknown[]
    const nowMs = this.#registry.now()
    entries.forEach(({ delta, count }, i) => {
      const reply = Number(replies[i])
      if (!Number.isFinite(reply)) return
      this.#stats.counters++
      this.#stats.published += count
      if (delta.windowed) {
        this.#registry.applyGlobal(delta.counter, delta.window, reply, nowMs)
      } else {
        // reply = TAT − sentAt: the bucket is full at TAT, and fills at count / window.
        const { windowMs, count: quota, burst } = delta.rate
        const aheadMs = reply - (nowMs - sentAt)
        const tokens = burst - (aheadMs > 0 ? aheadMs : 0) * (quota / windowMs)
        this.#registry.applyGlobal(delta.counter, 0, tokens, nowMs)
      }
    })
  }

  /** Counts the round, warns once per outage, and keeps the consumption for the next round. */
  #fail(entries: Pending[], error: Error, nowMs: number): void {
    if (this.#closed) return // a round cut short by close(): not an outage
    this.#stats.failures++
    for (const entry of entries) {
      if (entry.count <= 0) continue // a read only: the key will be read when used again
      if (this.#backlog.size >= this.#maxBacklog) {
        this.#stats.dropped++
        continue
      }
      const id = `${entry.delta.window} ${entry.delta.counter}`
      const known = this.#backlog.get(id)
      if (known === undefined) this.#backlog.set(id, entry)
      else merge(known, entry.count, entry.from)
    }
    if (this.#failing) return
    this.#failing = true
    this.#failingSince = nowMs
    this.#logger.warn(
      { err: error.message, backlog: this.#backlog.size },
      'rate-limit sync: redis unavailable; limiting on gossip and local counters until it returns',
    )
  }
}

/** Adds consumption to a pending entry; it began at the earlier of the two starts. */
function merge(entry: Pending, count: number, from: number): void {
  if (count <= 0) return
  entry.from = entry.count > 0 && entry.from < from ? entry.from : from
  entry.count += count
}

/**
 * True while published consumption could still change a decision: its window (or, sliding, the
 * next one) has not ended; for a bucket, it has not had time to refill.
 */
function matters(entry: Pending, nowMs: number): boolean {
  const { delta } = entry
  const { windowMs } = delta.rate
  if (delta.windowed) return delta.window + 2 * windowMs > nowMs
  return nowMs - entry.since < (delta.rate.burst * windowMs) / delta.rate.count
}
