/**
 * Where consumers, API keys and HMAC credentials live in Redis, under the configured key prefix. The admin side
 * (credential-store.ts) writes them, each change in one script; workers (credential-sync.ts)
 * read them.
 *
 *   <p>consumers                   HASH  name → JSON StoredConsumer
 *   <p>consumers:index             ZSET  every name at score 0: list pages in name order
 *   <p>apikeys                     HASH  id → JSON StoredKey
 *   <p>apikeys:index               ZSET  every key id at score 0: list pages in id order
 *   <p>apikeys:consumer:<name>     SET   the consumer's key ids (deleting a consumer deletes them)
 *   <p>apikeys:usage:<id>          HASH  admitted, refused (HINCRBY), last_used_at (ms), last_address
 *   <p>hmac                        HASH  key id → JSON StoredHmacCredential (secret encrypted)
 *   <p>hmac:index                  ZSET  every key id at score 0: list pages in key id order
 *   <p>hmac:consumer:<name>        SET   the consumer's HMAC key ids (deleting a consumer deletes them)
 *   <p>credentials:version         INCR  on every change
 *   <p>credentials                 channel: one {@link CredentialMessage} per change, carrying the
 *                                  version it produced, so workers apply them in order
 */
import type { StoredConsumer, StoredHmacCredential, StoredKey } from '../keys/records.js'

export interface CredentialKeys {
  readonly consumers: string
  readonly consumerIndex: string
  readonly keys: string
  readonly keyIndex: string
  readonly version: string
  readonly channel: string
  /** Prefix of the per-consumer key sets; {@link consumerKeySet} appends the name. */
  readonly consumerKeysPrefix: string
  /** Prefix of the per-key usage hashes; {@link keyUsageHash} appends the id. */
  readonly usagePrefix: string
  readonly hmac: string
  readonly hmacIndex: string
  /** Prefix of the per-consumer HMAC key id sets; {@link consumerHmacSet} appends the name. */
  readonly consumerHmacPrefix: string
}

export function credentialKeys(prefix: string): CredentialKeys {
  return {
    consumers: `${prefix}consumers`,
    consumerIndex: `${prefix}consumers:index`,
    keys: `${prefix}apikeys`,
    keyIndex: `${prefix}apikeys:index`,
    version: `${prefix}credentials:version`,
    channel: `${prefix}credentials`,
    consumerKeysPrefix: `${prefix}apikeys:consumer:`,
    usagePrefix: `${prefix}apikeys:usage:`,
    hmac: `${prefix}hmac`,
    hmacIndex: `${prefix}hmac:index`,
    consumerHmacPrefix: `${prefix}hmac:consumer:`,
  }
}

export function consumerHmacSet(keys: CredentialKeys, consumer: string): string {
  return keys.consumerHmacPrefix + consumer
}

export function consumerKeySet(keys: CredentialKeys, consumer: string): string {
  return keys.consumerKeysPrefix + consumer
}

export function keyUsageHash(keys: CredentialKeys, id: string): string {
  return keys.usagePrefix + id
}

/** Fields of {@link keyUsageHash}. */
export const USAGE_FIELDS = {
  admitted: 'admitted',
  refused: 'refused',
  lastUsedAt: 'last_used_at',
  lastAddress: 'last_address',
} as const

/** One change, as published on the channel; `record` null: deleted. */
export type CredentialMessage =
  | {
      readonly v: number
      readonly kind: 'consumer'
      readonly id: string
      readonly record: StoredConsumer | null
    }
  | {
      readonly v: number
      readonly kind: 'key'
      readonly id: string
      readonly record: StoredKey | null
    }
  | {
      readonly v: number
      readonly kind: 'hmac'
      readonly id: string
      readonly record: StoredHmacCredential | null
    }

/** Parses a channel message; null for anything malformed (ignored: the poll catches up). */
export function parseCredentialMessage(text: string): CredentialMessage | null {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof parsed !== 'object' || parsed === null) return null
  const { v, kind, id, record } = parsed as Record<string, unknown>
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || typeof id !== 'string') return null
  if (record !== null && (typeof record !== 'object' || record === undefined)) return null
  if (kind === 'consumer') return { v, kind, id, record: record as StoredConsumer | null }
  if (kind === 'key') return { v, kind, id, record: record as StoredKey | null }
  if (kind === 'hmac') return { v, kind, id, record: record as StoredHmacCredential | null }
  return null
}
