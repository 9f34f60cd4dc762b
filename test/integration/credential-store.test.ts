/**
 * The credential store (the admin API's side of consumers and keys) against a real redis-server:
 * every change is one script that writes, bumps the version and publishes; lists page by cursor;
 * a consumer takes its keys with it; rotation keeps the old key for the grace; usage is what
 * workers flushed. Each describe uses its own key prefix.
 */
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isWellFormedApiKey } from '../../src/keys/format.js'
import { KeyHasher } from '../../src/keys/hash.js'
import { KeyUsage } from '../../src/keys/usage.js'
import { credentialKeys } from '../../src/state/credential-layout.js'
import {
  CredentialStore,
  StoreConflictError,
  StoreUnavailableError,
} from '../../src/state/credential-store.js'
import { KeyUsageFlush } from '../../src/state/key-usage-flush.js'
import type { RedisConfig } from '../../src/state/schema.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { waitUntil } from '../helpers/wait.js'

const hasher = new KeyHasher(null)
const silent = pino({ level: 'silent' })
let redis: RedisServer
let admin: Redis
let prefixes = 0
const stores: CredentialStore[] = []

beforeAll(async () => {
  redis = await startRedis()
  admin = new Redis(redis.url)
  admin.on('error', () => {}) // the outage test kills Redis under it
})

afterAll(async () => {
  for (const store of stores) await store.close()
  admin?.disconnect()
  await redis?.kill()
})

function config(): RedisConfig {
  return {
    url: redis.url,
    key_prefix: `cs${++prefixes}:`,
    rate_limit_sync: { interval: '1s', batch: 256, max_backlog: 100_000 },
  }
}

function openStore(at: RedisConfig = config()): { store: CredentialStore; at: RedisConfig } {
  const store = new CredentialStore(at, hasher)
  stores.push(store)
  return { store, at }
}

/** Every message the store publishes under `at`, parsed. */
async function listen(at: RedisConfig): Promise<{ messages: unknown[]; close(): void }> {
  const subscriber = new Redis(redis.url)
  const messages: unknown[] = []
  subscriber.on('message', (_channel: string, text: string) => messages.push(JSON.parse(text)))
  await subscriber.subscribe(credentialKeys(at.key_prefix).channel)
  return { messages, close: () => subscriber.disconnect() }
}

