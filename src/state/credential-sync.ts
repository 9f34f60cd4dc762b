/**
 * Keeps a worker's credential directory in step with the store (credential-layout.ts) on the
 * revocation list's mechanism (versioned-sync.ts). Each message carries the version its change
 * produced: the worker applies message v only when it holds v − 1, so changes land in the order
 * they were made. A gap (a lost message), a new subscription or a poll that finds the version
 * moved without its message reads everything again, HSCAN in chunks, while messages that arrive
 * meanwhile wait and are applied after it in order. While Redis is down the last known set keeps
 * serving. HMAC secrets are decrypted here, once per record synced, with `redis.encryption_keys`.
 */
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { HmacKey } from '../hmac/keys.js'
import type { StoredConsumer, StoredHmacCredential, StoredKey } from '../keys/records.js'
import {
  credentialKeys,
  parseCredentialMessage,
  type CredentialKeys,
  type CredentialMessage,
} from './credential-layout.js'
import type { RedisConfig } from './schema.js'
import { SecretKeyring } from './secret-box.js'
import { openProblemReason, openStoredHmac } from './stored-hmac.js'
import { VersionedSync, type SyncedSet, type SyncStatus } from './versioned-sync.js'

/** Key ids named in the one line a full read logs about credentials it could not decrypt. */
const LOGGED_KEY_IDS = 10
/** Fields per HSCAN round: small enough that Redis serves other clients between rounds. */
const SCAN_COUNT = 1000
/**
 * Messages kept while a full read runs; past it they are dropped and another read follows, which
 * holds them anyway.
 */
const MAX_PENDING = 100_000

/** What the sync writes to: consumers/directory.ts's CredentialDirectory. */
export interface StoredCredentials {
  /** A full read, record by record; the current set serves until it commits. */
  beginStoredRead(): {
    addConsumer(record: StoredConsumer): void
    addKey(record: StoredKey): void
    addHmacKey(key: HmacKey): void
    commit(): void
  }
  applyConsumer(name: string, record: StoredConsumer | null): void
  applyKey(id: string, record: StoredKey | null): void
  /** null: revoked, deleted, or not decryptable: the key id stops verifying. */
  applyHmacKey(keyId: string, key: HmacKey | null): void
}

export class RedisCredentialSync implements SyncedSet {
  readonly #directory: StoredCredentials
  readonly #keys: CredentialKeys
  readonly #sync: VersionedSync
  readonly #keyring: SecretKeyring
  readonly #logger: Logger
  #pending: CredentialMessage[] = []

  /** The settings it runs with, so a reload can tell whether to keep it. */
  readonly config: RedisConfig

  constructor(directory: StoredCredentials, config: RedisConfig, logger: Logger) {
    this.#directory = directory
    this.config = config
    this.#keys = credentialKeys(config.key_prefix)
    // A change of encryption_keys changes the config, so a new sync reads everything with them.
    this.#keyring = new SecretKeyring(config.encryption_keys ?? [])
    this.#logger = logger
    this.#sync = new VersionedSync(this, config, logger, {
      name: 'credential sync',
      whileDown: 'keeping the last known consumers and keys',
      versionKey: this.#keys.version,
      channel: this.#keys.channel,
      ordered: true,
    })
  }

  get status(): SyncStatus {
    return this.#sync.status
  }

  /** Version of the store the directory holds; null before the first read. */
  get version(): number | null {
    return this.#sync.version
  }

  start(): void {
    this.#sync.start()
  }

  close(): void {
    this.#sync.close()
  }

  receive(text: string): void {
    const message = parseCredentialMessage(text)
    if (message === null) return
    const held = this.#sync.version
    if (held === null || this.#sync.reading) {
      this.#hold(message)
      return
    }
    if (message.v <= held) return
    if (message.v === held + 1) {
      this.#apply(message)
      this.#sync.advance(message.v)
      return
    }
    // A message went missing: read everything, and this one after it if it is still newer.
    this.#hold(message)
    this.#sync.resync()
  }

  async readAll(redis: Redis): Promise<Record<string, number>> {
    const read = this.#directory.beginStoredRead()
    const consumers = await scanValues(redis, this.#keys.consumers, (text) =>
      read.addConsumer(JSON.parse(text) as StoredConsumer),
    )
    const keys = await scanValues(redis, this.#keys.keys, (text) =>
      read.addKey(JSON.parse(text) as StoredKey),
    )
    const unreadable: string[] = []
    let problem = ''
    const hmac = await scanValues(redis, this.#keys.hmac, (text) => {
      const record = JSON.parse(text) as StoredHmacCredential
      const key = openStoredHmac(record, this.#keyring)
      if (typeof key === 'string') {
        if (unreadable.length === 0) problem = openProblemReason(key, record)
        unreadable.push(record.key_id)
      } else if (key !== null) read.addHmacKey(key)
    })
    read.commit()
    if (unreadable.length > 0) {
      this.#logger.error(
        { count: unreadable.length, key_ids: unreadable.slice(0, LOGGED_KEY_IDS), reason: problem },
        'HMAC credentials of the store cannot be decrypted: their signatures are refused',
      )
    }
    return { consumers, keys, hmac }
  }

  caughtUp(version: number): void {
    const pending = this.#pending.sort((a, b) => a.v - b.v)
    this.#pending = []
    let held = version
    for (const message of pending) {
      if (message.v <= held) continue
      if (message.v !== held + 1) {
        this.#sync.resync()
        return
      }
      this.#apply(message)
      held = message.v
    }
    this.#sync.advance(held)
  }

  #hold(message: CredentialMessage): void {
    if (this.#pending.length < MAX_PENDING) {
      this.#pending.push(message)
      return
    }
    this.#pending = []
    this.#sync.resync()
  }

  #apply(message: CredentialMessage): void {
    if (message.kind === 'consumer') this.#directory.applyConsumer(message.id, message.record)
    else if (message.kind === 'key') this.#directory.applyKey(message.id, message.record)
    else this.#directory.applyHmacKey(message.id, this.#openHmac(message.record))
  }

  #openHmac(record: StoredHmacCredential | null): HmacKey | null {
    if (record === null) return null
    const key = openStoredHmac(record, this.#keyring)
    if (typeof key !== 'string') return key
    this.#logger.error(
      { key_id: record.key_id, consumer: record.consumer, reason: openProblemReason(key, record) },
      'HMAC credential of the store cannot be decrypted: its signatures are refused',
    )
    return null
  }
}

/**
 * Hands every value of a hash to `take`, HSCAN round by round, so no round's text outlives its
 * parse; a value HSCAN repeats is taken twice, harmlessly. The next round is asked for before
 * this one is parsed, so Redis answers while the worker parses. Returns how many values it handed.
 */
async function scanValues(
  redis: Redis,
  key: string,
  take: (text: string) => void,
): Promise<number> {
  let count = 0
  let round = redis.hscan(key, '0', 'COUNT', SCAN_COUNT)
  for (;;) {
    const [next, flat] = await round
    if (next !== '0') round = redis.hscan(key, next, 'COUNT', SCAN_COUNT)
    for (let i = 1; i < flat.length; i += 2) take(flat[i]!)
    count += flat.length >> 1
    if (next === '0') return count
  }
}
