/**
 * Redis reconciliation of rate-limit counters against a real redis-server: members (one
 * RateLimitRegistry and one RedisRateLimitSync each, in this process, without gossip) that share
 * only a Redis hold a limit together, a late member learns the state at its first round, the
 * request path sends Redis nothing, and an outage is survived, logged once and caught up on.
 */
import { Redis } from 'ioredis'
import { pino, type Logger } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { ConfigProblem } from '../../src/errors.js'
import { createDecision } from '../../src/rate-limit/algorithms/algorithm.js'
import { RateLimitRegistry } from '../../src/rate-limit/registry.js'
import type { RateLimitPolicyConfig } from '../../src/rate-limit/schema.js'
import { RedisRateLimitSync } from '../../src/state/rate-limit-sync.js'
import type { RedisConfig } from '../../src/state/schema.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { sleep, waitUntil } from '../helpers/wait.js'

/** 2030-01-01T00:00:00Z: a minute boundary, so simulated windows start with the test. */
const T0 = Date.UTC(2030, 0, 1)
const silent = pino({ level: 'silent' })

let redis: RedisServer
let prefixes = 0
const syncs: RedisRateLimitSync[] = []

beforeAll(async () => {
  redis = await startRedis()
})

afterEach(() => {
  for (const sync of syncs.splice(0)) sync.close()
})

afterAll(async () => {
  await redis?.kill()
})

function redisConfig(prefix: string): RedisConfig {
  return {
    url: redis.url,
    key_prefix: prefix,
    rate_limit_sync: { interval: '100ms', batch: 256, max_backlog: 100_000 },
  }
}

function policy(extra: Partial<RateLimitPolicyConfig>): RateLimitPolicyConfig {
  return {
    key: 'ip',
    algorithm: 'fixed_window',
    headers: { ietf: true, x_ratelimit: true },
    max_keys: 1000,
    ...extra,
  }
}

/** One gateway worker as the counters see it: a registry with policy `p` and its Redis sync. */
class Member {
  readonly registry: RateLimitRegistry
  readonly sync: RedisRateLimitSync
  admitted = 0
  readonly #decision = createDecision()

  constructor(
    config: RateLimitPolicyConfig,
    prefix: string,
    now: () => number,
    options: { intervalMs?: number; logger?: Logger } = {},
  ) {
    this.registry = new RateLimitRegistry({ now })
    const problems: ConfigProblem[] = []
    this.registry.compile({ p: config }, problems)
    expect(problems).toEqual([])
    this.registry.sweep()
    this.sync = new RedisRateLimitSync(
      this.registry,
      redisConfig(prefix),
      options.logger ?? silent,
      {
        // Rounds driven by the test unless it asks for the timer.
        intervalMs: options.intervalMs ?? 3_600_000,
      },
    )
    syncs.push(this.sync)
    this.sync.start()
  }

