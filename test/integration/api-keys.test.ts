/**
 * API keys through a real gateway process on both fronts, with keys declared by hash in the
 * config (no Redis): what the upstream receives for an admitted key, the one 401 every refused
 * key gets (the audit line saying why), allow-lists over IPv4 and IPv6 on a dual-stack listener,
 * scopes, groups, and the consumer headers a client cannot forge.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateApiKey } from '../../src/keys/format.js'
import { KeyHasher } from '../../src/keys/hash.js'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send, type ErrorBody, type HttpResult } from '../helpers/http.js'
import { hmacToken, nowSeconds } from '../helpers/jwt.js'
import { freePort } from '../helpers/ports.js'
import {
  closeAllUpstreams,
  startUpstream,
  type Echo,
  type TestUpstream,
} from '../helpers/upstream.js'

const PEPPER = 'a-pepper-of-at-least-thirty-two-bytes!!'
const SECRET = 'an-hmac-secret-of-at-least-32-bytes!'
const ISS = 'https://keys.issuer.test'
const HOUR = 3_600_000
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')

function newKey(): { key: string; hash: string } {
  const key = generateApiKey('pc_live')
  return { key, hash: new KeyHasher(PEPPER).hash(key) }
}

const reader = newKey()
const expired = newKey()
const early = newKey()
const ipv4Only = newKey()
const ipv6Only = newKey()
const ofDisabled = newKey()
const outsider = newKey()

/** Every value the upstream received for `name` (lowercase), in order. */
function received(echo: Echo, name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < echo.rawHeaders.length; i += 2) {
    if (echo.rawHeaders[i]!.toLowerCase() === name) out.push(echo.rawHeaders[i + 1]!)
  }
  return out
}

