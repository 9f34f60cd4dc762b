/**
 * RateLimitSharing with real gossip members on loopback UDP and a real RateLimitRegistry: when a
 * worker is a member at all, how many members it expects, when each counter table enforces only
 * its share of a limit (peers silent, no healthy Redis) and when that is lifted, what it tells the
 * tables about live peers, and that close() leaves no timer behind. The share check itself is
 * driven with fake intervals where no peer needs to answer; a live cluster shows the rest.
 */
import { createSocket, type Socket } from 'node:dgram'
import pino, { type Logger } from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { RateLimitSharing } from '../../../src/cluster/rate-limit-sharing.js'
import { PortcullisError, type ConfigProblem } from '../../../src/errors.js'
import type { GossipSettings } from '../../../src/gossip/schema.js'
import { RateLimitRegistry } from '../../../src/rate-limit/registry.js'
import type { RateLimitPolicyConfig } from '../../../src/rate-limit/schema.js'
import { consecutivePorts } from '../../helpers/ports.js'
import { waitUntil } from '../../helpers/wait.js'

/** SHARE_CHECK_MS of the source: how often the share is chosen. */
const CHECK_MS = 250
const SECRET = Buffer.from('a-gossip-secret-of-at-least-32-bytes!')
/** Both policies allow 12 a minute: a share of 3 is 4 each. */
const RATE_COUNT = 12
/** Generous against a loaded machine: a member must miss four heartbeats in a row to drop. */
const MEMBER_TIMEOUT_MS = 500
const WAIT = { timeoutMs: 4000, intervalMs: 10 }

interface LogLine {
  readonly level: number
  readonly msg: string
  readonly alive?: number
  readonly expected?: number
}

interface Worker {
  readonly sharing: RateLimitSharing
  readonly registry: RateLimitRegistry
  /** What redisHealthy() answers, and how often it was asked. */
  readonly redis: { healthy: boolean; asked: number }
  /** The share changes it logged. */
  shareLog(): LogLine[]
}

const workers: Worker[] = []
const sockets: Socket[] = []

afterEach(async () => {
  vi.useRealTimers()
  await Promise.all(workers.splice(0).map((w) => w.sharing.close()))
  for (const socket of sockets.splice(0)) socket.close()
})

function policy(algorithm: RateLimitPolicyConfig['algorithm']): RateLimitPolicyConfig {
  return {
    key: 'ip',
    algorithm,
    rate: `${RATE_COUNT}/min`,
    headers: { ietf: true, x_ratelimit: true },
    max_keys: 1000,
  }
}

/** A registry serving a windowed and a token-bucket policy, as after a load. */
function registryWithPolicies(): RateLimitRegistry {
  const registry = new RateLimitRegistry()
  const problems: ConfigProblem[] = []
  registry.compile({ w: policy('fixed_window'), b: policy('token_bucket') }, problems)
  expect(problems).toEqual([])
  registry.sweep()
  return registry
}

function worker(
  settings: Partial<GossipSettings>,
  options: { workerIndex?: number; workerCount: number; redisHealthy?: boolean },
): Worker {
  const lines: LogLine[] = []
  const logger: Logger = pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
  )
  const registry = registryWithPolicies()
  const redis = { healthy: options.redisHealthy ?? false, asked: 0 }
  const sharing = new RateLimitSharing(
    registry,
    {
      bind: '127.0.0.1',
      port: 0,
      seeds: [],
      secret: SECRET,
      intervalMs: 25,
      memberTimeoutMs: MEMBER_TIMEOUT_MS,
      maxDatagramBytes: 1200,
      // The share rule of large limits: these limits are small, and would be held exactly.
      exactUpTo: 0,
      borrowTimeoutMs: 2,
      ...settings,
    },
    {
      workerIndex: options.workerIndex ?? 0,
      workerCount: options.workerCount,
      redisHealthy: () => {
        redis.asked++
        return redis.healthy
      },
    },
    logger,
  )
  const created: Worker = {
    sharing,
    registry,
    redis,
    shareLog: () => lines.filter((line) => line.msg.startsWith('rate limits:')),
  }
  workers.push(created)
  return created
}

/** What every table of the worker enforces: its share, its quota (of 12), its live peers. */
function enforced(w: Worker): { shareOf: number; quotas: number[]; peers: number[] } {
  const tables = [...w.registry.tables().values()]
  return {
    shareOf: w.registry.shareOf,
    quotas: tables.map((table) => table.limits[0]!.quota),
    peers: tables.map((table) => table.peers),
  }
}

