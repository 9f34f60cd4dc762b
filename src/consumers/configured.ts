/**
 * The config's consumers and keys, checked and compiled: what the schema cannot say (unique
 * names and hashes, valid dates in order, addresses) as problems with their path, and the
 * compiled maps the credential directory takes once the whole config compiled.
 */
import { parseDuration } from '../config/units.js'
import type { ConfigProblem } from '../errors.js'
import { createHmacKey, decodeSecret, MIN_SECRET_BYTES, type HmacKey } from '../hmac/keys.js'
import { parseRfc3339, RFC3339_REASON } from '../keys/time.js'
import { parseAddressList } from './address-list.js'
import { CertificateMap } from './certificate-map.js'
import { createConsumer, type Consumer } from './consumer.js'
import { KeyEntryCompiler, type KeyEntry } from './key-entry.js'
import type { ApiKeysConfig, ConsumersConfig } from './schema.js'

/** Redis takes one pipeline per flush; more often would be write load for little freshness. */
const MIN_USAGE_FLUSH_MS = 1000

export interface ConfiguredCredentials {
  readonly consumers: ReadonlyMap<string, Consumer>
  /** By hash. */
  readonly keys: ReadonlyMap<string, KeyEntry>
  /** HMAC credentials by key id. */
  readonly hmacKeys: ReadonlyMap<string, HmacKey>
  /** consumers[].certificates: the consumer of a client certificate. */
  readonly certificates: CertificateMap
}

/** Checks and compiles `consumers:` (at path `consumers`); appends what is wrong to `problems`. */
export function compileConfigured(
  consumers: ConsumersConfig,
  problems: ConfigProblem[],
): ConfiguredCredentials {
  const compiler = new KeyEntryCompiler()
  const byName = new Map<string, Consumer>()
  const namePaths = new Map<string, string>()
  const keys = new Map<string, KeyEntry>()
  const hashPaths = new Map<string, string>()
  const hmacKeys = new Map<string, HmacKey>()
  const keyIdPaths = new Map<string, string>()
  const certificates = new CertificateMap()
  consumers.forEach((consumer, i) => {
    const at = `consumers[${i}]`
    const earlier = namePaths.get(consumer.name)
    if (earlier !== undefined) {
      problems.push({
        path: `${at}.name`,
        reason: `"${consumer.name}" is already the name of ${earlier}: names must be unique`,
      })
      return
    }
    namePaths.set(consumer.name, at)
    problems.push(...parseAddressList(consumer.ip?.allow ?? [], `${at}.ip.allow`).problems)
    problems.push(...parseAddressList(consumer.ip?.deny ?? [], `${at}.ip.deny`).problems)
    byName.set(consumer.name, createConsumer(consumer, 'config'))
    consumer.keys.forEach((key, k) => {
      const keyAt = `${at}.keys[${k}]`
      const before = problems.length
      const sameHash = hashPaths.get(key.hash)
      if (sameHash !== undefined) {
        problems.push({
          path: `${keyAt}.hash`,
          reason: `the same key as ${sameHash}: a key belongs to one consumer, declared once`,
        })
      }
      hashPaths.set(key.hash, keyAt)
      checkKeyTimes(key.not_before, key.expires_at, keyAt, problems)
      problems.push(...parseAddressList(key.allow_ips, `${keyAt}.allow_ips`).problems)
      problems.push(...parseAddressList(key.deny_ips ?? [], `${keyAt}.deny_ips`).problems)
      if (problems.length === before) keys.set(key.hash, compiler.fromConfig(consumer.name, key))
    })
    consumer.hmac_credentials.forEach((credential, k) => {
      const keyAt = `${at}.hmac_credentials[${k}]`
      const sameId = keyIdPaths.get(credential.key_id)
      if (sameId !== undefined) {
        problems.push({
          path: `${keyAt}.key_id`,
          reason: `"${credential.key_id}" is already the key id of ${sameId}: key ids must be unique`,
        })
        return
      }
      keyIdPaths.set(credential.key_id, keyAt)
      const secret = decodeSecret(credential.secret, credential.secret_encoding)
      if (secret === null || secret.length < MIN_SECRET_BYTES) {
        problems.push({
          path: `${keyAt}.secret`,
          reason:
            secret === null
              ? `is not valid ${credential.secret_encoding} (secret_encoding)`
              : `must be at least ${MIN_SECRET_BYTES} bytes once decoded, the HMAC's output length (got ${secret.length})`,
        })
        return
      }
      hmacKeys.set(credential.key_id, createHmacKey(consumer.name, credential, secret))
    })
    // Optional in the type so code that builds consumers need not name it; the loader fills [].
    const rules = consumer.certificates ?? []
    for (let c = 0; c < rules.length; c++) {
      certificates.add(consumer.name, rules[c]!, `${at}.certificates[${c}]`, problems)
    }
  })
  return { consumers: byName, keys, hmacKeys, certificates }
}

/** `api_keys:` rules beyond the schema. */
export function checkApiKeys(config: ApiKeysConfig, problems: ConfigProblem[]): void {
  if (parseDuration(config.usage_flush) < MIN_USAGE_FLUSH_MS) {
    problems.push({
      path: 'api_keys.usage_flush',
      reason: `must be at least 1s (got "${config.usage_flush}")`,
    })
  }
}

function checkKeyTimes(
  notBefore: string | undefined,
  expiresAt: string | undefined,
  at: string,
  problems: ConfigProblem[],
): void {
  const notBeforeMs = timeAt(notBefore, `${at}.not_before`, problems)
  const expiresAtMs = timeAt(expiresAt, `${at}.expires_at`, problems)
  if (notBeforeMs !== null && expiresAtMs !== null && expiresAtMs <= notBeforeMs) {
    problems.push({
      path: `${at}.expires_at`,
      reason: `must be later than not_before (${notBefore}), or the key is never valid (got "${expiresAt}")`,
    })
  }
}

/** The time of `text` in ms, null when absent or invalid (a problem then). */
function timeAt(text: string | undefined, path: string, problems: ConfigProblem[]): number | null {
  if (text === undefined) return null
  const ms = parseRfc3339(text)
  if (!Number.isNaN(ms)) return ms
  // The schema checks the shape; this is a date that does not exist, such as 2026-02-30.
  problems.push({ path, reason: `${RFC3339_REASON}, on a date that exists (got "${text}")` })
  return null
}
