/**
 * tracing: what OTLP span export costs, against passthrough in the same run. `traced` exports
 * every request (`sample_ratio: 1`: a server span and the upstream call's client span each) to a
 * sink collector on loopback, a small node:http server in this process that reads each OTLP/JSON
 * batch and answers 200, as a collector does before its pipeline; `unsampled` has tracing
 * configured at ratio 0, which prices the sampling decision and nothing else. Each has a gateway
 * of its own: `tracing:` is gateway-wide.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { benchPreamble, passthroughConfig } from './passthrough.js'
import type { Listen, Scenario, ScenarioContext } from './types.js'

/**
 * The sink: drains every export and answers 200. Unref'd: it lives as long as the bench process
 * and never keeps it alive.
 */
async function startSink(): Promise<string> {
  const server: Server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  server.unref()
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`
}

function tracingConfig(ctx: ScenarioContext, at: Listen, sink: string, ratio: number): string {
  // The SDK's batch defaults but a 1s delay, so a short run exports while it measures.
  return `${benchPreamble(at)}upstreams:
  bench: { targets: [${ctx.upstreamOrigin}] }
tracing:
  otlp: { endpoint: ${sink} }
  sample_ratio: ${ratio}
  batch: { delay: 1s }
routes:
  - name: bench
    match: { paths: [/*] }
    upstream: bench
    auth: none
`
}

export const tracing: Scenario = {
  name: 'tracing',
  description:
    'GET /bench with every request exported over OTLP/HTTP to a loopback sink (sample_ratio 1), ' +
    'and with tracing at ratio 0, against passthrough',
  peers: false,
  async prepare(ctx) {
    const sink = await startSink()
    const get = [{ method: 'GET', path: '/bench' }]
    return {
      gatewayConfig: (at) => passthroughConfig(ctx, at),
      targets: [
        { name: 'direct', via: 'upstream', requests: get },
        { name: 'passthrough', via: 'gateway', requests: get },
        {
          name: 'traced',
          via: 'gateway',
          requests: get,
          gatewayConfig: (at) => tracingConfig(ctx, at, sink, 1),
        },
        {
          name: 'unsampled',
          via: 'gateway',
          requests: get,
          gatewayConfig: (at) => tracingConfig(ctx, at, sink, 0),
        },
      ],
    }
  },
}
