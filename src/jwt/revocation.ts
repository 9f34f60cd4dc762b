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
import type { Logger } from 'pino'
import { createRedis } from '../state/redis-client.js'
import type { RedisConfig } from '../state/schema.js'
import { VersionedSync, type SyncedSet, type SyncStatus } from '../state/versioned-sync.js'

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

/**
 * Keeps a worker's {@link RevocationList} in step with Redis (state/versioned-sync.ts): a message
 * adds one jti at once; a new version rereads the whole set, which also drops expired entries.
 */
export class RedisRevocationSync implements SyncedSet {
  readonly #list: RevocationList
  readonly #keys: ReturnType<typeof revocationKeys>
  readonly #sync: VersionedSync

  /** The settings it runs with, so a reload can tell whether to keep it. */
  readonly config: RedisConfig

  constructor(list: RevocationList, config: RedisConfig, logger: Logger) {
    this.#list = list
    this.config = config
    this.#keys = revocationKeys(config.key_prefix)
    this.#sync = new VersionedSync(this, config, logger, {
      name: 'revocation sync',
      whileDown: 'keeping the last known list',
      versionKey: this.#keys.version,
      channel: this.#keys.channel,
      ordered: false,
    })
  }

  get status(): SyncStatus {
    return this.#sync.status
  }

  start(): void {
    this.#sync.start()
  }

  close(): void {
    this.#sync.close()
  }

  receive(message: string): void {
    const space = message.indexOf(' ')
    const exp = Number(message.slice(0, space))
    const jti = message.slice(space + 1)
    if (space <= 0 || !Number.isFinite(exp) || jti === '') return
    this.#list.add(jti, exp)
  }

  async readAll(redis: Redis): Promise<Record<string, number>> {
    const nowS = Math.floor(Date.now() / 1000)
    const flat = await redis.zrangebyscore(this.#keys.set, nowS, '+inf', 'WITHSCORES')
    const entries = new Map<string, number>()
    for (let i = 0; i + 1 < flat.length; i += 2) entries.set(flat[i]!, Number(flat[i + 1]))
    this.#list.replace(entries)
    return { revoked: entries.size }
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
