/**
 * Exact quotas by leasing, against a real redis-server: members (one RateLimitRegistry and one
 * QuotaLeaser each, in this process, like rate-limit-redis.test.ts) lease blocks of a quota and
 * together admit exactly its limit; unused units go back to Redis when a member stops or a key
 * goes idle; a new period starts a new count; with Redis down a deny quota admits only what was
 * leased and a local_share quota its share (of every member seen, not only of those still in
 * touch), published when Redis returns. The config refuses a quota without redis:.
 */
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { pino, type Logger } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { ConfigProblem, Rejection } from '../../src/errors.js'
import { createDecision, type Decision } from '../../src/rate-limit/algorithms/algorithm.js'
import { compileRateLimit } from '../../src/stages/rate-limit/index.js'
import { type QuotaTable } from '../../src/rate-limit/quota.js'
import { RateLimitRegistry } from '../../src/rate-limit/registry.js'
import type { QuotaConfig, RateLimitPolicyConfig } from '../../src/rate-limit/schema.js'
import { QuotaLeaser } from '../../src/state/quota-lease.js'
import type { RedisConfig } from '../../src/state/schema.js'
import { FakeExchange } from '../helpers/exchange.js'
import { startGateway, stopAllGateways } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { freePort } from '../helpers/ports.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { startUpstream } from '../helpers/upstream.js'
import { sleep, waitUntil } from '../helpers/wait.js'
import { configProblems, loadTestConfig } from '../helpers/config.js'

/** 2030-01-01T00:00:00Z: an hour, day and month boundary. */
const T0 = Date.UTC(2030, 0, 1)
const DAY_MS = 86_400_000
const silent = pino({ level: 'silent' })

let redis: RedisServer
let client: Redis
let prefixes = 0
const members: Member[] = []

beforeAll(async () => {
  redis = await startRedis()
  client = new Redis(redis.url, { lazyConnect: true })
  // Down while the outage tests run; they reconnect it.
  client.on('error', () => {})
  await client.connect()
})

afterEach(async () => {
  await Promise.all(members.splice(0).map((m) => m.leaser.close()))
})

afterAll(async () => {
  client?.disconnect()
  await redis?.kill()
})

function redisConfig(prefix: string): RedisConfig {
  return {
    url: redis.url,
    key_prefix: prefix,
    rate_limit_sync: { interval: '1s', batch: 256, max_backlog: 100_000 },
  }
}

function quotaPolicy(quota: Partial<QuotaConfig>): RateLimitPolicyConfig {
  return {
    key: 'ip',
    algorithm: 'token_bucket',
    quota: { limit: 1000, period: 'day', block: 'auto', on_redis_down: 'deny', ...quota },
    headers: { ietf: true, x_ratelimit: true },
    max_keys: 1000,
  }
}

function freshPrefix(): string {
  return `q${++prefixes}-${process.pid}:`
}

/** One gateway worker as quotas see it: a registry with policy `q` and its leaser. */
class Member {
  readonly registry: RateLimitRegistry
  readonly leaser: QuotaLeaser
  readonly table: QuotaTable
  readonly decision: Decision = createDecision()
  admitted = 0
  refused = 0

  constructor(
    config: RateLimitPolicyConfig,
    prefix: string,
    now: () => number,
    options: { members?: number; idleMs?: number; logger?: Logger } = {},
  ) {
    this.registry = new RateLimitRegistry({ now })
    const problems: ConfigProblem[] = []
    this.registry.compile({ q: config }, problems)
    expect(problems).toEqual([])
    this.registry.sweep()
    this.table = this.registry.quotaTables().get('q')!
    this.leaser = new QuotaLeaser(this.registry, redisConfig(prefix), options.logger ?? silent, {
      members: () => options.members ?? 3,
      idleMs: options.idleMs,
      // Sweeps driven by the test.
      sweepMs: 3_600_000,
    })
    members.push(this)
    this.leaser.start()
  }

