/**
 * The one way portcullis connects to Redis for background work (revocation sync, rate-limit
 * reconciliation, quota leases): nothing on the request path ever waits for it, so commands fail
 * at once while Redis is down (no offline queue, no retries per command) and the caller's own
 * schedule tries again; the connection itself keeps reconnecting with a capped backoff. Errors
 * are expected during an outage: callers report them once, so the client's own are swallowed.
 */
import { Redis } from 'ioredis'

/** Longest wait between two reconnection attempts. */
const MAX_RECONNECT_MS = 2000

export function createBackgroundRedis(
  url: string,
  options: { offlineQueue?: boolean } = {},
): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: options.offlineQueue ?? false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
    retryStrategy: (times: number) => Math.min(100 * 2 ** times, MAX_RECONNECT_MS),
  })
  client.on('error', () => {})
  return client
}
