/**
 * Before a config serves (start and reload): every HMAC credential of the store must decrypt with
 * its `redis.encryption_keys`. A store holding secrets the config cannot read (no key, a key id
 * it does not list, or another key under that id) is a config error naming the path, not a
 * gateway that starts and refuses a partner's every signature. Checked when a route uses
 * `auth: hmac` or encryption keys are given: without either the store's secrets are never read.
 * When Redis does not answer in time the check passes; workers then log each credential they
 * cannot decrypt as they sync it.
 */
import type { Redis } from 'ioredis'
import type { GatewayConfig } from '../config/schema.js'
import type { ConfigProblem } from '../errors.js'
import type { StoredHmacCredential } from '../keys/records.js'
import { credentialKeys } from './credential-layout.js'
import { createRedis } from './redis-client.js'
import { SecretKeyring } from './secret-box.js'
import { openProblemReason, openStoredHmac } from './stored-hmac.js'

/** How long the check waits for Redis: a start is not held up long by a Redis that is down. */
const CONNECT_TIMEOUT_MS = 2000
const SCAN_COUNT = 1000
/** Credentials named in the problem; the count says how many more. */
const LISTED = 5

export async function checkStoredHmacSecrets(config: GatewayConfig): Promise<ConfigProblem[]> {
  const redis = config.redis
  if (redis === undefined) return []
  const encryptionKeys = redis.encryption_keys ?? []
  if (encryptionKeys.length === 0 && !usesHmac(config)) return []
  const client = createRedis(redis.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: () => null,
  })
  client.on('error', () => {})
  try {
    await client.connect()
  } catch {
    client.disconnect()
    return []
  }
  try {
    return await checkRecords(
      client,
      credentialKeys(redis.key_prefix).hmac,
      new SecretKeyring(encryptionKeys),
    )
  } catch {
    return []
  } finally {
    client.disconnect()
  }
}

async function checkRecords(
  client: Redis,
  hash: string,
  keyring: SecretKeyring,
): Promise<ConfigProblem[]> {
  const failed: string[] = []
  let reason = ''
  let cursor = '0'
  do {
    const [next, flat] = await client.hscan(hash, cursor, 'COUNT', SCAN_COUNT)
    cursor = next
    for (let i = 1; i < flat.length; i += 2) {
      const record = JSON.parse(flat[i]!) as StoredHmacCredential
      const opened = openStoredHmac(record, keyring)
      if (typeof opened !== 'string') continue
      if (failed.length === 0) reason = openProblemReason(opened, record)
      if (!failed.includes(record.key_id)) failed.push(record.key_id)
    }
  } while (cursor !== '0')
  if (failed.length === 0) return []
  const more = failed.length > LISTED ? ` and ${failed.length - LISTED} more` : ''
  return [
    {
      path: 'redis.encryption_keys',
      reason:
        `the credential store holds HMAC credentials whose secrets do not decrypt ` +
        `(${failed.slice(0, LISTED).join(', ')}${more}): ${reason}. Give the keys they were ` +
        'encrypted with (the new one first, the old ones after it)',
    },
  ]
}

function usesHmac(config: GatewayConfig): boolean {
  return config.routes.some((route) => {
    const auth = route.auth as unknown
    if (auth === 'hmac') return true
    if (typeof auth !== 'object' || auth === null) return false
    const { any, all } = auth as { any?: readonly string[]; all?: readonly string[] }
    return (any ?? []).includes('hmac') || (all ?? []).includes('hmac')
  })
}
