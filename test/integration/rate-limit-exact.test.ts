/**
 * Small limits hold exactly across the workers of one gateway (issue 14): bursts at 1, 2, 5 and
 * 10 a minute, sent one after the other and all at once, with a new connection per request so
 * SO_REUSEPORT spreads them over the workers, admit exactly the limit, for every algorithm, on 2
 * and 4 workers. Gossip alone lets each worker admit a burst before it hears the others.
 *
 * The borrow wait is generous here: the test is about counting, not speed, and a shared CI core
 * may leave a worker unscheduled for a while (a late answer refuses, which would count short).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, stopAllGateways, type Gateway, type RouteInput } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { consecutivePorts } from '../helpers/ports.js'
import { closeAllUpstreams, startUpstream } from '../helpers/upstream.js'
import { sleep } from '../helpers/wait.js'

const LIMITS = [1, 2, 5, 10] as const
const ALGORITHMS = ['fixed_window', 'sliding_window', 'token_bucket'] as const
/** Bursts per limit and algorithm, each with a key of its own. */
const RUNS = 3
/** A minute window's last seconds: a burst there could be counted in two windows. */
const MINUTE_MS = 60_000
const EDGE_MS = 8_000

type AlgorithmName = (typeof ALGORITHMS)[number]

function routeName(algorithm: AlgorithmName, limit: number): string {
  return `${algorithm.replace('_', '-')}-${limit}`
}

/** Waits out the end of a calendar minute, so a whole burst falls in one window. */
async function clearOfMinuteEdge(): Promise<void> {
  const into = Date.now() % MINUTE_MS
  if (into > MINUTE_MS - EDGE_MS) await sleep(MINUTE_MS - into + 50)
}

let keys = 0

async function burst(
  gateway: Gateway,
  path: string,
  requests: number,
  concurrent: boolean,
): Promise<number> {
  const key = `client-${process.pid}-${keys++}`
  const one = async () => {
    const result = await send(`${gateway.url}${path}`, { headers: { 'x-client': key } })
    if (result.status !== 200) expect(result.status).toBe(429)
    return result.status === 200 ? 1 : 0
  }
  if (concurrent) {
    const results = await Promise.all(Array.from({ length: requests }, one))
    return results.reduce<number>((a, b) => a + b, 0)
  }
  let admitted = 0
  for (let i = 0; i < requests; i++) admitted += await one()
  return admitted
}

describe.each([2, 4])('small limits on %i workers', (workers) => {
  let gateway: Gateway

  beforeAll(async () => {
    const upstream = await startUpstream('echo')
    const rateLimits: Record<string, unknown> = {}
    const routes: RouteInput[] = []
    for (const algorithm of ALGORITHMS) {
      for (const limit of LIMITS) {
        const name = routeName(algorithm, limit)
        rateLimits[name] = { key: 'header:x-client', algorithm, rate: `${limit}/min` }
        routes.push({
          name,
          match: { paths: [`/${name}/*`] },
          upstream: 'echo',
          auth: 'none',
          rate_limit: name,
        })
      }
    }
    gateway = await startGateway({
      workers,
      config: {
        upstreams: { echo: { targets: [upstream.url] } },
        gossip: {
          port: await consecutivePorts(workers),
          interval: '20ms',
          member_timeout: '2s',
          borrow_timeout: '1s',
        },
        rate_limits: rateLimits,
        routes,
      },
    })
  }, 60_000)

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  describe.each(ALGORITHMS)('%s', (algorithm) => {
    it.each(LIMITS)('admits exactly %i a minute in quick sequential bursts', async (limit) => {
      const path = `/${routeName(algorithm, limit)}/x`
      for (let run = 0; run < RUNS; run++) {
        await clearOfMinuteEdge()
        expect(await burst(gateway, path, 2 * limit + 3, false)).toBe(limit)
      }
    })

    it.each(LIMITS)('admits exactly %i a minute in concurrent bursts', async (limit) => {
      const path = `/${routeName(algorithm, limit)}/x`
      for (let run = 0; run < RUNS; run++) {
        await clearOfMinuteEdge()
        expect(await burst(gateway, path, 2 * limit + 3, true)).toBe(limit)
      }
    })
  })

  it('spread the requests over more than one worker', () => {
    const pids = new Set(gateway.accessLogs().map((line) => line['pid']))
    expect(pids.size).toBeGreaterThan(1)
  })
})
