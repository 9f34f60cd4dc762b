/**
 * The credential store's background work in a serving process, kept matching the config on each
 * load and reload as gateway-process.ts keeps the revocation sync: the directory's sync
 * (state/credential-sync.ts) and the key usage flush (state/key-usage-flush.ts), both started
 * when `redis:` is set, kept while its settings stay, replaced or stopped otherwise.
 */
import type { Logger } from 'pino'
import type { CredentialDirectory } from '../consumers/directory.js'
import type { GatewayConfig } from '../config/schema.js'
import { parseDuration } from '../config/units.js'
import type { KeyUsage } from '../keys/usage.js'
import { RedisCredentialSync } from '../state/credential-sync.js'
import { KeyUsageFlush } from '../state/key-usage-flush.js'
import type { RedisConfig } from '../state/schema.js'
import type { SyncStatus } from '../state/versioned-sync.js'

export function syncCredentials(
  current: RedisCredentialSync | null,
  redis: RedisConfig | undefined,
  directory: CredentialDirectory,
  logger: Logger,
): RedisCredentialSync | null {
  // A new key_prefix is another store: the next sync reads it whole, replacing the store's part.
  if (current !== null && redis !== undefined && sameRedis(current.config, redis)) return current
  current?.close()
  if (redis === undefined) {
    // Without Redis only the config's consumers and keys remain.
    if (current !== null) directory.replaceStored([], [])
    return null
  }
  const sync = new RedisCredentialSync(directory, redis, logger)
  sync.start()
  return sync
}

export function flushKeyUsage(
  current: KeyUsageFlush | null,
  config: GatewayConfig,
  usage: KeyUsage,
  logger: Logger,
): KeyUsageFlush | null {
  const redis = config.redis
  const intervalMs = parseDuration(config.api_keys.usage_flush)
  if (
    current !== null &&
    redis !== undefined &&
    sameRedis(current.config, redis) &&
    current.intervalMs === Math.max(intervalMs, 1000)
  ) {
    return current
  }
  // What the old one still holds goes to the Redis it was counted for.
  void current?.close()
  if (redis === undefined) {
    usage.drain()
    return null
  }
  const flush = new KeyUsageFlush(usage, redis, intervalMs, logger)
  flush.start()
  return flush
}

/**
 * The Redis part of /readyz: how each set the workers hold from Redis stands. Small on purpose:
 * probes poll it. A gateway stays ready while Redis is down, serving the last known sets.
 */
export function redisReadiness(syncs: {
  revocations: SyncStatus | null
  credentials: SyncStatus | null
}): string {
  if (syncs.revocations === null && syncs.credentials === null) return ''
  return `,"redis":{"revocations":"${syncs.revocations ?? 'off'}","credentials":"${syncs.credentials ?? 'off'}"}`
}

function sameRedis(a: RedisConfig, b: RedisConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}
