/**
 * /metrics after known authentication traffic on every method: decisions by method, outcome and
 * the method's own reason (the one the response never tells, as the audit line has it), and the
 * introspection counters (answer cache, endpoint calls, breaker). Real processes: the gateway
 * with two workers (the primary sums them), an oidc-provider authorization server, a fault proxy
 * that fails one introspector's endpoint.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { generateApiKey } from '../../src/keys/format.js'
import { KeyHasher } from '../../src/keys/hash.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { FRONTS, startGateway, stopAllGateways, type ConfigInput } from '../helpers/gateway.js'
import { signedHeaders } from '../helpers/hmac.js'
import { send } from '../helpers/http.js'
import { createSigner, nowSeconds, sign, type Signer } from '../helpers/jwt.js'
import { scrape, valueOf } from '../helpers/metrics.js'
import { startOAuthServer, type OAuthClient, type OAuthServer } from '../helpers/oauth-server.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'

const ISS = 'https://metrics-auth.issuer.test'
const AUD = 'metrics-auth-api'
const PEPPER = 'a-pepper-of-at-least-thirty-two-bytes!!'
const HMAC_SECRET = 'an-hmac-secret-of-at-least-32-bytes!'
const GATEWAY_CLIENT: OAuthClient = {
  client_id: 'gateway',
  client_secret: 'gateway-secret-0123456789',
}
const SERVICE: OAuthClient = {
  client_id: 'billing-service',
  client_secret: 'billing-secret-0123456789',
  scope: 'read',
}

const hasher = new KeyHasher(PEPPER)
const validKey = generateApiKey('pc_live')
const expiredKey = generateApiKey('pc_live')
const unknownKey = generateApiKey('pc_live')

let upstream: TestUpstream
let server: OAuthServer
let proxy: FaultProxy
let signer: Signer
let keyFile: string

beforeAll(async () => {
  upstream = await startUpstream('echo')
  server = await startOAuthServer([GATEWAY_CLIENT, SERVICE], ['read'])
  proxy = await startFaultProxy(server.issuer)
  signer = createSigner('ES256', 'metrics-auth-key')
  keyFile = join(mkdtempSync(join(tmpdir(), 'pcl-metrics-auth-')), 'es256.pem')
  writeFileSync(keyFile, signer.publicPem)
})

afterEach(async () => {
  await stopAllGateways()
})

afterAll(async () => {
  await closeAllUpstreams()
  await proxy?.close()
  await server?.close()
})

function config(): ConfigInput {
  const introspector = (name: string, endpoint: string) => ({
    name,
    endpoint,
    client_id: GATEWAY_CLIENT.client_id,
    client_secret: GATEWAY_CLIENT.client_secret,
    issuer: server.issuer,
    cache_ttl: '1m',
    negative_ttl: '1m',
    timeout: '2s',
    // One failure opens it, for long enough that the scrape sees it open.
    breaker: { failures: 1, cooldown: '10m' },
  })
  const route = (
    name: string,
    auth: string | { readonly any: readonly string[] },
    extra: Record<string, unknown> = {},
  ) => ({
    name,
    match: { paths: [`/${name}/*`] },
    upstream: 'echo',
    auth,
    ...extra,
  })
  return {
    api_keys: { prefixes: ['pc_live'], pepper: PEPPER },
    consumers: [
      {
        name: 'acme',
        keys: [
          { hash: hasher.hash(validKey) },
          { hash: hasher.hash(expiredKey), expires_at: '2020-01-01T00:00:00Z' },
        ],
        hmac_credentials: [{ key_id: 'acme-1', secret: HMAC_SECRET }],
      },
    ],
    issuers: [{ name: 'idp', issuer: ISS, keys: keyFile, audiences: [AUD], algorithms: ['ES256'] }],
    introspectors: [
      introspector('as', server.introspectionUrl),
      introspector('down', `${proxy.url}/token/introspection`),
    ],
    upstreams: { echo: { targets: [upstream.url] } },
    routes: [
      route('keys', 'api_key'),
      route('hooks', 'hmac'),
      route('sec', 'jwt', { jwt: { issuers: ['idp'] } }),
      route('either', { any: ['jwt', 'api_key'] }, { jwt: { issuers: ['idp'] } }),
      route('intro', 'introspection', { introspection: { introspectors: ['as'] } }),
      route('down', 'introspection', { introspection: { introspectors: ['down'] } }),
    ],
  }
}

describe.each(FRONTS)('/metrics of authentication on the %s front', (front) => {
  it("counts each method's decisions by its own reason, and the introspection counters", async () => {
    const gateway = await startGateway({ front, workers: 2, config: config() })
    const get = async (path: string, headers: Record<string, string> = {}) =>
      (await send(`${gateway.url}${path}`, { headers })).status

    for (let i = 0; i < 2; i++) expect(await get('/keys/a', { 'x-api-key': validKey })).toBe(200)
    expect(await get('/keys/a', { 'x-api-key': expiredKey })).toBe(401)
    expect(await get('/keys/a', { 'x-api-key': unknownKey })).toBe(401)
    expect(await get('/keys/a')).toBe(401)

    const signed = (secret: string) =>
      signedHeaders({
        method: 'GET',
        url: `http://127.0.0.1:${gateway.port}/hooks/a`,
        keyId: 'acme-1',
        secret,
        components: ['@method', '@target-uri'],
      })
    expect(await get('/hooks/a', await signed(HMAC_SECRET))).toBe(200)
    for (let i = 0; i < 2; i++)
      expect(await get('/hooks/a', await signed(`${HMAC_SECRET}-not-it`))).toBe(401)

    const expired = await sign(signer, { iss: ISS, aud: AUD, exp: nowSeconds() - 3600 })
    expect(await get('/sec/a', { authorization: `Bearer ${expired}` })).toBe(401)
    const both = { authorization: `Bearer ${expired}`, 'x-api-key': validKey }
    expect(await get('/either/a', both)).toBe(400)

    const token = await server.issueToken(SERVICE)
    for (let i = 0; i < 2; i++)
      expect(await get('/intro/a', { authorization: `Bearer ${token}` })).toBe(200)
    expect(await get('/intro/a', { authorization: 'Bearer not-a-token-it-issued' })).toBe(401)
    proxy.inject({ kind: 'status', status: 500 })
    expect(await get('/down/a', { authorization: `Bearer ${token}` })).toBe(503)

    const m = await scrape(gateway.statusUrl)
    const decisions = (method: string, reason: string) =>
      valueOf(m, 'portcullis_auth_decisions_total', { method, reason })
    expect(decisions('api_key', 'ok')).toBe(2)
    expect(decisions('api_key', 'expired')).toBe(1)
    expect(decisions('api_key', 'unknown_key')).toBe(1)
    expect(decisions('api_key', 'no_credential')).toBe(1)
    expect(decisions('hmac', 'ok')).toBe(1)
    expect(decisions('hmac', 'bad_signature')).toBe(2)
    expect(decisions('jwt', 'expired')).toBe(1)
    expect(decisions('any', 'multiple_credentials')).toBe(1)
    expect(decisions('introspection', 'ok')).toBe(2)
    expect(decisions('introspection', 'inactive')).toBe(1)
    expect(decisions('introspection', 'unavailable')).toBe(1)
    expect(valueOf(m, 'portcullis_auth_decisions_total', { outcome: 'deny' })).toBe(9)
    expect(valueOf(m, 'portcullis_auth_decisions_total')).toBe(14)

    // Which worker took each request decides what it found cached; the sums do not depend on it.
    const lookups = (introspector: string, result: string) =>
      valueOf(m, 'portcullis_introspection_cache_lookups_total', { introspector, result })
    const calls = (introspector: string, result: string) =>
      valueOf(m, 'portcullis_introspection_calls_total', { introspector, result })
    expect(lookups('as', 'hit') + lookups('as', 'miss')).toBe(3)
    expect(calls('as', 'ok')).toBe(lookups('as', 'miss'))
    expect(calls('as', 'failed')).toBe(0)
    expect(lookups('down', 'miss')).toBe(1)
    expect(calls('down', 'failed')).toBe(1)
    expect(calls('down', 'ok')).toBe(0)
    expect(valueOf(m, 'portcullis_introspection_breaker_open', { introspector: 'down' })).toBe(1)
    expect(valueOf(m, 'portcullis_introspection_breaker_open', { introspector: 'as' })).toBe(0)
    proxy.inject({ kind: 'none' })
  })
})
