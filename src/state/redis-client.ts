/**
 * The one way portcullis connects to Redis for background work (revocation sync, rate-limit
 * reconciliation, quota leases): nothing on the request path ever waits for it, so commands fail
 * at once while Redis is down (no offline queue, no retries per command) and the caller's own
 * schedule tries again; the connection itself keeps reconnecting with a capped backoff. Errors
 * are expected during an outage: callers report them once, so the client's own are swallowed.
 *
 * ioredis is loaded by the first client, so a worker whose config has no `redis:` never holds its
 * module graph.
 */
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import type { Redis, RedisOptions } from 'ioredis'

/** Longest wait between two reconnection attempts. */
const MAX_RECONNECT_MS = 2000

let RedisClass: typeof Redis | null = null

/** A client of ioredis, loaded on first use. */
export function createRedis(url: string, options: RedisOptions): Redis {
  RedisClass ??= (createRequire(import.meta.url)('ioredis') as typeof import('ioredis')).Redis
  return new RedisClass(url, options)
}

export function createBackgroundRedis(
  url: string,
  options: { offlineQueue?: boolean } = {},
): Redis {
  const client = createRedis(url, {
    enableOfflineQueue: options.offlineQueue ?? false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
    retryStrategy: (times: number) => Math.min(100 * 2 ** times, MAX_RECONNECT_MS),
  })
  client.on('error', () => {})
  return client
}

/** A Lua script with its SHA-1, computed once. */
export interface LuaScript {
  readonly source: string
  readonly sha: string
}

export function luaScript(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

/** EVALSHA, loading the script with EVAL when Redis does not know it (first use, restart). */
export async function evalScript(
  client: Redis,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  const argv = args.map(String)
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...argv)
  } catch (error) {
    if (!(error as Error).message.startsWith('NOSCRIPT')) throw error
    return await client.eval(script.source, keys.length, ...keys, ...argv)
  }
}
