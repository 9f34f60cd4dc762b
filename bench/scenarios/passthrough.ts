/**
 * passthrough: no auth, one prefix route. Measures what routing and proxying alone cost, against
 * the same request sent straight at the upstream.
 */
import type { BenchRequest, Scenario, ScenarioContext } from './types.js'

const BENCH_GET: BenchRequest = { method: 'GET', path: '/bench' }
/** The same request through an upstream switched back to undici, to price the transport. */
const BENCH_GET_UNDICI: BenchRequest = { method: 'GET', path: '/undici/bench' }

export function passthroughConfig(ctx: ScenarioContext): string {
  // Access logging off and level warn: the bench measures the data path, not pino's throughput.
  return `listeners:
  http: { host: ${ctx.gatewayHost}, port: ${ctx.gatewayPort} }
  status: { host: ${ctx.gatewayHost}, port: ${ctx.statusPort} }
log: { level: warn, access: false }
upstreams:
  bench: { targets: [${ctx.upstreamOrigin}] }
  bench-undici: { targets: [${ctx.upstreamOrigin}], transport: undici }
routes:
  - name: bench
    match: { paths: [/*] }
    upstream: bench
    auth: none
  - name: bench-undici
    match: { paths: [/undici/*] }
    upstream: bench-undici
    auth: none
    strip_path: true
`
}

export const passthrough: Scenario = {
  name: 'passthrough',
  description:
    'GET /bench, auth none, one prefix route: routing + proxying only (native transport, and undici on /undici/*)',
  prepare(ctx) {
    return Promise.resolve({
      gatewayConfig: passthroughConfig(ctx),
      targets: [
        { name: 'direct', via: 'upstream', requests: [BENCH_GET] },
        { name: 'passthrough', via: 'gateway', requests: [BENCH_GET] },
        { name: 'passthrough-undici', via: 'gateway', requests: [BENCH_GET_UNDICI] },
      ],
    })
  },
}
