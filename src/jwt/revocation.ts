/**
 * The jti deny-list. Revoked ids come from config (`revocation.jtis`, DB-less) and, when Redis is
 * configured, from a sorted set that `portcullis revoke` writes (score = the token's exp, so an
 * entry lives exactly as long as the token could). Lookups are a Set/Map probe on the hot path;
 * Redis is read in the background only.
 *
 * Redis layout, under the configured key prefix:
 *   <prefix>revoked          ZSET  member = jti, score = exp (unix seconds)
 *   <prefix>revoked:version  INCR on every revocation: a worker polls it each second and rereads
 *                            the set only when it moved
 *   <prefix>revocations      channel: "<exp> <jti>", pushed so workers apply it at once
 */
import type { Redis } from 'ioredis'
import { createBackgroundRedis, createRedis } from '../state/redis-client.js'
import type { Logger } from 'pino'
import type { RedisConfig } from '../state/schema.js'

/** Workers learn of a revocation within a second even when the pub/sub message was lost. */
const POLL_MS = 1000

export class RevocationList {
  #fromConfig: ReadonlySet<string> = new Set()
  /** jti → exp in unix seconds. */
  #fromRedis = new Map<string, number>()
  #empty = true

  has(jti: string): boolean {
    if (this.#empty) return false
    if (this.#fromConfig.has(jti)) return true
    // Expired entries go at the next full read (after the next revocation); an expired token is
    // refused as expired anyway.
    return this.#fromRedis.has(jti)
  }

  setConfigured(jtis: readonly string[]): void {
    this.#fromConfig = new Set(jtis)
    this.#updateEmpty()
  }

  add(jti: string, expS: number): void {
    this.#fromRedis.set(jti, expS)
    this.#empty = false
  }

  /** Replaces the Redis part with a full read. */
  replace(entries: Map<string, number>): void {
    this.#fromRedis = entries
    this.#updateEmpty()
  }

  #updateEmpty(): void {
    this.#empty = this.#fromConfig.size === 0 && this.#fromRedis.size === 0
  }
}

export function revocationKeys(prefix: string) {
  return {
    set: `${prefix}revoked`,
    version: `${prefix}revoked:version`,
    channel: `${prefix}revocations`,
  }
}

/** Keeps a worker's {@link RevocationList} in step with Redis: pub/sub for speed, a poll for safety. */
export class RedisRevocationSync {
  readonly #list: RevocationList
  readonly #logger: Logger
  readonly #keys: ReturnType<typeof revocationKeys>
  readonly #commands: Redis
  readonly #subscriber: Redis
  #version: string | null = null
  #timer: NodeJS.Timeout | null = null
  #failing = false

  /** The settings it runs with, so a reload can tell whether to keep it. */
  readonly config: RedisConfig

  constructor(list: RevocationList, config: RedisConfig, logger: Logger) {
    this.#list = list
    this.#logger = logger
    this.config = config
    this.#keys = revocationKeys(config.key_prefix)
    // The subscriber queues its SUBSCRIBE until connected; commands fail at once while Redis is
    // down and the poll tries again.
    this.#commands = createBackgroundRedis(config.url)
    this.#subscriber = createBackgroundRedis(config.url, { offlineQueue: true })
    for (const client of [this.#commands, this.#subscriber]) {
      client.on('error', (error: Error) => this.#fail(error))
    }
    this.#subscriber.on('message', (_channel: string, message: string) => this.#onMessage(message))
    this.#subscriber.on('ready', () => {
      // Anything revoked while the subscription was down is read by the next poll.
      this.#version = null
    })
  }

  start(): void {
    void this.#subscriber.connect().then(
      () => this.#subscriber.subscribe(this.#keys.channel),
      (error: Error) => this.#fail(error),
    )
    void this.#commands.connect().then(
      () => this.#poll(),
      (error: Error) => this.#fail(error),
    )
    this.#timer = setInterval(() => void this.#poll(), POLL_MS)
    this.#timer.unref()
  }

  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.#commands.disconnect()
    this.#subscriber.disconnect()
  }

  #onMessage(message: string): void {
    const space = message.indexOf(' ')
    const exp = Number(message.slice(0, space))
    const jti = message.slice(space + 1)
    if (space <= 0 || !Number.isFinite(exp) || jti === '') return
    this.#list.add(jti, exp)
  }

  async #poll(): Promise<void> {
    if (this.#commands.status !== 'ready') return
    try {
      const version = await this.#commands.get(this.#keys.version)
      if (version === this.#version) return
      const nowS = Math.floor(Date.now() / 1000)
      const flat = await this.#commands.zrangebyscore(this.#keys.set, nowS, '+inf', 'WITHSCORES')
      const entries = new Map<string, number>()
      for (let i = 0; i + 1 < flat.length; i += 2) entries.set(flat[i]!, Number(flat[i + 1]))
      this.#list.replace(entries)
      this.#version = version
      if (this.#failing) {
        this.#failing = false
        this.#logger.info({ revoked: entries.size }, 'revocation sync recovered')
      }
    } catch (error) {
      this.#fail(error as Error)
    }
  }

  #fail(error: Error): void {
    // One warning per outage, not one per retry.
    if (this.#failing) return
    this.#failing = true
    this.#logger.warn(
      { err: error.message },
      'revocation sync: redis unavailable; keeping the last known list',
    )
  }
}

/** What `portcullis revoke` does: record the jti until exp, tell every worker, drop expired ids. */
export async function revokeInRedis(config: RedisConfig, jti: string, expS: number): Promise<void> {
  const keys = revocationKeys(config.key_prefix)
  const redis = createRedis(config.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await redis.connect()
    const nowS = Math.floor(Date.now() / 1000)
    await redis
      .multi()
      .zadd(keys.set, expS, jti)
      .zremrangebyscore(keys.set, '-inf', nowS - 1)
      .incr(keys.version)
      .publish(keys.channel, `${expS} ${jti}`)
      .exec()
  } finally {
    redis.disconnect()
  }
}
