/**
 * ratelimit: what the `rate-limit` stage costs, and (bench/ratelimit.ts, run before these targets)
 * how closely a cluster holds one limit.
 *
 * The cost half is two routes of one gateway that differ only in `rate_limit:`: `/limited/*`
 * applies a token bucket keyed by a header whose limit is never reached, `/unlimited/*` applies
 * none. Both streams carry the same header, so the one difference is the stage (counter lookup,
 * decision, the RateLimit and X-RateLimit-* response headers at their defaults).
 */
import { benchPreamble } from './passthrough.js'
import type { BenchRequest, Listen, Scenario, ScenarioContext } from './types.js'

/** The header every rate-limited request of the bench is counted by. */
export const CLIENT_HEADER = 'x-client'

const request = (path: string): BenchRequest => ({
  method: 'GET',
  path,
  headers: { [CLIENT_HEADER]: 'bench' },
})

function costConfig(ctx: ScenarioContext, at: Listen): string {
  // 10^9 per minute: never reached, so every request is admitted and forwarded.
  return `${benchPreamble(at)}rate_limits:
  never-reached:
    key: header:${CLIENT_HEADER}
    algorithm: token_bucket
    rate: 1000000000/min
upstreams:
  bench: { targets: [${ctx.upstreamOrigin}] }
routes:
  - name: limited
    match: { paths: [/limited/*] }
    upstream: bench
    auth: none
    rate_limit: never-reached
  - name: unlimited
    match: { paths: [/unlimited/*] }
    upstream: bench
    auth: none
`
}

export const ratelimit: Scenario = {
  name: 'ratelimit',
  description:
    'rate-limit stage: accuracy of one limit shared by 2 gateways × 2 workers (gossip, Redis), ' +
    'and the CPU of a limited route against the same route without a limit',
  peers: false,
  prepare(ctx) {
    return Promise.resolve({
      gatewayConfig: (at) => costConfig(ctx, at),
      targets: [
        { name: 'unlimited', via: 'gateway', requests: [request('/unlimited/bench')] },
        { name: 'limited', via: 'gateway', requests: [request('/limited/bench')] },
      ],
    })
  },
}
