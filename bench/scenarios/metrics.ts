/**
 * metrics: passthrough with metrics on (the default) against the same gateway with
 * `metrics: { enabled: false }`, in the same run. What the request path spends on counting
 * (the route's counters and histograms, the clock read at the exchange's end) is the gap in
 * gateway CPU per request; the report prices it run by run (issue 20's budget is a few per cent
 * of passthrough's CPU). Access logging is off in both, as in every scenario, so the clock read
 * is metrics' own.
 */
import { passthroughConfig } from './passthrough.js'
import type { BenchRequest, Scenario } from './types.js'

const BENCH_GET: BenchRequest = { method: 'GET', path: '/bench' }

export const metrics: Scenario = {
  name: 'metrics',
  description: 'GET /bench, auth none, passthrough with metrics on against metrics.enabled false',
  peers: false,
  prepare(ctx) {
    return Promise.resolve({
      gatewayConfig: (at) => passthroughConfig(ctx, at),
      targets: [
        { name: 'direct', via: 'upstream', requests: [BENCH_GET] },
        { name: 'metrics-on', via: 'gateway', requests: [BENCH_GET], pricedAgainst: 'metrics-off' },
        {
          name: 'metrics-off',
          via: 'gateway',
          requests: [BENCH_GET],
          gatewayConfig: (at) => `${passthroughConfig(ctx, at)}metrics: { enabled: false }\n`,
        },
      ],
    })
  },
}
