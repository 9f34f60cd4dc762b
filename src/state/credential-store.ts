/**
 * The admin side of consumers, API keys and HMAC credentials in Redis (credential-layout.ts), used only by the admin
 * API. Every change is one script (credentials.lua.ts) that writes, INCRs the version and
 * publishes, so workers (credential-sync.ts) see it within a second. An update reads the record,
 * changes it and writes it only if nobody changed it meanwhile, trying again a few times.
 *
 * Inputs are validated by the caller (the admin API's schemas); the store checks what only it can:
 * existence, conflicts and key state. A key for a consumer the config declares is allowed (keys
 * always live here), so the store does not require the consumer to be in Redis. HMAC secrets are
 * sealed here (secret-box.ts) before they reach Redis, and never leave this module in clear except
 * as the answer to the call that made them.
 */
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { generateApiKey, keyDisplay } from '../keys/format.js'
import type { KeyHasher } from '../keys/hash.js'
import type { HmacAlgorithm } from '../hmac/keys.js'
import type { StoredConsumer, StoredHmacCredential, StoredKey } from '../keys/records.js'
import {
  consumerHmacSet,
  consumerKeySet,
  credentialKeys,
  keyUsageHash,
  USAGE_FIELDS,
  type CredentialKeys,
} from './credential-layout.js'
import {
  DELETE_CONSUMER_SCRIPT,
  DELETE_RECORD_SCRIPT,
  PUT_RECORDS_SCRIPT,
} from './credentials.lua.js'
import { createRedis, evalScript, luaScript } from './redis-client.js'
import type { RedisConfig } from './schema.js'
import { SecretKeyring } from './secret-box.js'

const PUT = luaScript(PUT_RECORDS_SCRIPT)
const DELETE_CONSUMER = luaScript(DELETE_CONSUMER_SCRIPT)
const DELETE_RECORD = luaScript(DELETE_RECORD_SCRIPT)
/** A generated HMAC secret: the output length of SHA-256 (RFC 2104 §3). */
const GENERATED_SECRET_BYTES = 32
/** Records per HSCAN round of a re-encryption: each is one script call, so rounds stay short. */
const REENCRYPT_BATCH = 200

/** How long a call waits for a connection before answering 503: an admin waits, a script retries. */
const CONNECT_WAIT_MS = 2000
/** A Redis that accepts the connection but does not answer fails the call after this long. */
const COMMAND_TIMEOUT_MS = 5000
/** Read-change-write rounds before a record changed by others every time is reported a conflict. */
const MAX_ATTEMPTS = 5
/** Error replies that mean Redis cannot serve now, not that the command was wrong. */
const OUTAGE_REPLY = /^(LOADING|BUSY|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN)\b/
const KEY_ID_LENGTH = 16
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const UNBIASED_LIMIT = 256 - (256 % 62)

/** Redis is down or not configured: the admin API answers 503 `store_unavailable`. */
export class StoreUnavailableError extends Error {}
/** The name exists already, or the key is not active: the admin API answers 409 `conflict`. */
export class StoreConflictError extends Error {}
/**
 * An HMAC secret to seal and no `redis.encryption_keys`: the admin API answers 503
 * `encryption_not_configured`.
 */
export class EncryptionUnconfiguredError extends Error {}

export interface Page<T> {
  items: T[]
  /** Pass it back for the next page; null: this was the last. */
  next_cursor: string | null
}
export interface NewConsumer {
  name: string
  groups?: string[]
  tier?: string | null
  metadata?: Record<string, string>
  disabled?: boolean
  ip?: ConsumerIpInput | null
}
export interface ConsumerChange {
  groups?: string[]
  tier?: string | null
  metadata?: Record<string, string>
  disabled?: boolean
  ip?: ConsumerIpInput | null
}
/** A consumer's client address rules (consumers/schema.ts ConsumerIpSchema). */
export interface ConsumerIpInput {
  allow?: string[]
  deny?: string[]
}
export interface NewKey {
  consumer: string
  prefix: string
  label?: string | null
  scopes?: string[]
  not_before?: string | null
  expires_at?: string | null
  allow_ips?: string[]
  deny_ips?: string[]
}
export interface NewHmacCredential {
  consumer: string
  /** null: generated (`hk_` and 16 base62 characters). */
  key_id: string | null
  /** null: 32 random bytes, returned once. */
  secret: Buffer | null
  algorithm: HmacAlgorithm
  label: string | null
  scopes: string[]
  expires_at: string | null
}
/** What a create or rotate answers: the secret only when the store generated it. */
export interface IssuedHmacCredential {
  secret: Buffer | null
  record: StoredHmacCredential
}
export interface HmacReencryption {
  /** The key every active secret is now sealed with. */
  encryption_key: string
  reencrypted: number
  /** Key ids whose secret did not decrypt with the configured keys. */
  failed: string[]
}
export interface KeyUsageRecord {
  admitted: number
  refused: number
  last_used_at: string | null
  last_address: string | null
}

