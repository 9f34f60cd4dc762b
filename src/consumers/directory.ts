/**
 * Every consumer and API key a worker knows, in memory (one directory per worker, in
 * WorkerState): the config's, set on each load and reload, and the credential store's, read in
 * full at start and after a gap, then changed one record at a time as the store publishes them.
 * Requests look up a key by its hash and a consumer by its name; neither waits on Redis.
 *
 * The config wins over the store on a clash (a consumer's name, a key's hash, an HMAC key id): it
 * is the declared state, and the admin API refuses to change what the config owns.
 */
import type { ConfigProblem } from '../errors.js'
import type { HmacKey } from '../hmac/keys.js'
import type { StoredConsumer, StoredKey } from '../keys/records.js'
import type { ClientCertificate } from '../tls/client-certificate.js'
import { CertificateMap } from './certificate-map.js'
import { compileConfigured, type ConfiguredCredentials } from './configured.js'
import { createConsumer, type Consumer } from './consumer.js'
import { KeyEntryCompiler, type KeyEntry } from './key-entry.js'
import type { ConsumersConfig } from './schema.js'

const NO_CONSUMERS: ReadonlyMap<string, Consumer> = new Map()
const NO_KEYS: ReadonlyMap<string, KeyEntry> = new Map()
const NO_HMAC_KEYS: ReadonlyMap<string, HmacKey> = new Map()

export class CredentialDirectory {
  #configConsumers = NO_CONSUMERS
  /** Config keys by hash. */
  #configKeys = NO_KEYS
  /** Config HMAC credentials by key id. */
  #hmacKeys = NO_HMAC_KEYS
  /** Store HMAC credentials by key id, their secrets decrypted by the sync. */
  #storedHmacKeys = new Map<string, HmacKey>()
  /** consumers[].certificates; config only (the store holds no certificate rules). */
  #certificates = new CertificateMap()
  #storedConsumers = new Map<string, Consumer>()
  /** Store keys by hash: the request path's lookup. */
  #storedKeys = new Map<string, KeyEntry>()
  /** Store key id → hash, to apply a change or a deletion that names only the id. */
  #storedHashes = new Map<string, string>()
  /** Interns what store keys share; replaced on each full read, dropping what no key uses. */
  #compiler = new KeyEntryCompiler()

  consumer(name: string): Consumer | undefined {
    return this.#configConsumers.get(name) ?? this.#storedConsumers.get(name)
  }

  /**
   * The key with this hash, whatever its state: the caller checks revocation, dates, address
   * and its consumer (a key whose consumer is unknown is held, and refused by the stage).
   */
  keyByHash(hash: string): KeyEntry | undefined {
    const configKeys = this.#configKeys
    if (configKeys.size !== 0) {
      const entry = configKeys.get(hash)
      if (entry !== undefined) return entry
    }
    return this.#storedKeys.get(hash)
  }

  /** The HMAC credential with this key id; the caller checks its consumer. */
  hmacKey(keyId: string): HmacKey | undefined {
    return this.#hmacKeys.get(keyId) ?? this.#storedHmacKeys.get(keyId)
  }

  /** Whether the config declares this HMAC key id (the admin API leaves it alone). */
  isConfigHmacKey(keyId: string): boolean {
    return this.#hmacKeys.has(keyId)
  }

  /**
   * The name of the consumer a client certificate maps to (consumers[].certificates), or
   * undefined; the caller looks the consumer up and checks it is enabled.
   */
  consumerNameOf(certificate: ClientCertificate): string | undefined {
    return this.#certificates.consumerOf(certificate)
  }

  /**
   * Checks and takes the config's consumers and keys. Leaves the directory as it was when it
   * finds problems (appended to `problems`).
   */
  setConfigured(consumers: ConsumersConfig, problems: ConfigProblem[]): void {
    const before = problems.length
    const configured = compileConfigured(consumers, problems)
    if (problems.length === before) this.useConfigured(configured)
  }