describe('credential store', () => {
  describe('consumers', () => {
    it('creates a consumer, publishes it with the new version, and refuses the same name', async () => {
      const { store, at } = openStore()
      const feed = await listen(at)
      const created = await store.createConsumer({
        name: 'acme',
        groups: ['partners'],
        tier: 'pro',
      })
      expect(created).toMatchObject({
        name: 'acme',
        groups: ['partners'],
        tier: 'pro',
        metadata: {},
        disabled: false,
      })
      expect(await store.getConsumer('acme')).toEqual(created)
      await expect(store.createConsumer({ name: 'acme' })).rejects.toBeInstanceOf(
        StoreConflictError,
      )
      await waitUntil(() => feed.messages.length === 1, { what: 'the message' })
      expect(feed.messages[0]).toEqual({ v: 1, kind: 'consumer', id: 'acme', record: created })
      expect(await admin.get(credentialKeys(at.key_prefix).version)).toBe('1')
      feed.close()
    })

    it('updates only the fields given and answers null for an unknown consumer', async () => {
      const { store } = openStore()
      await store.createConsumer({ name: 'acme', groups: ['a'], metadata: { tenant: 't1' } })
      const updated = await store.updateConsumer('acme', { disabled: true, tier: 'gold' })
      expect(updated).toMatchObject({
        groups: ['a'],
        metadata: { tenant: 't1' },
        disabled: true,
        tier: 'gold',
      })
      expect(await store.getConsumer('acme')).toEqual(updated)
      expect(await store.updateConsumer('nobody', { disabled: true })).toBeNull()
    })

    it('lists every consumer once across pages, in name order', async () => {
      const { store } = openStore()
      const names = Array.from({ length: 23 }, (_, i) => `c${String(i).padStart(2, '0')}`)
      for (const name of [...names].reverse()) await store.createConsumer({ name })
      const seen: string[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const page = await store.listConsumers(cursor, 5)
        expect(page.items.length).toBeLessThanOrEqual(5)
        seen.push(...page.items.map((c) => c.name))
        cursor = page.next_cursor
        pages++
      } while (cursor !== null && pages < 20)
      expect(pages).toBe(5)
      expect(seen).toEqual(names)
    })

    it('keeps a page boundary stable when a consumer before it is deleted', async () => {
      const { store } = openStore()
      for (const name of ['a', 'b', 'c', 'd']) await store.createConsumer({ name })
      const first = await store.listConsumers(null, 2)
      expect(first.items.map((c) => c.name)).toEqual(['a', 'b'])
      await store.deleteConsumer('a')
      const second = await store.listConsumers(first.next_cursor, 2)
      expect(second.items.map((c) => c.name)).toEqual(['c', 'd'])
      expect(second.next_cursor).toBeNull()
    })

    it('deletes a consumer with its keys and their usage, one message each', async () => {
      const { store, at } = openStore()
      const keys = credentialKeys(at.key_prefix)
      await store.createConsumer({ name: 'acme' })
      await store.createConsumer({ name: 'other' })
      const one = await store.createKey({ consumer: 'acme', prefix: 'pc_live' })
      const two = await store.createKey({ consumer: 'acme', prefix: 'pc_live' })
      const kept = await store.createKey({ consumer: 'other', prefix: 'pc_live' })
      await admin.hset(`${keys.usagePrefix}${one.record.id}`, 'admitted', 3)
      const feed = await listen(at)
      expect(await store.deleteConsumer('acme')).toBe(true)
      expect(await store.deleteConsumer('acme')).toBe(false)
      expect(await store.getConsumer('acme')).toBeNull()
      expect(await store.getKey(one.record.id)).toBeNull()
      expect(await store.getKey(two.record.id)).toBeNull()
      expect(await store.getKey(kept.record.id)).toEqual(kept.record)
      expect(await admin.exists(`${keys.usagePrefix}${one.record.id}`)).toBe(0)
      expect(await admin.exists(`${keys.consumerKeysPrefix}acme`)).toBe(0)
      expect((await store.listKeys(null, null, 10)).items.map((k) => k.id)).toEqual([
        kept.record.id,
      ])
      await waitUntil(() => feed.messages.length === 3, { what: 'three messages' })
      expect(feed.messages).toEqual(
        expect.arrayContaining([
          { v: 6, kind: 'key', id: expect.any(String), record: null },
          { v: 7, kind: 'key', id: expect.any(String), record: null },
          { v: 8, kind: 'consumer', id: 'acme', record: null },
        ]),
      )
      feed.close()
    })
  })

  describe('keys', () => {
    it('creates a key shown once in clear, stored only as hash, prefix and last 4', async () => {
      const { store, at } = openStore()
      const { key, record } = await store.createKey({
        consumer: 'acme',
        prefix: 'pc_test',
        label: 'ci',
        scopes: ['orders:read'],
        allow_ips: ['10.0.0.0/8'],
        expires_at: '2099-01-01T00:00:00.000Z',
      })
      expect(isWellFormedApiKey(key, ['pc_test'])).toBe(true)
      expect(record.id).toMatch(/^key_[0-9A-Za-z]{16}$/)
      expect(record).toMatchObject({
        hash: hasher.hash(key),
        consumer: 'acme',
        prefix: 'pc_test',
        last4: key.slice(-4),
        label: 'ci',
        state: 'active',
        rotated_from: null,
        rotated_to: null,
      })
      const raw = await admin.hget(credentialKeys(at.key_prefix).keys, record.id)
      expect(raw).not.toContain(key)
      expect(await store.getKey(record.id)).toEqual(record)
    })

    it("lists a consumer's keys, or all keys, across pages", async () => {
      const { store } = openStore()
      const mine: string[] = []
      for (let i = 0; i < 7; i++) {
        mine.push((await store.createKey({ consumer: 'acme', prefix: 'pc_live' })).record.id)
      }
      const theirs = (await store.createKey({ consumer: 'other', prefix: 'pc_live' })).record.id
      const collect = async (consumer: string | null) => {
        const ids: string[] = []
        let cursor: string | null = null
        do {
          const page = await store.listKeys(consumer, cursor, 3)
          expect(page.items.length).toBeLessThanOrEqual(3)
          ids.push(...page.items.map((k) => k.id))
          cursor = page.next_cursor
        } while (cursor !== null && ids.length < 100)
        return ids
      }
      expect(await collect('acme')).toEqual([...mine].sort())
      expect(await collect(null)).toEqual([...mine, theirs].sort())
      expect(await collect('nobody')).toEqual([])
    })

    it('revokes an active key and refuses to revoke it again', async () => {
      const { store } = openStore()
      const { record } = await store.createKey({ consumer: 'acme', prefix: 'pc_live' })
      const revoked = await store.revokeKey(record.id)
      expect(revoked).toMatchObject({ id: record.id, state: 'revoked' })
      expect(revoked!.revoked_at).not.toBeNull()
      expect(await store.getKey(record.id)).toEqual(revoked)
      await expect(store.revokeKey(record.id)).rejects.toBeInstanceOf(StoreConflictError)
      expect(await store.revokeKey('key_0000000000000000')).toBeNull()
    })

    it('rotates: a new key with the same grants, the old one valid until now + grace', async () => {
      const { store } = openStore()
      const old = await store.createKey({
        consumer: 'acme',
        prefix: 'pc_live',
        label: 'ci',
        scopes: ['a', 'b'],
        allow_ips: ['2001:db8::/32'],
      })
      const before = Date.now()
      const rotated = await store.rotateKey(old.record.id, 60_000)
      expect(rotated).not.toBeNull()
      const { key, record, previous } = rotated!
      expect(key).not.toBe(old.key)
      expect(record).toMatchObject({
        consumer: 'acme',
        label: 'ci',
        scopes: ['a', 'b'],
        allow_ips: ['2001:db8::/32'],
        hash: hasher.hash(key),
        rotated_from: old.record.id,
        rotated_to: null,
        state: 'active',
      })
      expect(previous).toMatchObject({ id: old.record.id, rotated_to: record.id, state: 'active' })
      const graceEnd = Date.parse(previous.expires_at!)
      expect(graceEnd).toBeGreaterThanOrEqual(before + 60_000)
      expect(graceEnd).toBeLessThanOrEqual(Date.now() + 60_000)
      expect(await store.getKey(old.record.id)).toEqual(previous)
      const listed = (await store.listKeys('acme', null, 10)).items.map((k) => k.id)
      expect(listed.sort()).toEqual([old.record.id, record.id].sort())
      await expect(store.rotateKey(old.record.id, 1000)).rejects.toBeInstanceOf(StoreConflictError)
    })

    it('keeps an expiry sooner than the grace, and refuses to rotate a revoked or expired key', async () => {
      const { store } = openStore()
      const soon = new Date(Date.now() + 10_000).toISOString()
      const old = await store.createKey({ consumer: 'acme', prefix: 'pc_live', expires_at: soon })
      const rotated = await store.rotateKey(old.record.id, 86_400_000)
      expect(rotated!.previous.expires_at).toBe(soon)
      expect(rotated!.record.expires_at).toBe(soon)
      const revoked = await store.createKey({ consumer: 'acme', prefix: 'pc_live' })
      await store.revokeKey(revoked.record.id)
      await expect(store.rotateKey(revoked.record.id, 1000)).rejects.toBeInstanceOf(
        StoreConflictError,
      )
      const past = new Date(Date.now() - 1000).toISOString()
      const expired = await store.createKey({
        consumer: 'acme',
        prefix: 'pc_live',
        expires_at: past,
      })
      await expect(store.rotateKey(expired.record.id, 1000)).rejects.toBeInstanceOf(
        StoreConflictError,
      )
      expect(await store.rotateKey('key_0000000000000000', 1000)).toBeNull()
    })
  })

  describe('usage', () => {
    it('reads what workers flushed: counts added, the newest last use kept', async () => {
      const { store, at } = openStore()
      const { record } = await store.createKey({ consumer: 'acme', prefix: 'pc_live' })
      expect(await store.keyUsage(record.id)).toEqual({
        admitted: 0,
        refused: 0,
        last_used_at: null,
        last_address: null,
      })
      let clock = Date.UTC(2030, 0, 1)
      const worker1 = new KeyUsage(() => clock)
      const worker2 = new KeyUsage(() => clock)
      const flush1 = new KeyUsageFlush(worker1, at, 1000, silent)
      const flush2 = new KeyUsageFlush(worker2, at, 1000, silent)
      flush1.start()
      flush2.start()
      try {
        worker1.record(record.id, true, '10.0.0.1')
        worker1.record(record.id, false, '10.0.0.1')
        clock += 5000
        worker2.record(record.id, true, '2001:db8::1')
        worker2.record(record.id, true, '2001:db8::1')
        // Worker 2 flushes its newer use first; worker 1's older one must not replace it.
        await waitUntil(
          async () => (await flush2.flush(), (await store.keyUsage(record.id))!.admitted === 2),
        )
        await flush1.flush()
        expect(await store.keyUsage(record.id)).toEqual({
          admitted: 3,
          refused: 1,
          last_used_at: new Date(clock).toISOString(),
          last_address: '2001:db8::1',
        })
      } finally {
        await flush1.close()
        await flush2.close()
      }
      expect(await store.keyUsage('key_0000000000000000')).toBeNull()
    })
  })

  describe('when redis goes down between flushes', () => {
    it('keeps the usage counted meanwhile and writes it once redis is back', async () => {
      const at = config()
      const usage = new KeyUsage(() => Date.UTC(2030, 0, 1))
      const flush = new KeyUsageFlush(usage, at, 1000, silent)
      flush.start()
      try {
        await waitUntil(async () => (await flush.flush(), admin.status === 'ready'))
        await redis.kill()
        usage.record('key_DownDownDownDown', true, '10.0.0.9')
        usage.record('key_DownDownDownDown', false, '10.0.0.9')
        await flush.flush()
        expect(usage.size).toBe(0) // drained, held by the flush
        await redis.restart()
        const hash = `${credentialKeys(at.key_prefix).usagePrefix}key_DownDownDownDown`
        await waitUntil(
          async () => {
            await flush.flush()
            return (await admin.hget(hash, 'admitted').catch(() => null)) === '1'
          },
          { what: 'the held counts to be written' },
        )
        expect(await admin.hgetall(hash)).toEqual({
          admitted: '1',
          refused: '1',
          last_used_at: String(Date.UTC(2030, 0, 1)),
          last_address: '10.0.0.9',
        })
      } finally {
        await flush.close()
      }
    })
  })

  describe('when redis is unreachable', () => {
    it('fails each call with StoreUnavailableError', async () => {
      const store = new CredentialStore({ ...config(), url: 'redis://127.0.0.1:1' }, hasher)
      stores.push(store)
      await expect(store.getConsumer('acme')).rejects.toBeInstanceOf(StoreUnavailableError)
      await expect(store.createKey({ consumer: 'a', prefix: 'pc_live' })).rejects.toBeInstanceOf(
        StoreUnavailableError,
      )
    })
  })
})
