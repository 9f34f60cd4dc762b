/**
 * A worker's credential directory following the store through a real redis-server: a change made
 * through the store arrives within a second by pub/sub; a change whose message never came is
 * found by the version poll; a Redis outage keeps the last known set serving and changes made
 * after Redis returns arrive. Each test uses its own key prefix.
 */
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CredentialDirectory } from '../../src/consumers/directory.js'
import { KeyHasher } from '../../src/keys/hash.js'
import type { StoredKey } from '../../src/keys/records.js'
import { credentialKeys } from '../../src/state/credential-layout.js'
import { CredentialStore } from '../../src/state/credential-store.js'
import { RedisCredentialSync } from '../../src/state/credential-sync.js'
import type { RedisConfig } from '../../src/state/schema.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { sleep, waitUntil } from '../helpers/wait.js'

const hasher = new KeyHasher(null)
const silent = pino({ level: 'silent' })
let redis: RedisServer
let prefixes = 0
const closers: (() => unknown)[] = []

beforeAll(async () => {
  redis = await startRedis()
})

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

afterAll(async () => {
  await redis?.kill()
})

function config(): RedisConfig {
  return {
    url: redis.url,
    key_prefix: `sync${++prefixes}:`,
    rate_limit_sync: { interval: '1s', batch: 256, max_backlog: 100_000 },
  }
}

/** A worker's directory and its sync, started and caught up with the store. */
async function worker(
  at: RedisConfig,
): Promise<{ directory: CredentialDirectory; sync: RedisCredentialSync }> {
  const directory = new CredentialDirectory()
  const sync = new RedisCredentialSync(directory, at, silent)
  sync.start()
  closers.push(() => sync.close())
  await waitUntil(() => sync.status === 'ok', { what: 'the first full read' })
  return { directory, sync }
}

function openStore(at: RedisConfig): CredentialStore {
  const store = new CredentialStore(at, hasher)
  closers.push(() => store.close())
  return store
}

describe('credential sync', () => {
  it('loads what the store held before the worker started', async () => {
    const at = config()
    const store = openStore(at)
    await store.createConsumer({ name: 'acme', groups: ['partners'] })
    const { key } = await store.createKey({ consumer: 'acme', prefix: 'pc_live' })
    const { directory, sync } = await worker(at)
    expect(directory.consumer('acme')?.groups).toEqual(['partners'])
    expect(directory.keyByHash(hasher.hash(key))?.consumer).toBe('acme')
    expect(sync.version).toBe(2)
  })

  it('applies a change made through the store within a second', async () => {
    const at = config()
    const store = openStore(at)
    const { directory } = await worker(at)
    await sleep(100) // the subscription is up
    const startedAt = Date.now()
    await store.createConsumer({ name: 'acme', tier: 'pro' })
    const { key, record } = await store.createKey({ consumer: 'acme', prefix: 'pc_live' })
    await waitUntil(() => directory.keyByHash(hasher.hash(key)) !== undefined, {
      timeoutMs: 1000,
      intervalMs: 10,
      what: 'the new key',
    })
    expect(directory.consumer('acme')?.tier).toBe('pro')
    await store.revokeKey(record.id)
    await waitUntil(() => directory.keyByHash(hasher.hash(key))?.revoked === true, {
      timeoutMs: 1000,
      intervalMs: 10,
      what: 'the revocation',
    })
    await store.deleteConsumer('acme')
    await waitUntil(() => directory.consumer('acme') === undefined, {
      timeoutMs: 1000,
      intervalMs: 10,
      what: 'the deletion',
    })
    expect(directory.keyByHash(hasher.hash(key))).toBeUndefined()
    expect(Date.now() - startedAt).toBeLessThan(3000)
  })

  it('finds a change whose message was lost by the version poll', async () => {
    const at = config()
    const store = openStore(at)
    const { directory, sync } = await worker(at)
    await store.createConsumer({ name: 'seen' })
    await waitUntil(() => directory.consumer('seen') !== undefined, { what: 'the first change' })
    // Written as the store would, but without PUBLISH: only the poll can find it.
    const keys = credentialKeys(at.key_prefix)
    const writer = new Redis(redis.url)
    closers.push(() => writer.disconnect())
    const now = new Date().toISOString()
    const lost: StoredKey = {
      id: 'key_LostLostLostLost',
      hash: hasher.hash('pc_live_lost'),
      consumer: 'seen',
      prefix: 'pc_live',
      last4: 'lost',
      label: null,
      scopes: [],
      not_before: null,
      expires_at: null,
      allow_ips: [],
      state: 'active',
      created_at: now,
      revoked_at: null,
      rotated_from: null,
      rotated_to: null,
    }
    await writer.multi().hset(keys.keys, lost.id, JSON.stringify(lost)).incr(keys.version).exec()
    await waitUntil(() => directory.keyByHash(lost.hash) !== undefined, {
      timeoutMs: 5000,
      what: 'the poll to find the unpublished key',
    })
    expect(sync.version).toBe(2)
    // The next published change follows on from the version the full read found.
    await store.createConsumer({ name: 'after' })
    await waitUntil(() => directory.consumer('after') !== undefined, {
      timeoutMs: 1000,
      intervalMs: 10,
      what: 'the change after the gap',
    })
    expect(sync.version).toBe(3)
  })

  it('catches up past a gap in the messages without losing later changes', async () => {
    const at = config()
    const store = openStore(at)
    const { directory } = await worker(at)
    await sleep(100)
    const keys = credentialKeys(at.key_prefix)
    const writer = new Redis(redis.url)
    closers.push(() => writer.disconnect())
    // Version 1 is taken without a message; the store's change publishes version 2.
    await writer.incr(keys.version)
    await store.createConsumer({ name: 'after-gap' })
    await waitUntil(() => directory.consumer('after-gap') !== undefined, {
      // Straight after the gap, not at the next poll.
      timeoutMs: 900,
      intervalMs: 10,
      what: 'the change after the gap',
    })
  })

  describe('when redis goes down mid-run', () => {
    it('keeps the last known set, reports it, and takes changes made after redis returns', async () => {
      const at = config()
      const store = openStore(at)
      await store.createConsumer({ name: 'acme' })
      const { key } = await store.createKey({ consumer: 'acme', prefix: 'pc_live' })
      const { directory, sync } = await worker(at)
      await redis.kill()
      await waitUntil(() => sync.status === 'redis_down', { what: 'the outage to show' })
      await sleep(1500) // polls fail meanwhile
      expect(directory.consumer('acme')).toBeDefined()
      expect(directory.keyByHash(hasher.hash(key))?.consumer).toBe('acme')
      await redis.restart()
      // A fresh Redis (no persistence) holds nothing: the set follows it once it is read again.
      await store.createConsumer({ name: 'back' })
      const second = await store.createKey({ consumer: 'back', prefix: 'pc_live' })
      await waitUntil(() => directory.keyByHash(hasher.hash(second.key)) !== undefined, {
        timeoutMs: 10_000,
        what: 'the key created after redis returned',
      })
      expect(directory.consumer('back')).toBeDefined()
      expect(directory.consumer('acme')).toBeUndefined()
      await waitUntil(() => sync.status === 'ok', { what: 'the sync to report ok' })
    })
  })
})
