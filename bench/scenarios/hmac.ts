/**
 * hmac: a GET signed per RFC 9421 (`auth: hmac`: @method, @path and @query, created,
 * hmac-sha256) against passthrough in the same run. @path and @query rather than @target-uri:
 * the requests are built before the gateway's address is known. Loaders replay a fixed list and autocannon starts every
 * connection at its head, so the list cannot hold fresh signatures per request: the route turns
 * replay refusal off and widens max_age to outlast the run; the price measured is parsing the
 * Signature-Input and Signature fields, rebuilding the base, the MAC and the key probe. One
 * signature repeated, and a thousand distinct ones in turn.
 */
import { createHmac } from 'node:crypto'
import { benchPreamble } from './passthrough.js'
import type { BenchRequest, Listen, Scenario, ScenarioContext } from './types.js'

const SIGNATURES = 1000
const KEY_ID = 'bench-1'
const SECRET = 'bench-shared-secret-of-at-least-32-bytes'

/** A GET of /signed/bench?n=<n> as a client signs it. */
function signed(n: number, created: number): BenchRequest {
  const path = '/signed/bench'
  const query = `n=${n}`
  const params = `("@method" "@path" "@query");created=${created};keyid="${KEY_ID}";alg="hmac-sha256"`
  const base =
    `"@method": GET\n"@path": ${path}\n"@query": ?${query}\n` + `"@signature-params": ${params}`
  const mac = createHmac('sha256', SECRET).update(base).digest('base64')
  return {
    method: 'GET',
    path: `${path}?${query}`,
    headers: { 'signature-input': `sig1=${params}`, signature: `sig1=:${mac}:` },
  }
}

function hmacConfig(ctx: ScenarioContext, at: Listen): string {
  return `${benchPreamble(at)}upstreams:
  bench: { targets: [${ctx.upstreamOrigin}] }
consumers:
  - name: bench
    hmac_credentials:
      - { key_id: ${KEY_ID}, secret: ${SECRET} }
routes:
  - name: bench
    match: { paths: [/*] }
    upstream: bench
    auth: none
  - name: signed
    match: { paths: [/signed/*] }
    upstream: bench
    auth: hmac
    hmac: { components: ["@method", "@path", "@query"], replay: false, max_age: 24h }
    strip_path: true
`
}

export const hmac: Scenario = {
  name: 'hmac',
  description: 'GET /signed/bench signed per RFC 9421 (hmac-sha256) against passthrough',
  peers: false,
  prepare(ctx) {
    const created = Math.floor(Date.now() / 1000)
    const many = Array.from({ length: SIGNATURES }, (_, n) => signed(n, created))
    return Promise.resolve({
      gatewayConfig: (at) => hmacConfig(ctx, at),
      targets: [
        { name: 'direct', via: 'upstream', requests: [{ method: 'GET', path: '/bench' }] },
        { name: 'passthrough', via: 'gateway', requests: [{ method: 'GET', path: '/bench' }] },
        { name: 'one-signature', via: 'gateway', requests: [many[0]!] },
        { name: '1k-signatures', via: 'gateway', requests: many },
      ],
    })
  },
}