const WHOLE = { shareOf: 1, quotas: [RATE_COUNT, RATE_COUNT] }
const THIRD = { shareOf: 3, quotas: [RATE_COUNT / 3, RATE_COUNT / 3] }

/** The workers of one host: worker i gossips on base + i and finds the others unconfigured. */
async function host(count: number, redisHealthy = false): Promise<Worker[]> {
  const base = await consecutivePorts(count)
  const started = Array.from({ length: count }, (_, i) =>
    worker({ port: base }, { workerIndex: i, workerCount: count, redisHealthy }),
  )
  await Promise.all(started.map((w) => w.sharing.start()))
  return started
}

/** Every worker's tables were told at a check that `peers` members exchange consumption. */
async function inTouch(group: readonly Worker[], peers: number): Promise<void> {
  await waitUntil(
    () => group.every((w) => w.registry.peers === peers && enforced(w).shareOf === 1),
    { ...WAIT, what: `${peers} members in touch, shares lifted` },
  )
}

describe('rate-limit sharing', () => {
  describe('without gossip (one worker, no seeds)', () => {
    it('is no gossip member, expects only itself and never enforces a share', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
      const w = worker({}, { workerCount: 1 })
      expect(w.sharing.member).toBeNull()
      await w.sharing.start()
      expect(vi.getTimerCount()).toBe(0)
      vi.advanceTimersByTime(10 * CHECK_MS)
      expect(w.sharing.expected).toBe(1)
      expect(enforced(w)).toEqual({ ...WHOLE, peers: [1, 1] })
      expect(w.registry.peers).toBe(1)
      expect(w.redis.asked).toBe(0)
      await w.sharing.close()
    })
  })

  it('is a gossip member as soon as limits are shared: several workers, or seeds', () => {
    expect(worker({}, { workerCount: 2 }).sharing.member).not.toBeNull()
    const seeded = worker({ seeds: [{ host: '127.0.0.1', port: 7946 }] }, { workerCount: 1 })
    expect(seeded.sharing.member).not.toBeNull()
  })

  describe('when the members it expects never answer (the check on fake intervals)', () => {
    // Port 0 binds an ephemeral port and probes no neighbours: this host's other workers are
    // expected but silent, as when gossip between them is cut.
    async function lonely(redisHealthy: boolean): Promise<Worker> {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
      const w = worker({}, { workerCount: 3, redisHealthy })
      await w.sharing.start()
      return w
    }

    it('expects this host’s workers before hearing any, and enforces 1/3 without Redis at the first check', async () => {
      const w = worker({}, { workerCount: 3 })
      expect(w.sharing.expected).toBe(3)
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
      await w.sharing.start()
      expect(enforced(w).shareOf).toBe(1)
      vi.advanceTimersByTime(CHECK_MS)
      expect(enforced(w)).toEqual({ ...THIRD, peers: [1, 1] })
      expect(w.sharing.expected).toBe(3)
      expect(w.shareLog()).toEqual([expect.objectContaining({ level: 40, alive: 1, expected: 3 })])
    })

    it('leaves the limit whole while Redis is healthy, and shares it as soon as Redis fails', async () => {
      const w = await lonely(true)
      vi.advanceTimersByTime(CHECK_MS)
      expect(enforced(w)).toEqual({ ...WHOLE, peers: [1, 1] })
      expect(w.redis.asked).toBe(1)
      w.redis.healthy = false
      vi.advanceTimersByTime(CHECK_MS)
      expect(enforced(w)).toMatchObject(THIRD)
      w.redis.healthy = true
      vi.advanceTimersByTime(CHECK_MS)
      expect(enforced(w)).toMatchObject(WHOLE)
      expect(w.shareLog().map((line) => [line.level, line.msg])).toEqual([
        [40, expect.stringMatching(/each member enforces its share/)],
        [30, expect.stringMatching(/shared limits restored/)],
      ])
    })

    it('logs a change of share once, not at every check', async () => {
      const w = await lonely(false)
      vi.advanceTimersByTime(20 * CHECK_MS)
      expect(enforced(w)).toMatchObject(THIRD)
      expect(w.shareLog()).toHaveLength(1)
    })

    it('stops its check and its member’s timer when closed', async () => {
      const w = await lonely(true)
      expect(vi.getTimerCount()).toBe(2)
      vi.advanceTimersByTime(CHECK_MS)
      const asked = w.redis.asked
      await w.sharing.close()
      expect(vi.getTimerCount()).toBe(0)
      w.redis.healthy = false
      vi.advanceTimersByTime(10 * CHECK_MS)
      expect(w.redis.asked).toBe(asked)
      expect(enforced(w)).toMatchObject(WHOLE)
    })
  })

  describe('when its gossip port is taken', () => {
    it('fails to start with PCL_ERR_LISTEN and leaves no timer', async () => {
      const taken = createSocket('udp4')
      sockets.push(taken)
      await new Promise<void>((resolve) => taken.bind(0, '127.0.0.1', resolve))
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
      const w = worker({ port: taken.address().port }, { workerCount: 2 })
      const failure = await w.sharing.start().catch((error: unknown) => error)
      expect(failure).toBeInstanceOf(PortcullisError)
      expect(failure).toMatchObject({ code: 'PCL_ERR_LISTEN' })
      expect(vi.getTimerCount()).toBe(0)
    })
  })

  describe('on a live cluster (loopback UDP)', () => {
    it('finds this host’s other workers unconfigured and shares nothing while they are alive', async () => {
      const workers3 = await host(3)
      await inTouch(workers3, 3)
      for (const w of workers3) {
        expect(w.sharing.member!.size).toBe(2)
        expect(w.sharing.expected).toBe(3)
        expect(enforced(w)).toEqual({ ...WHOLE, peers: [3, 3] })
      }
    })

    it('has the members left enforce 1/3 when one goes silent, and lifts it when it is back', async () => {
      const [a, b, c] = await host(3)
      await inTouch([a!, b!, c!], 3)
      const port = c!.sharing.member!.address().port
      await c!.sharing.close()
      await waitUntil(() => enforced(a!).shareOf === 3 && enforced(b!).shareOf === 3, {
        ...WAIT,
        what: 'shares on the members left',
      })
      for (const w of [a!, b!]) {
        // The silent member still counts: it may still admit its own share.
        expect(w.sharing.expected).toBe(3)
        expect(enforced(w)).toEqual({ ...THIRD, peers: [2, 2] })
        expect(w.shareLog().at(-1)).toMatchObject({ level: 40, alive: 2, expected: 3 })
      }
      // The cluster primary restarts worker 2 on its port, with a new sender id.
      const back = worker({ port: port - 2 }, { workerIndex: 2, workerCount: 3 })
      await back.sharing.start()
      await inTouch([a!, b!, back], 3)
      for (const w of [a!, b!]) {
        expect(w.sharing.expected).toBe(3)
        expect(enforced(w)).toEqual({ ...WHOLE, peers: [3, 3] })
        expect(w.shareLog().at(-1)).toMatchObject({ level: 30, alive: 3 })
      }
    })

    it('keeps the whole limit when members go silent while Redis is healthy, and shares it when Redis fails', async () => {
      const [a, b] = await host(2, true)
      await inTouch([a!, b!], 2)
      await b!.sharing.close()
      // peers is set at a check: the first one that saw b gone also chose the share.
      await waitUntil(() => a!.registry.peers === 1, { ...WAIT, what: 'b dropped' })
      expect(enforced(a!)).toEqual({ ...WHOLE, peers: [1, 1] })
      a!.redis.healthy = false
      await waitUntil(() => enforced(a!).shareOf === 2, { ...WAIT, what: 'a share of 2' })
      expect(enforced(a!).quotas).toEqual([RATE_COUNT / 2, RATE_COUNT / 2])
    })

    it('expects the most members seen alive at once, other hosts included, and shares among all of them', async () => {
      const [a, b] = await host(2)
      const base = a!.sharing.member!.address().port
      // Another host: one worker, seeded with any member of this one.
      const other = worker({ seeds: [{ host: '127.0.0.1', port: base }] }, { workerCount: 1 })
      await other.sharing.start()
      await inTouch([a!, b!, other], 3)
      for (const w of [a!, b!, other]) expect(w.sharing.expected).toBe(3)
      await other.sharing.close()
      await waitUntil(() => enforced(a!).shareOf === 3 && enforced(b!).shareOf === 3, {
        ...WAIT,
        what: 'shares of 3 on this host',
      })
      for (const w of [a!, b!]) {
        expect(w.sharing.expected).toBe(3)
        expect(enforced(w)).toEqual({ ...THIRD, peers: [2, 2] })
      }
    })
  })
})