  /** One request for `key`; synchronous, like the request path. */
  request(key = 'k'): boolean {
    const table = this.registry.tables().get('p')!
    table.consume(0, false, key, this.registry.now(), 1, this.#decision)
    if (this.#decision.admitted) this.admitted++
    return this.#decision.admitted
  }

  /** Requests until one is refused (at most `max`); how many were admitted. */
  drain(max = 10_000, key = 'k'): number {
    let n = 0
    while (n < max && this.request(key)) n++
    return n
  }

  /** Waits for the connection, then does one round. */
  async connected(): Promise<void> {
    await waitUntil(() => this.sync.sync(), { what: 'a first round', intervalMs: 20 })
  }
}

function freshPrefix(): string {
  return `t${++prefixes}-${process.pid}:`
}

interface Pace {
  /** Simulated ms between two requests of each member. */
  readonly requestMs: number
  /** Simulated ms between two rounds of every member. */
  readonly roundMs: number
}

/**
 * `members` each send one request per `pace.requestMs` of simulated time (10 ms) for
 * `durationMs`, with a round of every member every `pace.roundMs` (100 ms), and (with `gossip`)
 * every member's deltas handed to the others every 50 ms, as the gossip layer does; returns the
 * requests admitted in all.
 */
async function drive(
  members: Member[],
  clock: { t: number },
  durationMs: number,
  gossip = false,
  pace: Pace = { requestMs: 10, roundMs: 100 },
): Promise<number> {
  const end = clock.t + durationMs
  const gossipEvery = Math.max(1, Math.round(50 / pace.requestMs))
  const roundEvery = Math.max(1, Math.round(pace.roundMs / pace.requestMs))
  for (let step = 1; clock.t < end; step++) {
    for (const member of members) member.request()
    clock.t += pace.requestMs
    if (gossip && step % gossipEvery === 0) {
      for (const from of members) {
        const deltas = from.registry.takeLocalDeltas()
        for (const to of members) if (to !== from) to.registry.applyRemote(deltas, clock.t)
      }
    }
    if (step % roundEvery === 0) {
      for (const member of members) expect(await member.sync.sync()).toBe(true)
    }
  }
  const admitted = members.reduce((sum, m) => sum + m.admitted, 0)
  if (process.env['PCL_TEST_VERBOSE']) console.log('admitted', admitted)
  return admitted
}

/** The ratelimit bench's proportions: a round (1 s) holds ten bursts (20 at 200/s), 10 s. */
const BENCH_BUCKET_ALLOWED = 20 + 200 * 10

/** 4 members hammering one token bucket at the bench's proportions; the requests admitted. */
async function driveBenchBucket(gossip: boolean): Promise<number> {
  const clock = { t: T0 }
  const prefix = freshPrefix()
  const config = policy({ algorithm: 'token_bucket', rate: '200/s', burst: 20 })
  const members = [0, 1, 2, 3].map(() => new Member(config, prefix, () => clock.t))
  for (const member of members) await member.connected()
  return drive(members, clock, 10_000, gossip, { requestMs: 2, roundMs: 1000 })
}

describe('rate-limit reconciliation through redis', () => {
  describe('when members share only a Redis', () => {
    for (const algorithm of ['fixed_window', 'sliding_window'] as const) {
      it(`holds a ${algorithm} limit together within a few percent`, async () => {
        const clock = { t: T0 }
        const prefix = freshPrefix()
        const config = policy({ algorithm, rate: '1000/min' })
        const members = [0, 1, 2].map(() => new Member(config, prefix, () => clock.t))
        for (const member of members) await member.connected()
        // 300 requests/s offered for 10 s against 1000/min: the quota is met after about 3.3 s.
        const admitted = await drive(members, clock, 10_000)
        expect(admitted).toBeGreaterThanOrEqual(1000)
        expect(admitted).toBeLessThanOrEqual(1030)
        // Each member alone would have admitted up to 1000.
        for (const member of members) expect(member.admitted).toBeLessThan(600)
      })
    }

    it('holds a token bucket together within a few percent', async () => {
      const clock = { t: T0 }
      const prefix = freshPrefix()
      const config = policy({ algorithm: 'token_bucket', rate: '100/s' })
      const members = [0, 1, 2].map(() => new Member(config, prefix, () => clock.t))
      for (const member of members) await member.connected()
      // 300 requests/s offered for 5 s against 100/s with a burst of 100: 100 + 5 × 100.
      const admitted = await drive(members, clock, 5000)
      expect(admitted).toBeGreaterThanOrEqual(600 * 0.97)
      expect(admitted).toBeLessThanOrEqual(600 * 1.05)
    })

    it('publishes only its own consumption: every unit once', async () => {
      const clock = { t: T0 }
      const prefix = freshPrefix()
      const config = policy({ algorithm: 'fixed_window', rate: '100/min' })
      const [a, b] = [0, 1].map(() => new Member(config, prefix, () => clock.t))
      await a!.connected()
      await b!.connected()
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 5; j++) {
          a!.request()
          b!.request()
        }
        await a!.sync.sync()
        await b!.sync.sync()
      }
      const client = new Redis(redis.url)
      try {
        expect(await client.get(`${prefix}rl:w:60000:${T0}:p||k`)).toBe('30')
        expect(Number(await client.pttl(`${prefix}rl:w:60000:${T0}:p||k`))).toBeGreaterThan(0)
      } finally {
        client.disconnect()
      }
      expect(a!.sync.stats).toMatchObject({ published: 15, backlog: 0, dropped: 0 })
    })
  })

  describe('when gossip runs too', () => {
    it('counts nothing twice: a window still admits its whole quota', async () => {
      const clock = { t: T0 }
      const prefix = freshPrefix()
      const config = policy({ algorithm: 'fixed_window', rate: '1000/min' })
      const members = [0, 1, 2].map(() => new Member(config, prefix, () => clock.t))
      for (const member of members) await member.connected()
      const admitted = await drive(members, clock, 10_000, true)
      expect(admitted).toBeGreaterThanOrEqual(1000)
      expect(admitted).toBeLessThanOrEqual(1010)
    })

    it('counts nothing twice: a bucket still admits its burst and rate', async () => {
      const clock = { t: T0 }
      const prefix = freshPrefix()
      const config = policy({ algorithm: 'token_bucket', rate: '100/s' })
      const members = [0, 1, 2].map(() => new Member(config, prefix, () => clock.t))
      for (const member of members) await member.connected()
      const admitted = await drive(members, clock, 5000, true)
      expect(admitted).toBeGreaterThanOrEqual(600 * 0.97)
      expect(admitted).toBeLessThanOrEqual(600 * 1.03)
    })

    it("admits a bucket's rate when a round spans many bursts (no debt from late publishing)", async () => {
      // Consumption spread over a round and published at its end must not read in Redis as a
      // burst at the end, or every member waits out a debt the cluster never ran up.
      const admitted = await driveBenchBucket(true)
      expect(admitted / BENCH_BUCKET_ALLOWED).toBeGreaterThanOrEqual(0.97)
      expect(admitted / BENCH_BUCKET_ALLOWED).toBeLessThanOrEqual(1.03)
    })

    it('holds a bucket on Redis alone when rounds span many bursts', async () => {
      // 4 members each alone would admit 4× the allowed. Between two rounds each refills the
      // whole rate for itself; the debt Redis reports takes most of that back.
      const admitted = await driveBenchBucket(false)
      expect(admitted).toBeLessThanOrEqual(BENCH_BUCKET_ALLOWED * 1.25)
      expect(admitted).toBeGreaterThanOrEqual(BENCH_BUCKET_ALLOWED * 0.95)
    })
  })

  describe('when a member joins late', () => {
    it('decides its first request locally and learns the window at its first round', async () => {
      const clock = { t: T0 + 1000 }
      const prefix = freshPrefix()
      const config = policy({ algorithm: 'fixed_window', rate: '10/min' })
      const a = new Member(config, prefix, () => clock.t)
      await a.connected()
      for (let i = 0; i < 8; i++) expect(a.request()).toBe(true)
      await a.sync.sync()
      const late = new Member(config, prefix, () => clock.t)
      await late.connected()
      expect(late.request()).toBe(true) // a key it has never seen: decided locally
      await late.sync.sync()
      expect(late.drain()).toBe(1) // 8 + 1 + 1 = 10
    })

    it('learns the previous sliding window too', async () => {
      const clock = { t: T0 + 5000 }
      const prefix = freshPrefix()
      const config = policy({ algorithm: 'sliding_window', rate: '10/min' })
      const a = new Member(config, prefix, () => clock.t)
      await a.connected()
      expect(a.drain()).toBe(10)
      await a.sync.sync()
      clock.t = T0 + 90_000 // halfway through the next window: 5 of the previous 10 still weigh
      const late = new Member(config, prefix, () => clock.t)
      await late.connected()
      expect(late.request()).toBe(true)
      await late.sync.sync()
      expect(late.drain()).toBe(4)
    })

    it('learns the tokens left in a bucket', async () => {
      const clock = { t: T0 }
      const prefix = freshPrefix()
      const config = policy({ algorithm: 'token_bucket', rate: '10/min' })
      const a = new Member(config, prefix, () => clock.t)
      await a.connected()
      for (let i = 0; i < 8; i++) expect(a.request()).toBe(true)
      await a.sync.sync()
      const late = new Member(config, prefix, () => clock.t)
      await late.connected()
      expect(late.request()).toBe(true)
      await late.sync.sync()
      expect(late.drain()).toBe(1)
      // And the first member learns what the late one took (the key it no longer uses is read
      // once more: the round after its last use).
      await late.sync.sync()
      await a.sync.sync()
      expect(a.drain()).toBe(0)
      clock.t += 6000 // one token refilled
      expect(a.drain()).toBe(1)
    })
  })

  describe('on the request path', () => {
    it('sends Redis nothing: rounds are its only callers', async () => {
      const prefix = freshPrefix()
      const a = new Member(policy({ rate: '100000/min' }), prefix, Date.now)
      await a.connected()
      const client = new Redis(redis.url)
      /** Calls of the script, and of the command it runs for a window, so far. */
      const calls = async () => {
        const info = await client.info('commandstats')
        const of = (command: string) =>
          Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0)
        return { script: of('evalsha') + of('eval'), incrbyfloat: of('incrbyfloat') }
      }
      try {
        const before = await calls()
        // Decided on the spot, every one: 100 a key, far below the limit.
        for (let i = 0; i < 5000; i++) expect(a.request(`k${i % 50}`)).toBe(true)
        await sleep(50)
        expect(await calls()).toEqual(before)
        expect(a.sync.stats.published).toBe(0)
        expect(await a.sync.sync()).toBe(true)
        // 50 keys, one script call, every admitted request published in it.
        expect(await calls()).toEqual({
          script: before.script + 1,
          incrbyfloat: before.incrbyfloat + 50,
        })
        expect(a.sync.stats).toMatchObject({ published: 5000, backlog: 0, dropped: 0 })
      } finally {
        client.disconnect()
      }
    })
  })

