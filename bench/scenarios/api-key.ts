/**
 * api-key: routes behind `auth: api_key` with keys declared in the config by hash (no Redis, as
 * the demo runs), against passthrough in the same run. One key repeated prices the warm path
 * (format check, hash, directory probe, identity reuse); a thousand keys in turn price the same
 * work over a working set wider than any CPU cache line reuse.
 */
import { generateApiKey } from '../../src/keys/format.js'
import { KeyHasher } from '../../src/keys/hash.js'
import { benchPreamble } from './passthrough.js'
import type { BenchRequest, Listen, Scenario, ScenarioContext } from './types.js'

const KEYS = 1000
const PREFIX = 'pc_bench'

function keyed(key: string): BenchRequest {
  return { method: 'GET', path: '/key/bench', headers: { 'x-api-key': key } }
}

function apiKeyConfig(ctx: ScenarioContext, at: Listen, hashes: readonly string[]): string {
  const keys = hashes.map((hash) => `      - { hash: ${hash}, scopes: [bench] }`).join('\n')
  return `${benchPreamble(at)}api_keys:
  prefixes: [${PREFIX}]
upstreams:
  bench: { targets: [${ctx.upstreamOrigin}] }
consumers:
  - name: bench
    keys:
${keys}
routes:
  - name: bench
    match: { paths: [/*] }
    upstream: bench
    auth: none
  - name: key
    match: { paths: [/key/*] }
    upstream: bench
    auth: api_key
    scopes: [bench]
    strip_path: true
`
}

export const apiKey: Scenario = {
  name: 'api-key',
  description:
    'GET /key/bench with X-API-Key (keys declared by hash in the config) against passthrough',
  peers: false,
  prepare(ctx) {
    const hasher = new KeyHasher(null)
    const keys = Array.from({ length: KEYS }, () => generateApiKey(PREFIX))
    const hashes = keys.map((key) => hasher.hash(key))
    return Promise.resolve({
      gatewayConfig: (at) => apiKeyConfig(ctx, at, hashes),
      targets: [
        { name: 'direct', via: 'upstream', requests: [{ method: 'GET', path: '/bench' }] },
        { name: 'passthrough', via: 'gateway', requests: [{ method: 'GET', path: '/bench' }] },
        { name: 'one-key', via: 'gateway', requests: [keyed(keys[0]!)] },
        { name: '1k-keys', via: 'gateway', requests: keys.map(keyed) },
      ],
    })
  },
}
