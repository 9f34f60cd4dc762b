/**
 * introspection: a route behind `auth: introspection` (RFC 7662) against passthrough in the same
 * run, with an introspection endpoint on loopback (a small node:http server in this process that
 * answers every token active, as an authorization server would after its lookup). One opaque
 * token repeated prices the warm path (hash, cache probe, identity reuse); a second gateway with
 * the answer cache off makes every request a first-seen token, so its latency percentiles are
 * those of a call to the endpoint.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { benchPreamble } from './passthrough.js'
import type { BenchRequest, Listen, Scenario, ScenarioContext } from './types.js'

const TOKENS = 1000
const CLIENT_SECRET = 'bench-introspection-secret'

function bearer(token: string): BenchRequest {
  return { method: 'GET', path: '/opaque/bench', headers: { authorization: `Bearer ${token}` } }
}

/**
 * The endpoint: reads the form, answers active with the members a real server sends. Unref'd: it
 * lives as long as the bench process and never keeps it alive.
 */
async function startEndpoint(): Promise<string> {
  const answer = (exp: number) =>
    JSON.stringify({
      active: true,
      client_id: 'bench-client',
      sub: 'bench-client',
      scope: 'bench',
      token_type: 'Bearer',
      exp,
    })
  const server: Server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(answer(Math.floor(Date.now() / 1000) + 3600))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  server.unref()
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`
}

function introspectionConfig(
  ctx: ScenarioContext,
  at: Listen,
  endpoint: string,
  cacheSize: number,
): string {
  return `${benchPreamble(at)}upstreams:
  bench: { targets: [${ctx.upstreamOrigin}] }
introspectors:
  - name: as
    endpoint: ${endpoint}
    client_id: bench-gateway
    client_secret: ${CLIENT_SECRET}
    cache_ttl: 10m
    cache_size: ${cacheSize}
routes:
  - name: bench
    match: { paths: [/*] }
    upstream: bench
    auth: none
  - name: opaque
    match: { paths: [/opaque/*] }
    upstream: bench
    auth: introspection
    introspection: { introspectors: [as] }
    scopes: [bench]
    strip_path: true
`
}

export const introspection: Scenario = {
  name: 'introspection',
  description:
    'GET /opaque/bench with an opaque bearer token introspected on loopback (cached, and every ' +
    'token first-seen with the cache off) against passthrough',
  peers: false,
  async prepare(ctx) {
    const endpoint = await startEndpoint()
    const tokens = Array.from({ length: TOKENS }, () => randomBytes(32).toString('base64url'))
    return {
      gatewayConfig: (at) => introspectionConfig(ctx, at, endpoint, 10_000),
      targets: [
        { name: 'direct', via: 'upstream', requests: [{ method: 'GET', path: '/bench' }] },
        { name: 'passthrough', via: 'gateway', requests: [{ method: 'GET', path: '/bench' }] },
        { name: 'cached-token', via: 'gateway', requests: [bearer(tokens[0]!)] },
        {
          name: 'first-seen',
          via: 'gateway',
          requests: tokens.map(bearer),
          // Cache off: every request is a token the gateway has not seen, so it calls the endpoint.
          gatewayConfig: (at) => introspectionConfig(ctx, at, endpoint, 0),
        },
      ],
    }
  },
}
