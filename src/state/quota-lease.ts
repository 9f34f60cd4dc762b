/**
 * Quota leasing (issue 5): the worker's one Redis client for `quota:` policies. The request path
 * consumes from a key's local lease (src/rate-limit/quota.ts); this leaser fetches the
 * next block in the background when a lease runs low, gives unused units back when a key goes
 * idle or the worker stops, and publishes what members admitted on their local share while Redis
 * was away. One script call per lease or release (./quota-lease.lua.ts), never on the request's
 * time: the hot path only starts a call and goes on.
 *
 * Layout, under the configured key prefix:
 *   <prefix>q:<period>:<period start ms>:<counter>   units of the period handed out to members
 *       (leased, minus released); expires an hour after the period ends
 * where <period> is hour, day or month (so a policy whose period changes on a reload never reads
 * another period's count) and <counter> is `<policy>||<key>` like rate-limit counters.
 *
 * Exactness: a grant is taken atomically against the limit, and a member admits only units it
 * was granted, so the members never admit more than the limit in a period. Every failure errs
 * towards admitting less: a lease whose reply is lost (the script ran, the connection dropped) or
 * a release that cannot reach Redis before the period ends leaves units counted but unused.
 *
 * Redis down: each failed call is counted, one warning is logged per outage, and its recovery is
 * logged. Keys ask again at most once a second; debts (units admitted on a local share) are
 * retried by the sweep until published.
 */
import type { Redis } from 'ioredis'
import { createBackgroundRedis, evalScript, luaScript } from './redis-client.js'
import type { Logger } from 'pino'
import type { RateLimitRegistry } from '../rate-limit/registry.js'
import { periodEnd } from '../rate-limit/periods.js'
import type { QuotaCounter, QuotaLeaseSource, QuotaTable } from '../rate-limit/quota.js'
import { QUOTA_LEASE_SCRIPT, QUOTA_RELEASE_SCRIPT } from './quota-lease.lua.js'
import type { RedisConfig } from './schema.js'

const LEASE = luaScript(QUOTA_LEASE_SCRIPT)
const RELEASE = luaScript(QUOTA_RELEASE_SCRIPT)
/** A period's key outlives the period by this much, so a late release still finds it. */
const TTL_MARGIN_MS = 3_600_000
/** A key unused this long gives its lease back: an idle member should not hold quota. */
const IDLE_MS = 30_000
/** How often idle keys are looked for, debts and failed releases retried. */
const SWEEP_MS = 1000
/** A lease asked for before the first connection waits this long for it, not counted a failure. */
const FIRST_CONNECT_WAIT_MS = 2000
/** Releases kept to retry after a failure; beyond it units stay counted (under-admission). */
const MAX_PENDING_RELEASES = 10_000

export interface QuotaLeaserOptions {
  /** Members sharing each quota when Redis is down (local_share); default 1. */
  readonly members?: () => number
  /** Overrides IDLE_MS (tests). */
  readonly idleMs?: number
  /** Overrides SWEEP_MS (tests). */
  readonly sweepMs?: number
}

export interface QuotaLeaseStats {
  /** Lease calls answered. */
  leases: number
  /** Units granted over all leases. */
  granted: number
  /** Units given back. */
  released: number
  /** Calls that failed (Redis down or an error); one warning per outage. */
  failures: number
  /** Units given up: releases that could not reach Redis in their period. */
  lost: number
}

interface PendingRelease {
  readonly key: string
  readonly units: number
  readonly periodEnd: number
}

export class QuotaLeaser implements QuotaLeaseSource {
  readonly #registry: RateLimitRegistry
  readonly #logger: Logger
  readonly #client: Redis
  readonly #prefix: string
  readonly #members: () => number
  readonly #idleMs: number
  readonly #sweepMs: number
  readonly #inFlight = new Set<Promise<void>>()
  #releases: PendingRelease[] = []
  #timer: NodeJS.Timeout | null = null
  #closing = false
  /** Connected once: before that, a lease waits for the connection instead of failing. */
  #connected = false
  #failing = false
  #failingSince = 0
  #stats: QuotaLeaseStats = { leases: 0, granted: 0, released: 0, failures: 0, lost: 0 }

  /** The settings it runs with, so a reload can tell whether to keep it. */
  readonly config: RedisConfig