  /** One request for `key`; synchronous, like the request path. */
  request(key = 'k'): boolean {
    this.table.consume(0, false, key, this.registry.now(), 1, this.decision)
    if (this.decision.admitted) this.admitted++
    else this.refused++
    return this.decision.admitted
  }

  /** Units leased and not used, for `key`. */
  held(key = 'k'): number {
    return this.table.counter(key)?.lease ?? 0
  }

  /** Requests until a lease arrives and is spent, or `max` refusals in a row. */
  async spend(key = 'k', max = 50): Promise<number> {
    let admitted = 0
    for (let refusals = 0; refusals < max;) {
      if (this.request(key)) {
        admitted++
        refusals = 0
      } else {
        refusals++
        await this.leaser.settled()
        await sleep(1)
      }
    }
    return admitted
  }
}

async function count(key: string): Promise<number> {
  return Number((await client.get(key)) ?? '0')
}

function keyOf(prefix: string, period: string, start: number, k = 'k'): string {
  return `${prefix}q:${period}:${start}:q||${k}`
}

describe('quota leasing through redis', () => {
  describe('when three members consume one quota concurrently', () => {
    it('admits exactly the limit, and never more than was leased', async () => {
      const clock = { t: T0 }
      const prefix = freshPrefix()
      const config = quotaPolicy({ limit: 1000 })
      const all = [0, 1, 2].map(() => new Member(config, prefix, () => clock.t))
      await Promise.all(all.map((m) => m.leaser.ready()))
      const key = keyOf(prefix, 'day', T0)
      let underAdmittedMax = 0
      for (let round = 0; round < 5000; round++) {
        for (const member of all) member.request()
        clock.t += 1
        // Replies arrive between rounds, as they would between requests.
        await new Promise((r) => setImmediate(r))
        const admitted = all.reduce((sum, m) => sum + m.admitted, 0)
        const held = all.reduce((sum, m) => sum + m.held(), 0)
        expect(admitted).toBeLessThanOrEqual(1000)
        if (round % 50 === 0) {
          // Every unit handed out is either admitted or held by a member: nothing beyond Redis.
          await Promise.all(all.map((m) => m.leaser.settled()))
          expect(await count(key)).toBe(admitted + all.reduce((s, m) => s + m.held(), 0))
        }
        // What a spent lease leaves unadmitted for now: units other members hold.
        if (admitted < 1000) underAdmittedMax = Math.max(underAdmittedMax, held)
        if (admitted === 1000) break
      }
      const admitted = all.reduce((sum, m) => sum + m.admitted, 0)
      expect(admitted).toBe(1000)
      // Blocks are capped at 5% of the limit (50), and a member asks for one when it holds half
      // a block: at most 3 × 75 units are held unused at once, the bound of under-admission.
      expect(underAdmittedMax).toBeLessThanOrEqual(225)
      for (const member of all) expect(member.admitted).toBeGreaterThan(100)
      await Promise.all(all.map((m) => m.leaser.settled()))
      expect(await count(key)).toBe(1000)
      // Spent: a refusal says to come back at the end of the day.
      for (const member of all) {
        expect(member.request()).toBe(false)
        await member.leaser.settled()
        expect(member.request()).toBe(false)
      }
      const last = all[0]!.decision
      expect(last).toMatchObject({ quota: 1000, windowSeconds: 86_400, remaining: 0 })
      expect(last.retryAfterSeconds).toBe(Math.ceil((T0 + DAY_MS - clock.t) / 1000))
    })

    it('admits exactly the limit with a fixed block too', async () => {
      const clock = { t: T0 }
      const prefix = freshPrefix()
      const config = quotaPolicy({ limit: 101, block: 7 })
      const all = [0, 1, 2].map(() => new Member(config, prefix, () => clock.t))
      await Promise.all(all.map((m) => m.leaser.ready()))
      const spent = await Promise.all(all.map((m) => m.spend('k', 20)))
      expect(spent.reduce((a, b) => a + b, 0)).toBe(101)
      expect(await count(keyOf(prefix, 'day', T0))).toBe(101)
    })
  })

  describe('on the request path', () => {
    it('refuses a key’s first request with Retry-After: 1 and leases in the background', async () => {
      const clock = { t: T0 + 5000 }
      const prefix = freshPrefix()
      const member = new Member(quotaPolicy({ limit: 1000 }), prefix, () => clock.t)
      await member.leaser.ready()
      expect(member.request()).toBe(false)
      expect(member.decision.retryAfterSeconds).toBe(1)
      await member.leaser.settled()
      // 1% of 1000 leased; the first admitted request leaves 9.
      expect(member.held()).toBe(10)
      expect(member.request()).toBe(true)
      expect(member.decision).toMatchObject({ quota: 1000, remaining: 999, windowSeconds: 86_400 })
      expect(member.decision.resetSeconds).toBe(86_400 - 5)
    })

    it('writes RateLimit-Policy with the period in seconds through the stage', async () => {
      const clock = { t: T0 }
      const prefix = freshPrefix()
      const member = new Member(quotaPolicy({ limit: 500, period: 'hour' }), prefix, () => clock.t)
      await member.leaser.ready()
      const problems: ConfigProblem[] = []
      const policies = member.registry.compile(
        { q: quotaPolicy({ limit: 500, period: 'hour' }) },
        problems,
      )
      const site = { name: 'api', path: 'routes[0]', problems }
      const stage = compileRateLimit(
        { rate_limit: 'q' },
        site,
        true,
        policies,
        member.registry.now,
      )!.postAuth!
      member.registry.sweep()
      expect(problems).toEqual([])
      const send = () => {
        const ex = new FakeExchange()
        ex.clientAddress = '192.0.2.1'
        // Quotas decide synchronously: no borrowing.
        const verdict = stage.onRequest(ex) as Rejection | undefined
        return { verdict, headers: ex.responseHeaders ?? [] }
      }
      const first = send()
      expect(first.verdict?.status).toBe(429)
      expect(first.headers).toContain('retry-after')
      await member.leaser.settled()
      const second = send()
      expect(second.verdict).toBeUndefined()
      expect(second.headers).toEqual(
        expect.arrayContaining([
          'ratelimit-policy',
          '"q";q=500;w=3600',
          'ratelimit',
          '"q";r=499;t=3600',
        ]),
      )
    })
  })

  describe('when a member stops or a key goes idle', () => {
    it('gives unused units back', async () => {
      const clock = { t: T0 }
      const prefix = freshPrefix()
      const config = quotaPolicy({ limit: 1000, block: 40 })
      const [a, b] = [0, 1].map(() => new Member(config, prefix, () => clock.t, { idleMs: 10_000 }))
      await a!.leaser.ready()
      await b!.leaser.ready()
      const key = keyOf(prefix, 'day', T0)
      for (const m of [a!, b!]) {
        m.request()
        await m.leaser.settled()
        for (let i = 0; i < 5; i++) expect(m.request()).toBe(true)
      }
      expect(await count(key)).toBe(80)
      // a stops: its 35 unused units go back.
      await a!.leaser.close()
      expect(await count(key)).toBe(45)
      expect(a!.leaser.stats.released).toBe(35)
      // b's key goes idle: the sweep gives its lease back.
      clock.t += 5000
      b!.leaser.sweep()
      await b!.leaser.settled()
      expect(await count(key)).toBe(45)
      clock.t += 6000
      b!.leaser.sweep()
      await b!.leaser.settled()
      expect(await count(key)).toBe(10)
      expect(b!.table.size).toBe(0)
    })
  })

  describe('when the period ends', () => {
    it('starts a new count in a new key, and the spent one is refused until then', async () => {
      const clock = { t: T0 + 10 * 60_000 }
      const prefix = freshPrefix()
      const member = new Member(quotaPolicy({ limit: 20, period: 'hour' }), prefix, () => clock.t)
      await member.leaser.ready()
      expect(await member.spend()).toBe(20)
      expect(member.request()).toBe(false)
      expect(member.decision.retryAfterSeconds).toBe(50 * 60)
      clock.t = T0 + 3_600_000
      // The old lease is gone with its period; the first request of the new one leases.
      expect(member.request()).toBe(false)
      expect(member.decision.retryAfterSeconds).toBe(1)
      expect(await member.spend()).toBe(20)
      expect(await count(keyOf(prefix, 'hour', T0))).toBe(20)
      expect(await count(keyOf(prefix, 'hour', T0 + 3_600_000))).toBe(20)
      expect(Number(await client.pttl(keyOf(prefix, 'hour', T0 + 3_600_000)))).toBeGreaterThan(0)
    })

    it('aligns months to the 1st, UTC', async () => {
      const clock = { t: Date.UTC(2030, 1, 27, 23, 59) }
      const prefix = freshPrefix()
      const member = new Member(quotaPolicy({ limit: 5, period: 'month' }), prefix, () => clock.t)
      await member.leaser.ready()
      expect(await member.spend()).toBe(5)
      expect(member.decision.windowSeconds).toBe(28 * 86_400)
      clock.t = Date.UTC(2030, 2, 1)
      expect(await member.spend()).toBe(5)
      expect(await count(keyOf(prefix, 'month', Date.UTC(2030, 1, 1)))).toBe(5)
      expect(await count(keyOf(prefix, 'month', Date.UTC(2030, 2, 1)))).toBe(5)
    })
  })

  describe('in a gateway process', () => {
    it('admits exactly the limit over HTTP with two workers, and gives unused units back on SIGTERM', async () => {
      const upstream = await startUpstream('echo')
      const prefix = freshPrefix()
      const route = (name: string) => ({
        name,
        match: { paths: [`/${name}/*`] },
        upstream: 'echo',
        auth: 'none',
        rate_limit: name,
      })
      try {
        const gateway = await startGateway({
          workers: 2,
          config: {
            gossip: { port: await freePort() },
            redis: { url: redis.url, key_prefix: prefix },
            upstreams: { echo: { targets: [upstream.url] } },
            rate_limits: {
              exact: { key: 'route', quota: { limit: 25, block: 5 } },
              big: { key: 'route', quota: { limit: 1000, period: 'month' } },
            },
            routes: [route('exact'), route('big')],
          },
        })
        const now = Date.now()
        const day = now - (now % DAY_MS)
        const statuses: number[] = []
        let spent = false
        // Until both workers have spent their leases: 30 refusals in a row.
        for (let i = 0, refusals = 0; i < 600 && refusals < 30; i++) {
          const result = await send(`${gateway.url}/exact/x`)
          statuses.push(result.status)
          if (result.status === 200) {
            refusals = 0
            continue
          }
          expect(result.status).toBe(429)
          expect(result.headers['ratelimit-policy']).toBe('"exact";q=25;w=86400')
          // Redis said the day is spent: come back tomorrow.
          if (Number(result.headers['retry-after']) > 1) spent = true
          refusals++
          await sleep(10)
        }
        expect(spent).toBe(true)
        expect(statuses.filter((s) => s === 200)).toHaveLength(25)
        expect(await count(`${prefix}q:day:${day}:exact||exact`)).toBe(25)
        // The other quota: a few requests admitted from leases of 10 (1% of 1000) per worker.
        let admitted = 0
        for (let i = 0; i < 100 && admitted < 6; i++) {
          if ((await send(`${gateway.url}/big/x`)).status === 200) admitted++
          else await sleep(10)
        }
        const month = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1)
        const big = `${prefix}q:month:${month}:big||big`
        expect(await count(big)).toBeGreaterThan(admitted)
        expect(await gateway.stop('SIGTERM')).toBe(0)
        expect(await count(big)).toBe(admitted)
      } finally {
        await stopAllGateways()
        await upstream.close()
      }
    })
  })

  describe('on two hosts when Redis goes down', () => {
    it('local_share: a member whose peer went silent still admits only its share', async () => {
      const upstream = await startUpstream('echo')
      const prefix = freshPrefix()
      const [portA, portB] = [await freePort(), await freePort()]
      const config = (port: number, seed: number) => ({
        gossip: { port, seeds: [`127.0.0.1:${seed}`], interval: '20ms', member_timeout: '400ms' },
        redis: { url: redis.url, key_prefix: prefix },
        upstreams: { echo: { targets: [upstream.url] } },
        rate_limits: {
          shared: { key: 'route', quota: { limit: 40, block: 4, on_redis_down: 'local_share' } },
        },
        routes: [
          {
            name: 'shared',
            match: { paths: ['/*'] },
            upstream: 'echo',
            auth: 'none',
            rate_limit: 'shared',
          },
        ],
      })
      try {
        // One worker each: only gossip tells a host that the other shares the quota.
        const a = await startGateway({ workers: 1, config: config(portA, portB) })
        const b = await startGateway({ workers: 1, config: config(portB, portA) })
        await a.waitForLog((l) => l.msg === 'gossip member joined', 5000)
        await b.waitForLog((l) => l.msg === 'gossip member joined', 5000)
        await sleep(600) // membership is looked at every 250 ms
        expect(await b.stop('SIGTERM')).toBe(0)
        await a.waitForLog((l) => l.msg === 'gossip member silent, dropped', 5000)
        await redis.kill()
        let admitted = 0
        for (let i = 0; i < 60; i++) {
          const result = await send(`${a.url}/x`)
          if (result.status === 200) admitted++
          else expect(result.status).toBe(429)
        }
        await a.waitForLog((l) => String(l.msg).startsWith('quota leases: redis unavailable'))
        // 40 / 2 members: b may be admitting its own 20 on the other side of the cut.
        expect(admitted).toBe(20)
      } finally {
        await stopAllGateways()
        await upstream.close()
        await redis.restart()
      }
    })
  })

  describe('when Redis goes down', () => {
    it('deny: admits only what was leased, warns once, and leases again when Redis returns', async () => {
      const clock = { t: T0 }
      const prefix = freshPrefix()
      const warnings: string[] = []
      const infos: string[] = []
      const logger = {
        warn: (_o: unknown, msg: string) => warnings.push(msg),
        info: (_o: unknown, msg: string) => infos.push(msg),
      } as unknown as Logger
      const member = new Member(quotaPolicy({ limit: 1000, block: 30 }), prefix, () => clock.t, {
        logger,
      })
      await member.leaser.ready()
      expect(member.request()).toBe(false) // no lease yet: one block is asked for
      await member.leaser.settled()
      expect(member.request()).toBe(true)
      // 29 of the block of 30 left, above half a block: no refill is asked for.
      await member.leaser.settled()
      expect(member.held()).toBe(29)
      expect(await count(keyOf(prefix, 'day', T0))).toBe(30)
      await redis.kill()
      await waitUntil(() => !member.leaser.healthy || undefined, { what: 'the outage seen' })
      let admitted = 0
      for (let i = 0; i < 200; i++) {
        if (member.request()) admitted++
        clock.t += 10
        await sleep(0)
      }
      await member.leaser.settled()
      // Exactly the lease it held: not one unit Redis did not grant.
      expect(admitted).toBe(29)
      expect(member.held()).toBe(0)
      expect(member.decision.admitted).toBe(false)
      expect(member.decision.retryAfterSeconds).toBe(1)
      expect(warnings).toHaveLength(1)
      expect(member.leaser.stats.failures).toBeGreaterThan(0)
      await redis.restart()
      // The new (empty) Redis grants again; the first requests refused while it reconnects.
      await waitUntil(
        () => {
          clock.t += 1000
          return member.request() || undefined
        },
        { what: 'an admission after recovery', timeoutMs: 15_000, intervalMs: 100 },
      )
      expect(infos.some((m) => m.includes('redis is back'))).toBe(true)
    })

    it('local_share: admits limit / members and publishes it when Redis returns', async () => {
      const clock = { t: T0 }
      const prefix = freshPrefix()
      const member = new Member(
        quotaPolicy({ limit: 300, block: 3, on_redis_down: 'local_share' }),
        prefix,
        () => clock.t,
        { members: 3 },
      )
      await member.leaser.ready()
      member.request()
      await member.leaser.settled()
      for (let i = 0; i < 10; i++) {
        member.request()
        await member.leaser.settled()
      }
      const before = member.admitted
      expect(before).toBe(10)
      await redis.kill()
      await waitUntil(() => !member.leaser.healthy || undefined, { what: 'the outage seen' })
      for (let i = 0; i < 300; i++) {
        member.request()
        clock.t += 10
        await sleep(0)
      }
      // 300 / 3 members: this member's share of the day, its leased requests included.
      expect(member.admitted).toBe(100)
      const debt = member.table.counter('k')!.debt
      expect(debt).toBeGreaterThan(0)
      await redis.restart()
      // The sweep publishes the debt once Redis is back (an empty Redis: the count is the debt).
      const key = keyOf(prefix, 'day', T0)
      await waitUntil(
        async () => {
          clock.t += 1000
          member.leaser.sweep()
          await member.leaser.settled()
          return member.table.counter('k')!.debt === 0 || undefined
        },
        { what: 'the debt published', timeoutMs: 15_000, intervalMs: 100 },
      )
      expect(await count(key)).toBeGreaterThanOrEqual(debt)
      expect(await count(key)).toBeLessThanOrEqual(debt + 3)
    })
  })
})

