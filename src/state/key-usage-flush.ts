/**
 * Writes a worker's per-key usage (keys/usage.ts) to Redis on a timer (`api_keys.usage_flush`):
 * one pipeline per flush, of script calls that add the counts and keep the newest last use
 * (credentials.lua.ts `usage`). The request path only counts in memory. While Redis is down the
 * counts wait for the next flush, merged, up to {@link MAX_PENDING_KEYS} keys; beyond that a new
 * key's counts are dropped and the drop is logged once per outage.
 */
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { KeyUsage, KeyUsageCount } from '../keys/usage.js'
import { credentialKeys, keyUsageHash, type CredentialKeys } from './credential-layout.js'
import { RECORD_USAGE_SCRIPT } from './credentials.lua.js'
import { createBackgroundRedis, luaScript } from './redis-client.js'
import type { RedisConfig } from './schema.js'

const SCRIPT = luaScript(RECORD_USAGE_SCRIPT)
/** Keys per script call: each call stays short, so other Redis clients are not held up. */
const KEYS_PER_CALL = 256
/** Keys whose counts are kept across failed flushes; one entry is a few dozen bytes. */
const MAX_PENDING_KEYS = 100_000
/** The bound: at most one write per second per worker. */
export const MIN_USAGE_FLUSH_MS = 1000

export class KeyUsageFlush {
  readonly #usage: KeyUsage
  readonly #logger: Logger
  readonly #keys: CredentialKeys
  readonly #redis: Redis
  readonly #intervalMs: number
  /** Counts drained and not written yet. */
  #pending = new Map<string, KeyUsageCount>()
  #timer: NodeJS.Timeout | null = null
  #flushing: Promise<void> | null = null
  #failing = false
  #dropped = 0

  /** The settings it runs with, so a reload can tell whether to keep it. */
  readonly config: RedisConfig

  constructor(usage: KeyUsage, config: RedisConfig, intervalMs: number, logger: Logger) {
    this.#usage = usage
    this.#logger = logger
    this.config = config
    this.#keys = credentialKeys(config.key_prefix)
    this.#intervalMs = Math.max(MIN_USAGE_FLUSH_MS, intervalMs)
    this.#redis = createBackgroundRedis(config.url)
    this.#redis.on('error', (error: Error) => this.#fail(error))
  }

  get intervalMs(): number {
    return this.#intervalMs
  }

  start(): void {
    this.#redis.connect().catch((error: Error) => this.#fail(error))
    this.#timer = setInterval(() => void this.flush(), this.#intervalMs)
    this.#timer.unref()
  }

  /** Writes what was counted so far, then stops. */
  async close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    await this.flush()
    this.#redis.disconnect()
  }

  /** One flush; a flush still running is waited for instead of starting another. */
  flush(): Promise<void> {
    this.#flushing ??= this.#write().finally(() => {
      this.#flushing = null
    })
    return this.#flushing
  }

  async #write(): Promise<void> {
    this.#merge(this.#usage.drain())
    if (this.#pending.size === 0 || this.#redis.status !== 'ready') return
    const batch = this.#pending
    this.#pending = new Map()
    try {
      await this.#send(batch)
      if (this.#failing) {
        this.#failing = false
        this.#logger.info({ dropped_keys: this.#dropped }, 'key usage flush: redis is back')
        this.#dropped = 0
      }
    } catch (error) {
      // Kept for the next flush; a pipeline that failed half-way may count those calls twice.
      this.#merge(batch)
      this.#fail(error as Error)
    }
  }

  async #send(batch: Map<string, KeyUsageCount>): Promise<void> {
    // Loaded first in the same pipeline: a restarted Redis knows no scripts, and Redis runs the
    // pipeline in order.
    const pipeline = this.#redis.pipeline().script('LOAD', SCRIPT.source)
    let keys: string[] = []
    let args: (string | number)[] = []
    const call = () => {
      pipeline.evalsha(SCRIPT.sha, keys.length, ...keys, ...args)
      keys = []
      args = []
    }
    for (const [id, count] of batch) {
      keys.push(keyUsageHash(this.#keys, id))
      args.push(count.admitted, count.refused, count.lastUsedMs, count.lastAddress)
      if (keys.length === KEYS_PER_CALL) call()
    }
    if (keys.length > 0) call()
    const replies = (await pipeline.exec()) ?? []
    for (const [error] of replies) if (error !== null) throw error
  }

  #merge(counts: Map<string, KeyUsageCount>): void {
    if (this.#pending.size === 0 && counts.size <= MAX_PENDING_KEYS) {
      this.#pending = counts
      return
    }
    for (const [id, count] of counts) {
      const held = this.#pending.get(id)
      if (held !== undefined) {
        held.admitted += count.admitted
        held.refused += count.refused
        if (count.lastUsedMs > held.lastUsedMs) {
          held.lastUsedMs = count.lastUsedMs
          held.lastAddress = count.lastAddress
        }
      } else if (this.#pending.size < MAX_PENDING_KEYS) {
        this.#pending.set(id, count)
      } else {
        this.#dropped++
      }
    }
  }

  #fail(error: Error): void {
    // One warning per outage, not one per flush.
    if (this.#failing) return
    this.#failing = true
    this.#logger.warn(
      { err: error.message },
      'key usage flush: redis unavailable; keeping counts for the next flush',
    )
  }
}