  /** Takes config credentials compiled (and checked) by configured.ts compileConfigured. */
  useConfigured(configured: ConfiguredCredentials): void {
    this.#configConsumers = configured.consumers
    this.#configKeys = configured.keys
    this.#hmacKeys = configured.hmacKeys
    this.#certificates = configured.certificates
  }

  /** Replaces the store's part with a full read. */
  replaceStored(
    consumers: Iterable<StoredConsumer>,
    keys: Iterable<StoredKey>,
    hmacKeys: Iterable<HmacKey> = [],
  ): void {
    const read = this.beginStoredRead()
    for (const record of consumers) read.addConsumer(record)
    for (const record of keys) read.addKey(record)
    for (const key of hmacKeys) read.addHmacKey(key)
    read.commit()
  }

  /**
   * A full read taken record by record (a scan hands them over chunk by chunk, so no chunk's
   * text outlives its parse); the directory keeps serving its current set until `commit`.
   */
  beginStoredRead(): StoredRead {
    return new StoredRead(this)
  }

  /** Called by {@link StoredRead.commit}. */
  takeStored(read: StoredReadResult): void {
    this.#compiler = read.compiler
    this.#storedConsumers = read.consumers
    this.#storedKeys = read.keys
    this.#storedHashes = read.hashes
    this.#storedHmacKeys = read.hmacKeys
  }

  /** One consumer created, changed (`record`) or deleted (null) in the store. */
  applyConsumer(name: string, record: StoredConsumer | null): void {
    if (record === null) this.#storedConsumers.delete(name)
    else this.#storedConsumers.set(name, createConsumer(record, 'store'))
  }

  /** One key created, changed (`record`) or deleted (null) in the store. */
  applyKey(id: string, record: StoredKey | null): void {
    const previous = this.#storedHashes.get(id)
    if (previous !== undefined && previous !== record?.hash) {
      this.#storedKeys.delete(previous)
      this.#storedHashes.delete(id)
    }
    if (record === null) return
    this.#storedKeys.set(record.hash, this.#compiler.fromStored(record))
    this.#storedHashes.set(id, record.hash)
  }

  /** One HMAC credential synced (`key`), or revoked, deleted or undecryptable (null). */
  applyHmacKey(keyId: string, key: HmacKey | null): void {
    if (key === null) this.#storedHmacKeys.delete(keyId)
    else this.#storedHmacKeys.set(keyId, key)
  }

  /** Distinct consumers and keys this worker would answer for (the config's shadowing the store's). */
  get sizes(): { consumers: number; keys: number } {
    let consumers = this.#storedConsumers.size
    for (const name of this.#configConsumers.keys()) {
      if (!this.#storedConsumers.has(name)) consumers++
    }
    let keys = this.#storedKeys.size
    for (const hash of this.#configKeys.keys()) if (!this.#storedKeys.has(hash)) keys++
    return { consumers, keys }
  }
}

interface StoredReadResult {
  readonly compiler: KeyEntryCompiler
  readonly consumers: Map<string, Consumer>
  readonly keys: Map<string, KeyEntry>
  readonly hashes: Map<string, string>
  readonly hmacKeys: Map<string, HmacKey>
}

/** The store's consumers and keys as a full read finds them, taken by the directory at commit. */
export class StoredRead implements StoredReadResult {
  readonly compiler = new KeyEntryCompiler()
  readonly consumers = new Map<string, Consumer>()
  readonly keys = new Map<string, KeyEntry>()
  readonly hashes = new Map<string, string>()
  readonly hmacKeys = new Map<string, HmacKey>()
  readonly #directory: CredentialDirectory

  constructor(directory: CredentialDirectory) {
    this.#directory = directory
  }

  addConsumer(record: StoredConsumer): void {
    this.consumers.set(record.name, createConsumer(record, 'store'))
  }

  addKey(record: StoredKey): void {
    // A scan may hand a record over twice (Redis HSCAN does): the same id and hash again.
    this.keys.set(record.hash, this.compiler.fromStored(record))
    this.hashes.set(record.id, record.hash)
  }

  addHmacKey(key: HmacKey): void {
    this.hmacKeys.set(key.id, key)
  }

  commit(): void {
    this.#directory.takeStored(this)
  }
}