  constructor(
    registry: RateLimitRegistry,
    config: RedisConfig,
    logger: Logger,
    options: QuotaLeaserOptions = {},
  ) {
    this.#registry = registry
    this.#logger = logger
    this.config = config
    this.#prefix = `${config.key_prefix}q:`
    this.#members = options.members ?? (() => 1)
    this.#idleMs = options.idleMs ?? IDLE_MS
    this.#sweepMs = options.sweepMs ?? SWEEP_MS
    // Nothing waits for a lease: while Redis is down calls fail at once and keys ask again.
    this.#client = createBackgroundRedis(config.url)
    this.#client.once('ready', () => {
      this.#connected = true
    })
  }

  /** True while leases can be granted. */
  get healthy(): boolean {
    return !this.#closing && !this.#failing && this.#client.status === 'ready'
  }

  get members(): number {
    return this.#members()
  }

  get stats(): Readonly<QuotaLeaseStats> {
    return { ...this.#stats }
  }

  /** Resolves when the connection is up (tests; the worker does not wait for it). */
  async ready(timeoutMs = 10_000): Promise<void> {
    if (this.#client.status === 'ready') return
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#client.off('ready', done)
        resolve()
      }
      const timer = setTimeout(done, timeoutMs)
      this.#client.once('ready', done)
    })
  }

  start(): void {
    this.#registry.quotaSource = this
    this.#client.connect().catch(() => {
      // Reported by the first call that fails; ioredis keeps reconnecting.
    })
    this.#timer = setInterval(() => this.sweep(), this.#sweepMs)
    this.#timer.unref()
  }

  /**
   * Gives every lease back, then disconnects. Leases in flight are awaited first, so their units
   * are released too.
   */
  async close(): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    await this.settled()
    const now = this.#registry.now()
    for (const table of this.#registry.allQuotaTables()) table.releaseAll(now, this)
    await this.settled()
    if (this.#registry.quotaSource === this) this.#registry.quotaSource = null
    this.#client.disconnect()
  }

  /** Resolves when no lease or release is in flight (tests, close). */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight])
  }

  lease(table: QuotaTable, counter: QuotaCounter, want: number, debt: number): void {
    // Stopping: requests still served during the drain get no new quota to strand.
    if (this.#closing) return table.leaseFailed(counter, this.#registry.now())
    this.#track(this.#lease(table, counter, counter.periodStart, want, debt))
  }

  release(table: QuotaTable, counterId: string, periodStart: number, units: number): void {
    this.#track(
      this.#release({
        key: this.#key(table, counterId, periodStart),
        units,
        periodEnd: periodEnd(table.period, periodStart),
      }),
    )
  }

  /**
   * What the timer runs: idle keys give their leases back, debts left by an outage are
   * published, and releases that failed are tried again while their period lasts.
   */
  sweep(): void {
    if (this.#closing) return
    const now = this.#registry.now()
    for (const table of this.#registry.quotaTables().values()) {
      table.sweepIdle(now - this.#idleMs, now)
      for (const counter of table.withDebt()) table.requestLease(counter, now)
    }
    if (this.#releases.length > 0 && this.#client.status === 'ready') {
      const retry = this.#releases
      this.#releases = []
      for (const entry of retry) this.#track(this.#release(entry))
    }
  }

  #track(call: Promise<void>): void {
    this.#inFlight.add(call)
    void call.finally(() => this.#inFlight.delete(call))
  }

  #key(table: QuotaTable, counterId: string, periodStart: number): string {
    return `${this.#prefix}${table.period}:${periodStart}:${counterId}`
  }

  async #lease(
    table: QuotaTable,
    counter: QuotaCounter,
    periodStart: number,
    want: number,
    debt: number,
  ): Promise<void> {
    try {
      // A worker's first requests may come before its first connection: not an outage.
      if (!this.#connected) await this.ready(FIRST_CONNECT_WAIT_MS)
      if (this.#client.status !== 'ready') throw new Error(`connection ${this.#client.status}`)
      const sentAt = this.#registry.now()
      const ttl = periodEnd(table.period, periodStart) - sentAt + TTL_MARGIN_MS
      const reply = (await evalScript(
        this.#client,
        LEASE,
        [this.#key(table, counter.id, periodStart)],
        [table.limit, want, Math.max(1000, ttl), debt],
      )) as [number, number]
      const grant = Number(reply[0])
      const used = Number(reply[1])
      this.#stats.leases++
      this.#stats.granted += grant
      const back = table.applyLease(counter, periodStart, debt, grant, used, this.#registry.now())
      if (back > 0) this.release(table, counter.id, periodStart, back)
      this.#recovered()
    } catch (error) {
      table.leaseFailed(counter, this.#registry.now())
      this.#fail(error as Error)
    }
  }

  async #release(entry: PendingRelease): Promise<void> {
    try {
      if (this.#client.status !== 'ready') throw new Error(`connection ${this.#client.status}`)
      await evalScript(this.#client, RELEASE, [entry.key], [entry.units])
      this.#stats.released += entry.units
      this.#recovered()
    } catch (error) {
      // Kept for the sweep while its period lasts (and the worker runs); else it is under-admission.
      if (
        this.#closing ||
        entry.periodEnd <= this.#registry.now() ||
        this.#releases.length >= MAX_PENDING_RELEASES
      ) {
        this.#stats.lost += entry.units
      } else {
        this.#releases.push(entry)
      }
      this.#fail(error as Error)
    }
  }

  #fail(error: Error): void {
    this.#stats.failures++
    if (this.#failing || this.#closing) return
    this.#failing = true
    this.#failingSince = this.#registry.now()
    this.#logger.warn(
      { err: error.message },
      'quota leases: redis unavailable; quotas refuse once their leases are spent ' +
        '(on_redis_down: deny) or admit limit / members on each member (local_share)',
    )
  }

  #recovered(): void {
    if (!this.#failing) return
    this.#failing = false
    this.#logger.info(
      { down_ms: this.#registry.now() - this.#failingSince },
      'quota leases: redis is back; leasing again and publishing local-share debts',
    )
  }
}
