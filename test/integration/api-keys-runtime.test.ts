/**
 * API keys managed at runtime, end to end: a real gateway with two workers, a real redis-server,
 * keys created, revoked and rotated through the admin API and used on the traffic listener. Each
 * request opens a connection of its own, so the kernel spreads them over both workers: a change
 * counts as taken only when every worker answers for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_DIGEST, adminCall, adminListeners } from '../helpers/admin.js'
import { startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send, type HttpResult } from '../helpers/http.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { closeAllUpstreams, startUpstream } from '../helpers/upstream.js'

interface KeyView {
  readonly id: string
  readonly state: string
}
interface NewKey {
  readonly key: string
  readonly record: KeyView
}
interface Rotated extends NewKey {
  readonly previous: KeyView & { readonly expires_at: string | null }
}
interface Usage {
  readonly admitted: number
  readonly refused: number
  readonly last_used_at: string | null
  readonly last_address: string | null
}

/** The bound for a change to reach every worker. */
const PROPAGATION_MS = 1000
/** Fresh connections per check: with two workers, all landing on one is a 1-in-2^(n-1) chance. */
const PROBES = 12

describe('API keys managed through the admin API', () => {
  let redis: RedisServer
  let gateway: Gateway
  let admin: string

  const call = <T>(method: string, path: string, body?: unknown) =>
    adminCall<T>(admin, method, path, body)

  const orders = (key: string): Promise<HttpResult> =>
    send(`${gateway.url}/orders/list`, { headers: { 'x-api-key': key } })

  /** Statuses of PROBES requests, each on a new connection. */
  async function probe(key: string): Promise<number[]> {
    return Promise.all(Array.from({ length: PROBES }, async () => (await orders(key)).status))
  }

  /** Milliseconds until every probe answers `status`; fails past `withinMs`. */
  async function untilEvery(key: string, status: number, withinMs: number): Promise<number> {
    const started = Date.now()
    for (;;) {
      const statuses = await probe(key)
      if (statuses.every((s) => s === status)) return Date.now() - started
      if (Date.now() - started > withinMs) {
        throw new Error(`after ${withinMs} ms still ${JSON.stringify(statuses)}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  async function createKey(body: Record<string, unknown> = {}): Promise<NewKey> {
    const created = await call<NewKey>('POST', '/consumers/partner/keys', {
      scopes: ['orders:read'],
      ...body,
    })
    expect(created.status).toBe(201)
    return created.json
  }

  beforeAll(async () => {
    // Persisted, so an outage is an outage and not a flush: the set comes back with Redis.
    redis = await startRedis({ persist: true })
    const upstream = await startUpstream('echo')
    const ports = await adminListeners()
    admin = ports.adminUrl
    gateway = await startGateway({
      workers: 2,
      config: {
        listeners: ports.listeners,
        admin: { tokens: [ADMIN_DIGEST] },
        redis: { url: redis.url },
        api_keys: { prefixes: ['pc_live'], usage_flush: '1s' },
        upstreams: { echo: { targets: [upstream.url] } },
        routes: [
          {
            name: 'orders',
            match: { paths: ['/orders/*'] },
            upstream: 'echo',
            auth: 'api_key',
            scopes: ['orders:read'],
          },
        ],
      },
    })
    expect(
      (await call('POST', '/consumers', { name: 'partner', groups: ['partners'] })).status,
    ).toBe(201)
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
    await redis?.kill()
  })

  it('admits a new key on every worker within a second of its creation', async () => {
    const { key } = await createKey()
    await untilEvery(key, 200, PROPAGATION_MS)
    const answer = await orders(key)
    const seen = JSON.parse(answer.text) as { headers: Record<string, string> }
    expect(seen.headers['x-consumer-id']).toBe('partner')
    expect(seen.headers['x-api-key']).toBeUndefined()
  })

  it('refuses a revoked key on every worker within a second', async () => {
    const { key, record } = await createKey()
    await untilEvery(key, 200, PROPAGATION_MS)
    expect((await call('POST', `/keys/${record.id}/revoke`)).status).toBe(200)
    await untilEvery(key, 401, PROPAGATION_MS)
  })

  it('keeps a rotated key valid for its grace, then refuses it; the new key works at once', async () => {
    const { key: old, record } = await createKey()
    await untilEvery(old, 200, PROPAGATION_MS)
    const rotated = await call<Rotated>('POST', `/keys/${record.id}/rotate`, { grace: '3s' })
    expect(rotated.status).toBe(201)
    const graceEnds = Date.parse(rotated.json.previous.expires_at!)
    await untilEvery(rotated.json.key, 200, PROPAGATION_MS)
    if (Date.now() < graceEnds - 500) expect(await probe(old)).toEqual(Array(PROBES).fill(200))
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, graceEnds - Date.now() + 50)))
    expect(await probe(old)).toEqual(Array(PROBES).fill(401))
    expect(await probe(rotated.json.key)).toEqual(Array(PROBES).fill(200))
  })

  it('refuses a key from its expires_at on', async () => {
    const expires = new Date(Date.now() + 2500)
    const { key } = await createKey({ expires_at: expires.toISOString() })
    await untilEvery(key, 200, PROPAGATION_MS)
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, expires.getTime() - Date.now() + 50)),
    )
    expect(await probe(key)).toEqual(Array(PROBES).fill(401))
  })

  it('holds a key to its allow-list: IPv4 loopback admitted, another block 403', async () => {
    const inside = await createKey({ allow_ips: ['127.0.0.0/8', '::1'] })
    const outside = await createKey({ allow_ips: ['10.0.0.0/8', '2001:db8::/32'] })
    await untilEvery(inside.key, 200, PROPAGATION_MS)
    // Unknown (401) until the key reaches every worker, then refused for its address (403).
    await untilEvery(outside.key, 403, PROPAGATION_MS)
  })

  it('answers 403 insufficient_scope to a key without the route’s scope', async () => {
    const { key } = await createKey({ scopes: ['orders:write'] })
    await untilEvery(key, 403, PROPAGATION_MS)
    expect(JSON.parse((await orders(key)).text).error).toBe('insufficient_scope')
  })

  it('counts usage per key: admitted, refused, last use and address', async () => {
    const { key, record } = await createKey()
    await untilEvery(key, 200, PROPAGATION_MS)
    const usageOf = async () => (await call<Usage>('GET', `/keys/${record.id}/usage`)).json
    /** The counts once every worker's flush (at most a second apart) has landed. */
    const settled = async (done: (usage: Usage) => boolean) => {
      const deadline = Date.now() + 10_000
      let usage = await usageOf()
      while (!done(usage) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200))
        usage = await usageOf()
      }
      await new Promise((resolve) => setTimeout(resolve, 2200))
      return usageOf()
    }
    const before = await settled((usage) => usage.admitted >= PROBES)
    const sent = 7
    for (let i = 0; i < sent; i++) expect((await orders(key)).status).toBe(200)
    const after = await settled((usage) => usage.admitted >= before.admitted + sent)
    expect(after.admitted).toBe(before.admitted + sent)
    expect(after.refused).toBe(0)
    expect(after.last_address).toBe('127.0.0.1')
    expect(Date.parse(after.last_used_at!)).toBeGreaterThan(Date.now() - 10_000)

    expect((await call('POST', `/keys/${record.id}/revoke`)).status).toBe(200)
    await untilEvery(key, 401, PROPAGATION_MS)
    expect((await settled((usage) => usage.refused >= PROBES)).refused).toBeGreaterThanOrEqual(
      PROBES,
    )
  })

  it('keeps serving the last known keys while Redis is down, and takes changes once it is back', async () => {
    const { key: known } = await createKey()
    await untilEvery(known, 200, PROPAGATION_MS)
    await redis.kill()
    try {
      expect(await probe(known)).toEqual(Array(PROBES).fill(200))
      const refused = await call('POST', '/consumers/partner/keys', { scopes: ['orders:read'] })
      expect(refused.status).toBe(503)
      const ready = await send(`${gateway.statusUrl}/readyz`)
      expect(ready.status).toBe(200)
      expect(ready.text).toContain('redis_down')
    } finally {
      await redis.restart()
    }
    // The admin store reconnects on its own; a key made after the outage reaches every worker.
    const deadline = Date.now() + 15_000
    let created: NewKey | null = null
    while (created === null && Date.now() < deadline) {
      const answer = await call<NewKey>('POST', '/consumers/partner/keys', {
        scopes: ['orders:read'],
      })
      if (answer.status === 201) created = answer.json
      else await new Promise((resolve) => setTimeout(resolve, 250))
    }
    expect(created).not.toBeNull()
    await untilEvery(created!.key, 200, 10_000)
    expect(await probe(known)).toEqual(Array(PROBES).fill(200))
  })
})
