import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  percentile,
  runNormalClient,
  startSlowUploaders,
  type SlowUploaders,
} from '../../bench/slow-uploaders.js'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

/** The attack: many clients trickling large bodies against a small upstream pool. */
const UPLOADERS = 140
const POOL = 8
const MEASURE_MS = 5000
/**
 * Far above what an unqueued request takes, far below what one queued behind the uploaders
 * waits: the machine is shared, so the bound is generous; bench/slow-body.ts measures the figure.
 */
const P99_BOUND_MS = 500

describe.each(FRONTS)('140 slow uploaders on the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream
  let uploaders: SlowUploaders | null = null

  beforeAll(async () => {
    upstream = await startUpstream('shared')
    gateway = await startGateway({
      front,
      // Defaults everywhere but the pool, which the uploaders would fill many times over.
      config: {
        upstreams: { shared: { targets: [upstream.url], connections: POOL } },
        routes: [{ name: 'all', match: { paths: ['/*'] }, upstream: 'shared', auth: 'none' }],
      },
    })
  })

  afterAll(async () => {
    uploaders?.stop()
    await stopAllGateways()
    await closeAllUpstreams()
  })

  it("leaves another client's requests unqueued and successful", async () => {
    uploaders = startSlowUploaders({
      host: '127.0.0.1',
      port: gateway.port,
      count: UPLOADERS,
      path: '/upload',
      contentLength: 512 * 1024,
      byteEveryMs: 2000,
    })
    await waitUntil(() => uploaders!.open === UPLOADERS, { what: 'every uploader connected' })
    const result = await runNormalClient('127.0.0.1', gateway.port, '/normal', MEASURE_MS, 3000)
    uploaders.stop()
    expect(result.failures).toEqual([])
    expect(result.latenciesMs.length).toBeGreaterThan(10)
    expect(percentile(result.latenciesMs, 99)).toBeLessThan(P99_BOUND_MS)
    // No upload ever reached the upstream: their bodies never filled buffer_body.
    expect(upstream.requests.every((r) => r.url === '/normal')).toBe(true)
  })
})
