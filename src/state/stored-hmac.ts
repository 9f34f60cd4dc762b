/**
 * An HMAC credential of the store as workers verify with it: its secret decrypted (secret-box.ts)
 * once, when the record syncs, and held as a KeyObject like a config credential's, so the request
 * path never decrypts. A revoked credential compiles to nothing: it is simply not found.
 */
import { createHmacKey, type HmacKey } from '../hmac/keys.js'
import type { StoredHmacCredential } from '../keys/records.js'
import type { OpenProblem, SecretKeyring } from './secret-box.js'

/** The key; null for a revoked credential; or why its secret did not decrypt. */
export function openStoredHmac(
  record: StoredHmacCredential,
  keyring: SecretKeyring,
): HmacKey | OpenProblem | null {
  if (record.state !== 'active') return null
  const secret = keyring.open(record.secret, { consumer: record.consumer, keyId: record.key_id })
  if (typeof secret === 'string') return secret
  // Whole seconds, as `created` is: refused from the first second at or after expires_at.
  const expiresAt =
    record.expires_at === null ? Infinity : Math.ceil(Date.parse(record.expires_at) / 1000)
  const key = createHmacKey(record.consumer, record, secret, expiresAt)
  secret.fill(0)
  return key
}

/** Words for a log line or a config problem. */
export function openProblemReason(problem: OpenProblem, record: StoredHmacCredential): string {
  switch (problem) {
    case 'no_keys':
      return 'redis.encryption_keys is empty'
    case 'unknown_key':
      return `it was encrypted with key "${record.secret.key}", which redis.encryption_keys does not list`
    case 'mismatch':
      return `key "${record.secret.key}" of redis.encryption_keys is not the key it was encrypted with, or the record was altered`
  }
}
