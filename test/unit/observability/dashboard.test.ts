import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { WorkerMeter } from '../../../src/observability/metrics/meter.js'
import { ProcessCounters } from '../../../src/observability/metrics/process-metrics.js'
import { collectWorkerMetrics } from '../../../src/observability/metrics/worker-metrics.js'

const DASHBOARD = new URL('../../../config/examples/grafana-dashboard.json', import.meta.url)

/** Every family the gateway can expose, Redis sync and gossip included. */
function exposedNames(): Set<string> {
  const families = collectWorkerMetrics({
    meter: new WorkerMeter(),
    tokenCache: { hits: 0, misses: 0 },
    signatures: new Map(),
    policies: new Map(),
    issuers: () => [],
    introspectors: () => [],
    upstreamConnections: () => new Map(),
    rateLimitSync: () => ({ failures: 0, lagSeconds: 0 }),
    gossipMembers: () => 0,
  })
  return new Set([...families, ...new ProcessCounters().families()].map((f) => f.name))
}

describe('the Grafana dashboard example', () => {
  it('queries only metrics the gateway exposes', () => {
    const text = readFileSync(DASHBOARD, 'utf8')
    const used = new Set(
      [...text.matchAll(/portcullis_[a-z_]+/g)].map((m) =>
        m[0].replace(/_(bucket|sum|count)$/, ''),
      ),
    )
    expect(used.size).toBeGreaterThan(10)
    const exposed = exposedNames()
    expect([...used].filter((name) => !exposed.has(name))).toEqual([])
  })
})
