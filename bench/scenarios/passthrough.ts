/**
 * passthrough: no auth, one prefix route. Measures what routing and proxying alone cost, against
 * the same request sent straight at the upstream.
 */
import type { BenchRequest, Scenario, ScenarioContext } from './types.js'

const BENCH_GET: BenchRequest = { method: 'GET', path: '/bench' }

export function passthroughConfig(ctx: ScenarioContext): string {
  // Access logging off and level warn: the bench measures the data path, not pino's throughput.
  return `listeners:
  http: { host: ${ctx.gatewayHost}, port: ${ctx.gatewayPort} }
  status: { host: ${ctx.gatewayHost}, port: ${ctx.statusPort} }
log: { level: warn, access: false }
upstreams:
  bench: { targets: [${ctx.upstreamOrigin}] }
routes:
  - name: bench
    match: { paths: [/*] }
    upstream: bench
    auth: none
`
}

export const passthrough: Scenario = {
  name: 'passthrough',
  description: 'GET /bench, auth none, one prefix route: routing + proxying only',
  prepare(ctx) {
    return Promise.resolve({
      gatewayConfig: passthroughConfig(ctx),
      targets: [
        { name: 'direct', via: 'upstream', requests: [BENCH_GET] },
        { name: 'passthrough', via: 'gateway', requests: [BENCH_GET] },
      ],
    })
  },
}
