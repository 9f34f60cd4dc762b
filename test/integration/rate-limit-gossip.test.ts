/**
 * Two workers of one gateway share a limit over gossip on loopback, and two gateways share one
 * through Redis: together they admit the limit, not twice it. Requests open a new connection each, so SO_REUSEPORT spreads them over
 * both workers.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { startGateway, stopAllGateways } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { freePort } from '../helpers/ports.js'
import { startRedis } from '../helpers/redis.js'
import { closeAllUpstreams, startUpstream } from '../helpers/upstream.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Time the 80-request loop below may take on a loaded machine. */
const LOOP_BUDGET_MS = 20_000

/** Waits for the next hour when fewer than `needMs` of this one are left. */
async function clearOfHourEdge(needMs: number): Promise<void> {
  const left = 3_600_000 - (Date.now() % 3_600_000)
  if (left < needMs) await sleep(left + 100)
}

// Hourly windows (aligned to the epoch): a run of a few seconds almost never straddles two, so
// a reset half-way cannot pass for a leak.

describe('rate limits shared by gossip', () => {
  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  it('holds a limit across two workers', { timeout: 60_000 }, async () => {
    const upstream = await startUpstream('echo')
    const gateway = await startGateway({
      workers: 2,
      config: {
        upstreams: { echo: { targets: [upstream.url] } },
        gossip: { port: await freePort(), interval: '20ms', member_timeout: '400ms' },
        rate_limits: {
          per_client: { key: 'header:x-client', algorithm: 'fixed_window', rate: '20/h' },
        },
        routes: [
          {
            name: 'api',
            match: { paths: ['/*'] },
            upstream: 'echo',
            auth: 'none',
            rate_limit: 'per_client',
          },
        ],
      },
    })
    // Let the two members hear each other's heartbeats before counting.
    await sleep(600)
    await clearOfHourEdge(LOOP_BUDGET_MS)
    let admitted = 0
    for (let i = 0; i < 60; i++) {
      const result = await send(`${gateway.url}/x`, { headers: { 'x-client': 'shared' } })
      if (result.status === 200) admitted++
      else expect(result.status).toBe(429)
      await sleep(10)
    }
    // Alone, each worker would admit 20 (40 in all); gossip brings the sum back to 20, give or
    // take what one interval lets through before a delta arrives.
    await sleep(200)
    const workers = new Set(gateway.accessLogs().map((line) => line['pid']))
    expect(workers.size).toBe(2) // both workers took requests: each alone would admit 20
    expect(admitted).toBeGreaterThanOrEqual(20)
    expect(admitted).toBeLessThanOrEqual(23)
  })
})

describe('rate limits shared through Redis', () => {
  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  it('holds a limit across two gateways that share only a Redis', { timeout: 60_000 }, async () => {
    const redis = await startRedis()
    try {
      const upstream = await startUpstream('echo')
      const config = {
        redis: { url: redis.url, rate_limit_sync: { interval: '100ms' } },
        upstreams: { echo: { targets: [upstream.url] } },
        rate_limits: {
          per_client: { key: 'header:x-client', algorithm: 'fixed_window', rate: '30/h' },
        },
        routes: [
          {
            name: 'api',
            match: { paths: ['/*'] },
            upstream: 'echo',
            auth: 'none',
            rate_limit: 'per_client',
          },
        ],
      }
      // Two single-worker gateways: no gossip between them, as on two hosts without seeds.
      const a = await startGateway({ workers: 1, config })
      const b = await startGateway({ workers: 1, config })
      // The window is the calendar hour: a run that crosses its end gets a second quota.
      await clearOfHourEdge(LOOP_BUDGET_MS)
      let admitted = 0
      for (let i = 0; i < 80; i++) {
        const on = i % 2 === 0 ? a : b
        const result = await send(`${on.url}/x`, { headers: { 'x-client': 'both' } })
        if (result.status === 200) admitted++
        await sleep(40)
      }
      // Alone, each would admit 30 (60 in all).
      expect(admitted).toBeGreaterThanOrEqual(30)
      expect(admitted).toBeLessThanOrEqual(34)
    } finally {
      await redis.kill()
    }
  })
})