describe('quota config', () => {
  let dir: string
  let keyFile: string

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pcl-quota-config-'))
    keyFile = join(dir, 'key.pem')
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    writeFileSync(keyFile, publicKey.export({ format: 'pem', type: 'spki' }))
  })

  function withRoute(config: Record<string, unknown>): Record<string, unknown> {
    const issuers = [
      {
        name: 'idp',
        issuer: 'https://idp.test',
        keys: keyFile,
        audiences: ['api'],
        algorithms: ['ES256'],
      },
    ]
    const routes = [
      {
        name: 'api',
        match: { paths: ['/api/*'] },
        upstream: 'u',
        auth: 'jwt',
        jwt: { issuers: ['idp'] },
        rate_limit: 'monthly',
      },
    ]
    return { issuers, routes, ...config }
  }

  const load = (config: Record<string, unknown>) => loadTestConfig(withRoute(config))
  const problems = (config: Record<string, unknown>) => configProblems(withRoute(config))

  it('accepts a quota with redis: and fills its defaults', () => {
    const { config } = load({
      redis: { url: 'redis://127.0.0.1:1' },
      rate_limits: { monthly: { quota: { limit: 10_000 } } },
    })
    expect(config.rate_limits['monthly']!.quota).toEqual({
      limit: 10_000,
      period: 'day',
      block: 'auto',
      on_redis_down: 'deny',
    })
  })

  it('refuses a quota without redis:, naming its path', () => {
    const found = problems({
      rate_limits: { monthly: { quota: { limit: 10_000, period: 'month' } } },
    })
    expect(found).toHaveLength(1)
    expect(found[0]!.path).toBe('rate_limits.monthly.quota')
    expect(found[0]!.reason).toMatch(/needs redis/)
  })

  it('refuses a rate beside a quota', () => {
    const found = problems({
      redis: { url: 'redis://127.0.0.1:1' },
      rate_limits: { monthly: { rate: '10/s', quota: { limit: 10_000 } } },
    })
    expect(found.map((p) => p.path)).toEqual(['rate_limits.monthly.rate'])
  })

  it('refuses an unknown period and a block of 0, each at its path', () => {
    const found = problems({
      redis: { url: 'redis://127.0.0.1:1' },
      rate_limits: { monthly: { quota: { limit: 10, period: 'week', block: 0 } } },
    })
    expect(found).toHaveLength(2)
    expect(found).toEqual(
      expect.arrayContaining([
        { path: 'rate_limits.monthly.quota.block', reason: 'must be at least 1 (got 0)' },
        {
          path: 'rate_limits.monthly.quota.period',
          reason: 'must be one of: hour, day, month (got "week")',
        },
      ]),
    )
  })
})