export class CredentialStore {
  readonly #redis: Redis
  readonly #keys: CredentialKeys
  readonly #hasher: KeyHasher
  readonly #keyring: SecretKeyring

  constructor(redis: RedisConfig, hasher: KeyHasher) {
    this.#keys = credentialKeys(redis.key_prefix)
    this.#hasher = hasher
    this.#keyring = new SecretKeyring(redis.encryption_keys ?? [])
    this.#redis = createRedis(redis.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      retryStrategy: (times: number) => Math.min(100 * 2 ** times, 2000),
    })
    // Errors reach the caller as StoreUnavailableError; the client keeps reconnecting.
    this.#redis.on('error', () => {})
    this.#redis.connect().catch(() => {})
  }

  async close(): Promise<void> {
    this.#redis.disconnect()
  }

  async createConsumer(c: NewConsumer): Promise<StoredConsumer> {
    const now = new Date().toISOString()
    const record: StoredConsumer = {
      name: c.name,
      groups: c.groups ?? [],
      tier: c.tier ?? null,
      metadata: c.metadata ?? {},
      disabled: c.disabled ?? false,
      ...(c.ip === undefined || c.ip === null ? {} : { ip: c.ip }),
      created_at: now,
      updated_at: now,
    }
    const result = await this.#putConsumer(record, '')
    if (result === 0) throw new StoreConflictError(`consumer "${c.name}" exists already`)
    return record
  }

  async getConsumer(name: string): Promise<StoredConsumer | null> {
    const json = await this.#call((r) => r.hget(this.#keys.consumers, name))
    return json === null ? null : (JSON.parse(json) as StoredConsumer)
  }

  async listConsumers(cursor: string | null, limit: number): Promise<Page<StoredConsumer>> {
    return this.#page(this.#keys.consumerIndex, this.#keys.consumers, cursor, limit)
  }

  async updateConsumer(name: string, change: ConsumerChange): Promise<StoredConsumer | null> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.#call((r) => r.hget(this.#keys.consumers, name))
      if (current === null) return null
      const old = JSON.parse(current) as StoredConsumer
      const record: StoredConsumer = {
        ...old,
        ...(change.groups === undefined ? {} : { groups: change.groups }),
        ...(change.tier === undefined ? {} : { tier: change.tier }),
        ...(change.metadata === undefined ? {} : { metadata: change.metadata }),
        ...(change.disabled === undefined ? {} : { disabled: change.disabled }),
        ...(change.ip === undefined ? {} : { ip: change.ip }),
        updated_at: new Date().toISOString(),
      }
      if ((await this.#putConsumer(record, current)) > 0) return record
    }
    throw new StoreConflictError(`consumer "${name}" kept changing; try again`)
  }

  async deleteConsumer(name: string): Promise<boolean> {
    const k = this.#keys
    const result = await this.#call((r) =>
      evalScript(
        r,
        DELETE_CONSUMER,
        [
          k.consumers,
          k.consumerIndex,
          k.keys,
          k.keyIndex,
          consumerKeySet(k, name),
          k.version,
          k.channel,
          k.hmac,
          k.hmacIndex,
          consumerHmacSet(k, name),
        ],
        [name, k.usagePrefix, messageTail('consumer', name, 'null')],
      ),
    )
    return Number(result) > 0
  }

  async createKey(k: NewKey): Promise<{ key: string; record: StoredKey }> {
    const now = new Date().toISOString()
    for (;;) {
      const key = generateApiKey(k.prefix)
      const { last4 } = keyDisplay(key)
      const record: StoredKey = {
        id: newKeyId(),
        hash: this.#hasher.hash(key),
        consumer: k.consumer,
        prefix: k.prefix,
        last4,
        label: k.label ?? null,
        scopes: k.scopes ?? [],
        not_before: k.not_before ?? null,
        expires_at: k.expires_at ?? null,
        allow_ips: k.allow_ips ?? [],
        deny_ips: k.deny_ips ?? [],
        state: 'active',
        created_at: now,
        revoked_at: null,
        rotated_from: null,
        rotated_to: null,
      }
      // 0: the id exists (one chance in 62^16); draw another.
      if ((await this.#putKeys(k.consumer, [[record, '']])) > 0) return { key, record }
    }
  }

  async getKey(id: string): Promise<StoredKey | null> {
    const json = await this.#call((r) => r.hget(this.#keys.keys, id))
    return json === null ? null : (JSON.parse(json) as StoredKey)
  }

  async listKeys(
    consumer: string | null,
    cursor: string | null,
    limit: number,
  ): Promise<Page<StoredKey>> {
    if (consumer === null) return this.#page(this.#keys.keyIndex, this.#keys.keys, cursor, limit)
    return this.#memberPage(consumerKeySet(this.#keys, consumer), this.#keys.keys, cursor, limit)
  }

  async revokeKey(id: string): Promise<StoredKey | null> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.#call((r) => r.hget(this.#keys.keys, id))
      if (current === null) return null
      const old = JSON.parse(current) as StoredKey
      if (old.state !== 'active') throw new StoreConflictError(`key ${id} is revoked already`)
      const record: StoredKey = { ...old, state: 'revoked', revoked_at: new Date().toISOString() }
      if ((await this.#putKeys(old.consumer, [[record, current]])) > 0) return record
    }
    throw new StoreConflictError(`key ${id} kept changing; try again`)
  }

  /**
   * A new key with the old one's consumer, prefix, label, scopes, expiry and allow-list; the old
   * key stays valid until min(its expiry, now + grace). Refused (conflict) for a key that is
   * revoked, expired, or rotated already.
   */
  async rotateKey(
    id: string,
    graceMs: number,
  ): Promise<{ key: string; record: StoredKey; previous: StoredKey } | null> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.#call((r) => r.hget(this.#keys.keys, id))
      if (current === null) return null
      const old = JSON.parse(current) as StoredKey
      const nowMs = Date.now()
      if (old.state !== 'active') throw new StoreConflictError(`key ${id} is revoked`)
      if (old.rotated_to !== null) {
        throw new StoreConflictError(`key ${id} was rotated already, to ${old.rotated_to}`)
      }
      const oldExpiresMs = old.expires_at === null ? Infinity : Date.parse(old.expires_at)
      if (oldExpiresMs <= nowMs) throw new StoreConflictError(`key ${id} has expired`)
      const now = new Date(nowMs).toISOString()
      const key = generateApiKey(old.prefix)
      const record: StoredKey = {
        ...old,
        id: newKeyId(),
        hash: this.#hasher.hash(key),
        last4: keyDisplay(key).last4,
        not_before: null,
        created_at: now,
        revoked_at: null,
        rotated_from: old.id,
        rotated_to: null,
      }
      const graceEndMs = nowMs + Math.max(0, graceMs)
      const previous: StoredKey = {
        ...old,
        expires_at: graceEndMs < oldExpiresMs ? new Date(graceEndMs).toISOString() : old.expires_at,
        rotated_to: record.id,
      }
      const result = await this.#putKeys(old.consumer, [
        [record, ''],
        [previous, current],
      ])
      if (result > 0) return { key, record, previous }
      // -1: the old key changed meanwhile; 0: the new id exists. Either way, again.
    }
    throw new StoreConflictError(`key ${id} kept changing; try again`)
  }

  /** Whether new HMAC secrets can be sealed (`redis.encryption_keys` is set). */
  get canSealSecrets(): boolean {
    return this.#keyring.canSeal
  }

  async createHmac(c: NewHmacCredential): Promise<IssuedHmacCredential> {
    const keyring = this.#requireKeyring()
    const secret = c.secret ?? randomBytes(GENERATED_SECRET_BYTES)
    const now = new Date().toISOString()
    for (;;) {
      const keyId = c.key_id ?? newId('hk_')
      const record: StoredHmacCredential = {
        key_id: keyId,
        consumer: c.consumer,
        algorithm: c.algorithm,
        scopes: c.scopes,
        label: c.label,
        secret: keyring.seal(secret, { consumer: c.consumer, keyId }),
        state: 'active',
        expires_at: c.expires_at,
        created_at: now,
        revoked_at: null,
        rotated_from: null,
        rotated_to: null,
      }
      if ((await this.#putHmac(c.consumer, [[record, '']])) > 0) {
        return { secret: c.secret === null ? secret : null, record }
      }
      if (c.key_id !== null) throw new StoreConflictError(`HMAC key id "${keyId}" exists already`)
      // A generated id that exists (one chance in 62^16): draw another.
    }
  }

  async getHmac(keyId: string): Promise<StoredHmacCredential | null> {
    const json = await this.#call((r) => r.hget(this.#keys.hmac, keyId))
    return json === null ? null : (JSON.parse(json) as StoredHmacCredential)
  }

  async listHmac(
    consumer: string | null,
    cursor: string | null,
    limit: number,
  ): Promise<Page<StoredHmacCredential>> {
    const k = this.#keys
    if (consumer === null) return this.#page(k.hmacIndex, k.hmac, cursor, limit)
    return this.#memberPage(consumerHmacSet(k, consumer), k.hmac, cursor, limit)
  }

  async revokeHmac(keyId: string): Promise<StoredHmacCredential | null> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.#call((r) => r.hget(this.#keys.hmac, keyId))
      if (current === null) return null
      const old = JSON.parse(current) as StoredHmacCredential
      if (old.state !== 'active')
        throw new StoreConflictError(`HMAC key ${keyId} is revoked already`)
      const record: StoredHmacCredential = {
        ...old,
        state: 'revoked',
        revoked_at: new Date().toISOString(),
      }
      if ((await this.#putHmac(old.consumer, [[record, current]])) > 0) return record
    }
    throw new StoreConflictError(`HMAC key ${keyId} kept changing; try again`)
  }

  /**
   * A new credential (new key id and secret) with the old one's consumer, algorithm, scopes,
   * label and expiry; the old one keeps verifying until min(its expiry, now + grace), so clients
   * switch key id and secret together meanwhile. The new secret is sealed with the current
   * encryption key. Refused (conflict) for a credential revoked, expired or rotated already.
   */
  async rotateHmac(
    keyId: string,
    graceMs: number,
    next: { key_id: string | null; secret: Buffer | null },
  ): Promise<(IssuedHmacCredential & { previous: StoredHmacCredential }) | null> {
    const keyring = this.#requireKeyring()
    const secret = next.secret ?? randomBytes(GENERATED_SECRET_BYTES)
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.#call((r) => r.hget(this.#keys.hmac, keyId))
      if (current === null) return null
      const old = JSON.parse(current) as StoredHmacCredential
      const nowMs = Date.now()
      if (old.state !== 'active') throw new StoreConflictError(`HMAC key ${keyId} is revoked`)
      if (old.rotated_to !== null) {
        throw new StoreConflictError(`HMAC key ${keyId} was rotated already, to ${old.rotated_to}`)
      }
      const oldExpiresMs = old.expires_at === null ? Infinity : Date.parse(old.expires_at)
      if (oldExpiresMs <= nowMs) throw new StoreConflictError(`HMAC key ${keyId} has expired`)
      const newKeyId = next.key_id ?? newId('hk_')
      const record: StoredHmacCredential = {
        ...old,
        key_id: newKeyId,
        secret: keyring.seal(secret, { consumer: old.consumer, keyId: newKeyId }),
        created_at: new Date(nowMs).toISOString(),
        revoked_at: null,
        rotated_from: old.key_id,
        rotated_to: null,
      }
      const graceEndMs = nowMs + Math.max(0, graceMs)
      const previous: StoredHmacCredential = {
        ...old,
        expires_at: graceEndMs < oldExpiresMs ? new Date(graceEndMs).toISOString() : old.expires_at,
        rotated_to: newKeyId,
      }
      const result = await this.#putHmac(old.consumer, [
        [record, ''],
        [previous, current],
      ])
      if (result > 0) return { secret: next.secret === null ? secret : null, record, previous }
      if (result === 0 && next.key_id !== null) {
        throw new StoreConflictError(`HMAC key id "${newKeyId}" exists already`)
      }
      // -1: the old record changed meanwhile; 0: a generated id exists. Either way, again.
    }
    throw new StoreConflictError(`HMAC key ${keyId} kept changing; try again`)
  }

  /**
   * Re-encrypts with the current (first) encryption key every active secret sealed with another,
   * so an old key can leave `redis.encryption_keys`; the secrets and key ids stay. A record
   * changed meanwhile is left for the next call; one that does not decrypt is reported.
   */
  async reencryptHmac(): Promise<HmacReencryption> {
    const keyring = this.#requireKeyring()
    const sealWith = keyring.sealingKey!
    const outcome: HmacReencryption = { encryption_key: sealWith, reencrypted: 0, failed: [] }
    let cursor = '0'
    do {
      const [next, flat] = await this.#call((r) =>
        r.hscan(this.#keys.hmac, cursor, 'COUNT', REENCRYPT_BATCH),
      )
      cursor = next
      for (let i = 1; i < flat.length; i += 2) {
        const current = flat[i]!
        const record = JSON.parse(current) as StoredHmacCredential
        // A revoked secret is never decrypted again: it needs no key.
        if (record.state !== 'active' || record.secret.key === sealWith) continue
        const owner = { consumer: record.consumer, keyId: record.key_id }
        const secret = keyring.open(record.secret, owner)
        if (typeof secret === 'string') {
          outcome.failed.push(record.key_id)
          continue
        }
        const resealed: StoredHmacCredential = { ...record, secret: keyring.seal(secret, owner) }
        secret.fill(0)
        if ((await this.#putHmac(record.consumer, [[resealed, current]])) > 0) outcome.reencrypted++
      }
    } while (cursor !== '0')
    return outcome
  }

  async deleteHmac(keyId: string): Promise<boolean> {
    const k = this.#keys
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.#call((r) => r.hget(k.hmac, keyId))
      if (current === null) return false
      const { consumer } = JSON.parse(current) as StoredHmacCredential
      const result = await this.#call((r) =>
        evalScript(
          r,
          DELETE_RECORD,
          [k.hmac, k.hmacIndex, consumerHmacSet(k, consumer), k.version, k.channel],
          [keyId, messageTail('hmac', keyId, 'null')],
        ),
      )
      if (Number(result) > 0) return true
    }
    return false
  }

  async keyUsage(id: string): Promise<KeyUsageRecord | null> {
    const [exists, usage] = await this.#call((r) =>
      Promise.all([r.hexists(this.#keys.keys, id), r.hgetall(keyUsageHash(this.#keys, id))]),
    )
    if (exists === 0) return null
    const lastMs = Number(usage[USAGE_FIELDS.lastUsedAt] ?? 0)
    return {
      admitted: Number(usage[USAGE_FIELDS.admitted] ?? 0),
      refused: Number(usage[USAGE_FIELDS.refused] ?? 0),
      last_used_at: lastMs > 0 ? new Date(lastMs).toISOString() : null,
      last_address: usage[USAGE_FIELDS.lastAddress] ?? null,
    }
  }

  #putConsumer(record: StoredConsumer, expected: string): Promise<number> {
    const k = this.#keys
    const json = JSON.stringify(record)
    return this.#call(async (r) =>
      Number(
        await evalScript(
          r,
          PUT,
          [k.consumers, k.consumerIndex, k.version, k.channel],
          [record.name, expected, json, messageTail('consumer', record.name, json)],
        ),
      ),
    )
  }

  /** Writes keys of one consumer, each `[record, expected JSON or '' for new]`, in one script. */
  #putKeys(consumer: string, records: readonly (readonly [StoredKey, string])[]): Promise<number> {
    const k = this.#keys
    const args: string[] = []
    for (const [record, expected] of records) {
      const json = JSON.stringify(record)
      args.push(record.id, expected, json, messageTail('key', record.id, json))
    }
    return this.#call(async (r) =>
      Number(
        await evalScript(
          r,
          PUT,
          [k.keys, k.keyIndex, k.version, k.channel, consumerKeySet(k, consumer)],
          args,
        ),
      ),
    )
  }

  /** Writes HMAC credentials of one consumer, as {@link #putKeys} does keys. */
  #putHmac(
    consumer: string,
    records: readonly (readonly [StoredHmacCredential, string])[],
  ): Promise<number> {
    const k = this.#keys
    const args: string[] = []
    for (const [record, expected] of records) {
      const json = JSON.stringify(record)
      args.push(record.key_id, expected, json, messageTail('hmac', record.key_id, json))
    }
    return this.#call(async (r) =>
      Number(
        await evalScript(
          r,
          PUT,
          [k.hmac, k.hmacIndex, k.version, k.channel, consumerHmacSet(k, consumer)],
          args,
        ),
      ),
    )
  }

  #requireKeyring(): SecretKeyring {
    if (!this.#keyring.canSeal) {
      throw new EncryptionUnconfiguredError(
        'redis.encryption_keys is empty: HMAC secrets are stored encrypted, so the config must ' +
          'give at least one key (32 bytes, base64) before the store can hold one',
      )
    }
    return this.#keyring
  }

  /** A consumer holds few records: its set is read whole and paged in id order, like an index. */
  async #memberPage<T>(
    set: string,
    hash: string,
    cursor: string | null,
    limit: number,
  ): Promise<Page<T>> {
    const after = cursor === null ? null : decodeCursor(cursor)
    const ids = (await this.#call((r) => r.smembers(set))).sort()
    const start = after === null ? 0 : ids.findIndex((id) => id > after)
    const slice = start < 0 ? [] : ids.slice(start, start + limit)
    const items = await this.#records<T>(hash, slice)
    const more = start >= 0 && start + limit < ids.length
    return { items, next_cursor: more ? encodeCursor(slice[slice.length - 1]!) : null }
  }

  /** One page of `hash`'s records in `index` order (names or ids), after the cursor's member. */
  async #page<T>(
    index: string,
    hash: string,
    cursor: string | null,
    limit: number,
  ): Promise<Page<T>> {
    const from = cursor === null ? '-' : `(${decodeCursor(cursor)}`
    // One more than asked tells whether another page follows.
    const ids = await this.#call((r) => r.zrangebylex(index, from, '+', 'LIMIT', 0, limit + 1))
    const more = ids.length > limit
    const slice = more ? ids.slice(0, limit) : ids
    const items = await this.#records<T>(hash, slice)
    return { items, next_cursor: more ? encodeCursor(slice[slice.length - 1]!) : null }
  }

  async #records<T>(hash: string, ids: readonly string[]): Promise<T[]> {
    if (ids.length === 0) return []
    const values = await this.#call((r) => r.hmget(hash, ...ids))
    const items: T[] = []
    // A record deleted between the two reads is left out.
    for (const value of values) if (value !== null) items.push(JSON.parse(value) as T)
    return items
  }

  /** Runs `work` once connected; a connection or transport failure becomes StoreUnavailableError. */
  async #call<T>(work: (redis: Redis) => Promise<T>): Promise<T> {
    await this.#connected()
    try {
      return await work(this.#redis)
    } catch (error) {
      // Redis answered with an error: an outage when it is loading or read-only, else a bug of
      // ours, passed on as it is.
      const { name, message } = error as Error
      if (name === 'ReplyError' && !OUTAGE_REPLY.test(message)) throw error
      throw new StoreUnavailableError(`credential store: ${(error as Error).message}`)
    }
  }

  #connected(): Promise<void> {
    const redis = this.#redis
    if (redis.status === 'ready') return Promise.resolve()
    if (redis.status === 'wait' || redis.status === 'end') redis.connect().catch(() => {})
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        redis.off('ready', onReady)
        reject(new StoreUnavailableError('credential store: redis unavailable'))
      }, CONNECT_WAIT_MS)
      const onReady = () => {
        clearTimeout(timer)
        resolve()
      }
      redis.once('ready', onReady)
    })
  }
}

/** The message after `{"v":<version>`, built here so the script never parses JSON. */
function messageTail(kind: 'consumer' | 'key' | 'hmac', id: string, json: string): string {
  return `,"kind":"${kind}","id":${JSON.stringify(id)},"record":${json}}`
}

/** `key_` and 16 base62 characters from the CSPRNG, without modulo bias. */
function newKeyId(): string {
  return newId('key_')
}

/** `prefix` and 16 base62 characters from the CSPRNG, without modulo bias. */
function newId(prefix: string): string {
  const length = prefix.length + KEY_ID_LENGTH
  let id = prefix
  while (id.length < length) {
    for (const byte of randomBytes(KEY_ID_LENGTH + 4)) {
      if (byte < UNBIASED_LIMIT && id.length < length) id += BASE62[byte % 62]
    }
  }
  return id
}

/** Cursors are opaque to callers: the last member of the page, base64url. */
function encodeCursor(member: string): string {
  return Buffer.from(member, 'utf8').toString('base64url')
}

function decodeCursor(cursor: string): string {
  return Buffer.from(cursor, 'base64url').toString('utf8')
}