  describe('when Redis goes down', () => {
    it('keeps limiting locally, warns once, counts failures, and publishes its backlog on return', async () => {
      // Real time, from a minute boundary: the timer drives the rounds every 100 ms.
      const started = Date.now()
      const now = () => T0 + (Date.now() - started)
      const lines: { level: number; msg: string }[] = []
      const logger = pino(
        { level: 'info' },
        { write: (line: string) => lines.push(JSON.parse(line)) },
      )
      const prefix = freshPrefix()
      const config = policy({ algorithm: 'fixed_window', rate: '100/min' })
      const [a, b] = [0, 1].map(() => new Member(config, prefix, now, { intervalMs: 100, logger }))
      await waitUntil(() => a!.sync.healthy && b!.sync.healthy, { what: 'both healthy' })
      for (let i = 0; i < 10; i++) expect(a!.request() && b!.request()).toBe(true)
      const published = () => a!.sync.stats.published + b!.sync.stats.published
      await waitUntil(() => published() === 20, { what: 'the first 20 published' })
      await sleep(300) // a round more of each reads what the other published

      await redis.kill()
      await waitUntil(() => a!.sync.stats.failures >= 3 && b!.sync.stats.failures >= 3, {
        what: 'failed rounds',
      })
      expect(a!.sync.healthy).toBe(false)
      // a alone still refuses past the limit as it knows it (20 seen before the cut); b admits 10.
      expect(a!.drain()).toBe(80)
      for (let i = 0; i < 10; i++) expect(b!.request()).toBe(true)
      await sleep(300)
      const warnings = lines.filter((l) => l.msg.includes('redis unavailable'))
      expect(warnings).toHaveLength(2) // one per member, not one per round

      await redis.restart() // empty: no persistence
      await waitUntil(() => a!.sync.healthy && b!.sync.healthy, {
        timeoutMs: 10_000,
        what: 'both healthy again',
      })
      expect(lines.filter((l) => l.msg.includes('redis is back'))).toHaveLength(2)
      // The backlogs, each unit once: a's 10 + 80 and b's 10 + 10 in all.
      await waitUntil(() => a!.sync.stats.published === 90 && b!.sync.stats.published === 20, {
        what: 'both backlogs published',
      })
      expect(a!.sync.stats).toMatchObject({ backlog: 0, dropped: 0 })
      expect(b!.sync.stats).toMatchObject({ backlog: 0, dropped: 0 })
      const client = new Redis(redis.url)
      try {
        const window = now() - ((now() - T0) % 60_000)
        // 80 + 10: the 20 of before the cut went with the old Redis.
        expect(await client.get(`${prefix}rl:w:60000:${window}:p||k`)).toBe('90')
      } finally {
        client.disconnect()
      }
      // b uses the key again: admitted on what it knows (30), and its next round reads a's 80.
      expect(b!.request()).toBe(true)
      await waitUntil(() => b!.sync.stats.published === 21, { what: 'b’s next round' })
      // Alone (31 seen) b would admit 69 more; knowing the 91 of both, 9.
      expect(b!.drain()).toBe(9)
    })
  })
})