describe.each(FRONTS)('API keys on the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream

  beforeAll(async () => {
    upstream = await startUpstream('echo')
    gateway = await startGateway({
      front,
      env: { ...process.env, PCL_TEST_PEPPER: PEPPER },
      config: {
        // Dual-stack: clients over 127.0.0.1 and over ::1 reach one listener.
        listeners: { http: { host: '::', port: await freePort() } },
        log: { audit: true },
        api_keys: { prefixes: ['pc_live'], pepper: '${PCL_TEST_PEPPER}' },
        consumers: [
          {
            name: 'acme',
            groups: ['partners'],
            metadata: { tenant: 'acme-eu' },
            keys: [
              { hash: reader.hash, scopes: ['orders:read'] },
              { hash: expired.hash, scopes: ['orders:read'], expires_at: iso(Date.now() - HOUR) },
              { hash: early.hash, scopes: ['orders:read'], not_before: iso(Date.now() + HOUR) },
              { hash: ipv4Only.hash, scopes: ['orders:read'], allow_ips: ['127.0.0.0/8'] },
              { hash: ipv6Only.hash, scopes: ['orders:read'], allow_ips: ['::1/128'] },
            ],
          },
          { name: 'retired', disabled: true, keys: [{ hash: ofDisabled.hash }] },
          { name: 'walk-in', keys: [{ hash: outsider.hash, scopes: ['orders:read'] }] },
        ],
        headers: { consumer: { metadata: { tenant: 'X-Tenant' } } },
        issuers: [
          { name: 'idp', issuer: ISS, secret: SECRET, audiences: ['api'], algorithms: ['HS256'] },
        ],
        upstreams: { echo: { targets: [upstream.url] } },
        routes: [
          {
            name: 'mixed',
            match: { paths: ['/mixed/*'] },
            upstream: 'echo',
            auth: { any: ['jwt', 'api_key'] },
            jwt: { issuers: ['idp'] },
          },
          {
            name: 'orders',
            match: { paths: ['/orders/*'] },
            upstream: 'echo',
            auth: 'api_key',
            api_key: { query: 'api_key' },
            scopes: { GET: ['orders:read'], POST: ['orders:write'] },
            allow_groups: ['partners'],
          },
          { name: 'open', match: { paths: ['/open/*'] }, upstream: 'echo', auth: 'none' },
        ],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  /** A flat header list, which node:http sends as it is: Host is added here. */
  function get(path: string, headers: readonly string[] = [], host = '127.0.0.1', method = 'GET') {
    const authority = host.includes(':') ? `[${host}]:${gateway.port}` : `${host}:${gateway.port}`
    return send(`http://${authority}${path}`, { method, headers: ['host', authority, ...headers] })
  }

  function refusalOf(result: HttpResult) {
    const body = result.json<ErrorBody>()
    return {
      status: result.status,
      error: body.error,
      message: body.message,
      challenge: result.headers['www-authenticate'],
    }
  }

  /** The reason of the audit line of the request that got `result`. */
  async function auditReason(result: HttpResult): Promise<unknown> {
    const id = result.headers['x-request-id']
    const line = await gateway.waitForLog(
      (l) => l['audit'] === 'authenticate' && l['request_id'] === id,
      5000,
    )
    return line['reason']
  }

  it('admits a valid key: the upstream sees the consumer and never the key', async () => {
    // uWS 20.30 never dispatches a request with `_` in a header name (docs/configuration.md, the
    // uws front): the spelled copies go through the node front only.
    const spelled = front === 'node' ? ['X_Api_Key', reader.key, 'X_Tenant', 'spoofed'] : []
    const result = await get('/orders/42?x=1', [
      'X-API-Key',
      reader.key,
      'X-Consumer-Id',
      'spoofed',
      'X-Tenant',
      'spoofed',
      ...spelled,
    ])
    expect(result.status).toBe(200)
    const echo = result.json<Echo>()
    expect(received(echo, 'x-consumer-id')).toEqual(['acme'])
    expect(received(echo, 'x-consumer-groups')).toEqual(['partners'])
    expect(received(echo, 'x-tenant')).toEqual(['acme-eu'])
    expect(received(echo, 'x_tenant')).toEqual([])
    expect(received(echo, 'x-api-key')).toEqual([])
    expect(received(echo, 'x_api_key')).toEqual([])
    expect(JSON.stringify(echo)).not.toContain(reader.key)
    expect(echo.url).toBe('/orders/42?x=1')
  })

  it('reads the named query parameter and removes it before forwarding', async () => {
    const result = await get(`/orders/7?api_key=${reader.key}&page=2`)
    expect(result.status).toBe(200)
    const echo = result.json<Echo>()
    expect(echo.url).toBe('/orders/7?page=2')
    expect(received(echo, 'x-consumer-id')).toEqual(['acme'])
  })

  it('strips forged consumer headers on a public route too', async () => {
    const result = await get('/open/x', ['X-Consumer-Id', 'root', 'X-Tenant', 'evil'])
    const echo = result.json<Echo>()
    expect(received(echo, 'x-consumer-id')).toEqual([])
    expect(received(echo, 'x-tenant')).toEqual([])
  })

  it('answers a missing key with 401 and the ApiKey challenge', async () => {
    const result = await get('/orders/1')
    expect(refusalOf(result)).toMatchObject({
      status: 401,
      error: 'unauthorized',
      challenge: 'ApiKey realm="portcullis"',
    })
  })

  it('answers every refused key alike, and audits why', async () => {
    const cases: [string, string, string][] = [
      ['expired', expired.key, '127.0.0.1'],
      ['not_yet_valid', early.key, '127.0.0.1'],
      ['consumer_disabled', ofDisabled.key, '127.0.0.1'],
      ['unknown_key', generateApiKey('pc_live'), '127.0.0.1'],
      ['malformed', `${reader.key.slice(0, -1)}x`, '127.0.0.1'],
    ]
    const answers = []
    for (const [reason, key, host] of cases) {
      const result = await get('/orders/1', ['X-API-Key', key], host)
      answers.push(refusalOf(result))
      expect(await auditReason(result)).toBe(reason)
    }
    for (const answer of answers) expect(answer).toEqual(answers[0])
    expect(answers[0]).toEqual({
      status: 401,
      error: 'invalid_token',
      message: 'The API key is not valid.',
      challenge: 'ApiKey realm="portcullis"',
    })
  })

  it('refuses a valid key from outside its allow_ips with 403 forbidden, and audits why', async () => {
    for (const [key, host] of [
      [ipv4Only.key, '::1'],
      [ipv6Only.key, '127.0.0.1'],
    ] as const) {
      const result = await get('/orders/1', ['X-API-Key', key], host)
      expect(result.status).toBe(403)
      expect(result.json<ErrorBody>().error).toBe('forbidden')
      expect(result.headers['www-authenticate']).toBeUndefined()
      expect(await auditReason(result)).toBe('address_not_allowed')
    }
  })

  it('admits an allow-listed key from its own address family, over IPv4 and IPv6', async () => {
    expect((await get('/orders/1', ['X-API-Key', ipv4Only.key], '127.0.0.1')).status).toBe(200)
    expect((await get('/orders/1', ['X-API-Key', ipv6Only.key], '::1')).status).toBe(200)
  })

  it('refuses a key without the scope of the method with 403 insufficient_scope', async () => {
    const result = await get(
      '/orders/1',
      ['X-API-Key', reader.key, 'content-length', '0'],
      '127.0.0.1',
      'POST',
    )
    expect(result.status).toBe(403)
    expect(result.json<ErrorBody>().error).toBe('insufficient_scope')
  })

  it('refuses a consumer outside allow_groups with 403 forbidden naming no group', async () => {
    const result = await get('/orders/1', ['X-API-Key', outsider.key])
    expect(result.status).toBe(403)
    expect(result.json<ErrorBody>().error).toBe('forbidden')
    expect(result.text).not.toContain('partners')
  })

  it('refuses two keys with 400 invalid_request', async () => {
    const result = await get(`/orders/1?api_key=${reader.key}`, ['X-API-Key', reader.key])
    expect(result.status).toBe(400)
    expect(result.json<ErrorBody>().error).toBe('invalid_request')
  })

  describe('on a route with auth: { any: [jwt, api_key] }', () => {
    const token = () =>
      hmacToken(
        { alg: 'HS256' },
        { iss: ISS, aud: 'api', sub: 'svc', exp: nowSeconds() + 600 },
        SECRET,
      )

    it('admits a key alone and a token alone', async () => {
      expect((await get('/mixed/1', ['X-API-Key', reader.key])).status).toBe(200)
      expect((await get('/mixed/1', ['Authorization', `Bearer ${token()}`])).status).toBe(200)
    })

    it('refuses a key beside a token with 400 invalid_request, both valid', async () => {
      const result = await get('/mixed/1', [
        'X-API-Key',
        reader.key,
        'Authorization',
        `Bearer ${token()}`,
      ])
      expect(result.status).toBe(400)
      expect(result.json<ErrorBody>().error).toBe('invalid_request')
      expect(upstream.requests.some((r) => r.url === '/mixed/1' && r.headers['x-api-key'])).toBe(
        false,
      )
    })

    it('challenges with both schemes when neither credential is there', async () => {
      const result = await get('/mixed/1')
      expect(result.status).toBe(401)
      const challenges = result.rawHeaders.filter(
        (_, i) => i % 2 === 1 && result.rawHeaders[i - 1]!.toLowerCase() === 'www-authenticate',
      )
      expect(challenges).toEqual(['Bearer realm="portcullis"', 'ApiKey realm="portcullis"'])
    })
  })
})
