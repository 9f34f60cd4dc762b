/**
 * passthrough: no auth, one prefix route. Measures what routing and proxying alone cost, against
 * the same request sent straight at the upstream.
 */
import type { BenchRequest, Listen, Scenario, ScenarioContext } from './types.js'

const BENCH_GET: BenchRequest = { method: 'GET', path: '/bench' }
/** The same request through an upstream switched back to undici, to price the transport. */
const BENCH_GET_UNDICI: BenchRequest = { method: 'GET', path: '/undici/bench' }

/** Listeners and logging every bench config shares. */
export function benchPreamble(at: Listen): string {
  // Access logging off and level warn: the bench measures the data path, not pino's throughput.
  return `listeners:
  http: { host: ${at.host}, port: ${at.port} }
  status: { host: ${at.host}, port: ${at.statusPort} }
log: { level: warn, access: false }
`
}

export function passthroughConfig(ctx: ScenarioContext, at: Listen): string {
  return `${benchPreamble(at)}upstreams:
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
      gatewayConfig: (at) => passthroughConfig(ctx, at),
      targets: [
        { name: 'direct', via: 'upstream', requests: [BENCH_GET] },
        { name: 'passthrough', via: 'gateway', requests: [BENCH_GET], work: { kind: 'proxy' } },
        { name: 'passthrough-undici', via: 'gateway', requests: [BENCH_GET_UNDICI] },
      ],
    })
  },
}
