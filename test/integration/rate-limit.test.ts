/**
 * Rate limiting through a real gateway process: 429 with Retry-After, the JSON error and the
 * rate-limit fields; keys by client address, header and JWT claim (real signed tokens), tiers;
 * limits that come back once the window has passed.
 *
 * pre_auth policies on both fronts: a flood of bad credentials ends in 429, and its 401s (and a
 * 403) carry the fields of the policy that counted them.
 *
 * One worker: how several workers and gateways share a limit is rate-limit-gossip.test.ts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  FRONTS,
  startGateway,
  stopAllGateways,
  type ConfigInput,
  type Gateway,
} from '../helpers/gateway.js'
import { send, type ErrorBody, type HttpResult } from '../helpers/http.js'
import { createSigner, nowSeconds, sign, type Signer } from '../helpers/jwt.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'

const AUD = 'https://api.test'
const ISS = 'https://idp.test'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Resolves just after the next whole second of the clock, when a 1 s window begins. */
async function nextSecond(): Promise<void> {
  await sleep(1000 - (Date.now() % 1000) + 20)
}

describe('rate limiting', () => {
  let gateway: Gateway
  let upstream: TestUpstream
  let signer: Signer

  const get = (path: string, headers: Record<string, string> = {}, on: Gateway = gateway) =>
    send(`${on.url}${path}`, { headers })

  const statuses = async (n: number, path: string, headers: Record<string, string> = {}) => {
    const out: number[] = []
    for (let i = 0; i < n; i++) out.push((await get(path, headers)).status)
    return out
  }

  const token = (claims: Record<string, unknown>) =>
    sign(signer, { iss: ISS, aud: AUD, sub: 'user-1', exp: nowSeconds() + 600, ...claims })

  let config: ConfigInput

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-rate-limit-'))
    signer = createSigner('ES256')
    const keys = join(dir, 'key.pem')
    writeFileSync(keys, signer.publicPem)
    upstream = await startUpstream('echo')
    const open = (name: string, rateLimit: string) => ({
      name,
      match: { paths: [`/${name}/*`] },
      upstream: 'echo',
      auth: 'none',
      rate_limit: rateLimit,
    })
    config = {
      upstreams: { echo: { targets: [upstream.url] } },
      issuers: [{ name: 'idp', issuer: ISS, keys, audiences: [AUD], algorithms: ['ES256'] }],
      rate_limits: {
        'per-ip': { key: 'ip', algorithm: 'fixed_window', rate: '3/s' },
        'per-client': { key: 'header:x-api-client', rate: '2/s', burst: 2 },
        'per-tenant': {
          key: 'claim:tid',
          algorithm: 'sliding_window',
          tier_from: 'claim:plan',
          default_tier: 'free',
          tiers: { free: { rate: '2/min' }, pro: { rate: '4/min' } },
        },
        quiet: { key: 'ip', rate: '1/min', headers: { ietf: false, x_ratelimit: false } },
      },
      routes: [
        open('ip', 'per-ip'),
        open('client', 'per-client'),
        open('quiet', 'quiet'),
        {
          name: 'tenant',
          match: { paths: ['/tenant/*'] },
          upstream: 'echo',
          auth: 'jwt',
          jwt: { issuers: ['idp'] },
          rate_limit: ['per-tenant'],
        },
      ],
    }
    gateway = await startGateway({ config })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  const expectRefused = (result: HttpResult) => {
    expect(result.status).toBe(429)
    expect(result.headers['content-type']).toBe('application/json')
    const body = result.json<ErrorBody>()
    expect(body.error).toBe('rate_limited')
    expect(body.request_id).toBe(result.headers['x-request-id'])
    expect(Number(result.headers['retry-after'])).toBeGreaterThanOrEqual(1)
  }

  describe('keyed by client address (fixed window)', () => {
    it('refuses past the quota with 429, Retry-After, the JSON error and the fields', async () => {
      await nextSecond()
      for (let i = 0; i < 3; i++) {
        const admitted = await get('/ip/x')
        expect(admitted.status).toBe(200)
        expect(admitted.headers['ratelimit-policy']).toBe('"per-ip";q=3;w=1')
        expect(admitted.headers['ratelimit']).toBe(`"per-ip";r=${2 - i};t=1`)
        expect(admitted.headers['x-ratelimit-limit']).toBe('3')
        expect(admitted.headers['x-ratelimit-remaining']).toBe(String(2 - i))
        expect(admitted.headers['x-ratelimit-reset']).toBe('1')
      }
      const refused = await get('/ip/x')
      expectRefused(refused)
      expect(refused.headers['retry-after']).toBe('1')
      expect(refused.headers['ratelimit']).toBe('"per-ip";r=0;t=1')
      expect(refused.headers['x-ratelimit-remaining']).toBe('0')
    })

    it('admits again once the window has passed', async () => {
      await nextSecond()
      expect(await statuses(4, '/ip/x')).toEqual([200, 200, 200, 429])
      await nextSecond()
      expect(await statuses(1, '/ip/x')).toEqual([200])
    })
  })

  describe('keyed by a header (token bucket)', () => {
    it('counts each header value apart, and requests without it by address', async () => {
      expect(await statuses(3, '/client/x', { 'x-api-client': 'a' })).toEqual([200, 200, 429])
      expect(await statuses(3, '/client/x', { 'x-api-client': 'b' })).toEqual([200, 200, 429])
      expect(await statuses(3, '/client/x')).toEqual([200, 200, 429])
    })

    it('refills the bucket at the rate', async () => {
      expect(await statuses(3, '/client/y', { 'x-api-client': 'c' })).toEqual([200, 200, 429])
      await sleep(1100)
      expect(await statuses(3, '/client/y', { 'x-api-client': 'c' })).toEqual([200, 200, 429])
    })
  })

  describe('keyed by a JWT claim, with tiers from a claim', () => {
    it('gives each tenant its tier’s quota', async () => {
      const free = { authorization: `Bearer ${await token({ tid: 'acme' })}` }
      const pro = { authorization: `Bearer ${await token({ tid: 'globex', plan: 'pro' })}` }
      expect(await statuses(3, '/tenant/x', free)).toEqual([200, 200, 429])
      expect(await statuses(5, '/tenant/x', pro)).toEqual([200, 200, 200, 200, 429])
      const refused = await get('/tenant/x', pro)
      expectRefused(refused)
      expect(refused.headers['ratelimit-policy']).toBe('"per-tenant";q=4;w=60')
    })

    it('shares the tenant’s counter between its users and tokens', async () => {
      const alice = { authorization: `Bearer ${await token({ tid: 'initech', sub: 'alice' })}` }
      const bob = { authorization: `Bearer ${await token({ tid: 'initech', sub: 'bob' })}` }
      expect((await get('/tenant/x', alice)).status).toBe(200)
      expect((await get('/tenant/x', bob)).status).toBe(200)
      expectRefused(await get('/tenant/x', alice))
    })

    it('counts an unauthenticated request nowhere: authentication refuses it first', async () => {
      expect((await get('/tenant/x')).status).toBe(401)
    })
  })

  it('sends only Retry-After when the policy turns its fields off', async () => {
    const admitted = await get('/quiet/x')
    expect(admitted.status).toBe(200)
    expect(admitted.headers['ratelimit']).toBeUndefined()
    expect(admitted.headers['x-ratelimit-limit']).toBeUndefined()
    const refused = await get('/quiet/x')
    expectRefused(refused)
    expect(refused.headers['retry-after']).toBe('60')
    expect(refused.headers['ratelimit-policy']).toBeUndefined()
  })

  it('behaves the same on the node front', async () => {
    const node = await startGateway({ config, front: 'node' })
    await nextSecond()
    const results: HttpResult[] = []
    for (let i = 0; i < 4; i++) results.push(await get('/ip/z', {}, node))
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 429])
    expect(results[0]!.headers['ratelimit']).toBe('"per-ip";r=2;t=1')
    expectRefused(results[3]!)
    expect(results[3]!.headers['ratelimit']).toBe('"per-ip";r=0;t=1')
  })

  it('keeps counters over a reload that leaves the policy unchanged', async () => {
    expect(await statuses(1, '/quiet/x')).toEqual([429])
    const line = await gateway.reload(config)
    expect(line.msg).toBe('config reloaded')
    expect(await statuses(1, '/quiet/x')).toEqual([429])
  })
})

describe.each(FRONTS)('pre-authentication limits (%s front)', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream
  let signer: Signer
  /** Same issuer and kid, another key: every token it signs is a bad credential. */
  let forger: Signer

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-rate-limit-pre-auth-'))
    signer = createSigner('ES256', 'k1')
    forger = createSigner('ES256', 'k1')
    const keys = join(dir, 'key.pem')
    writeFileSync(keys, signer.publicPem)
    upstream = await startUpstream('echo')
    const guarded = (name: string, extra: Record<string, unknown>) => ({
      name,
      match: { paths: [`/${name}/*`] },
      upstream: 'echo',
      auth: 'jwt',
      jwt: { issuers: ['idp'] },
      ...extra,
    })
    gateway = await startGateway({
      front,
      config: {
        upstreams: { echo: { targets: [upstream.url] } },
        issuers: [{ name: 'idp', issuer: ISS, keys, audiences: [AUD], algorithms: ['ES256'] }],
        rate_limits: {
          // A token bucket of 5 that refills one attempt every 12 minutes: no refill during the
          // test, whatever the machine's speed.
          attempts: { key: 'ip', phase: 'pre_auth', rate: '5/h' },
          'admin-attempts': { key: 'ip', phase: 'pre_auth', rate: '3/h' },
        },
        routes: [
          guarded('login', { rate_limit: 'attempts' }),
          guarded('admin', { rate_limit: 'admin-attempts', scopes: ['admin'] }),
        ],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  const bearer = async (by: Signer, claims: Record<string, unknown> = {}) => ({
    authorization: `Bearer ${await sign(by, { iss: ISS, aud: AUD, sub: 'user-1', exp: nowSeconds() + 600, ...claims })}`,
  })
  const get = (path: string, headers: Record<string, string>) =>
    send(`${gateway.url}${path}`, { headers })
  /** The reset of the RateLimit field, as a number of seconds. */
  const resetOf = (result: HttpResult) =>
    Number(/^"[^"]+";r=\d+;t=(\d+)$/.exec(String(result.headers['ratelimit']))![1])

  it('answers a flood of bad credentials with 401s that count, then 429', async () => {
    const valid = await get('/login/x', await bearer(signer))
    expect(valid.status).toBe(200)
    expect(valid.headers['ratelimit']).toMatch(/^"attempts";r=4;t=\d+$/)
    const forged = await bearer(forger)
    for (let left = 3; left >= 0; left--) {
      const refused = await get('/login/x', forged)
      expect(refused.status).toBe(401)
      expect(refused.json<ErrorBody>().error).toBe('invalid_token')
      expect(refused.headers['www-authenticate']).toMatch(/^Bearer /)
      expect(refused.headers['ratelimit-policy']).toBe('"attempts";q=5;w=3600')
      expect(refused.headers['ratelimit']).toMatch(new RegExp(`^"attempts";r=${left};t=\\d+$`))
      expect(refused.headers['x-ratelimit-limit']).toBe('5')
      expect(refused.headers['x-ratelimit-remaining']).toBe(String(left))
      expect(refused.headers['retry-after']).toBeUndefined()
    }
    const throttled = await get('/login/x', forged)
    expect(throttled.status).toBe(429)
    expect(throttled.json<ErrorBody>().error).toBe('rate_limited')
    expect(throttled.headers['www-authenticate']).toBeUndefined()
    expect(throttled.headers['ratelimit']).toMatch(/^"attempts";r=0;t=\d+$/)
    // One attempt comes back every 720 s; the refusal reports that wait in all three fields.
    const retryAfter = Number(throttled.headers['retry-after'])
    expect(retryAfter).toBeGreaterThan(600)
    expect(retryAfter).toBeLessThanOrEqual(720)
    expect(resetOf(throttled)).toBe(retryAfter)
    expect(Number(throttled.headers['x-ratelimit-reset'])).toBe(retryAfter)
    // The address is throttled, whatever credential it shows next.
    expect((await get('/login/x', await bearer(signer))).status).toBe(429)
  })

  it('gives a 403 the fields of the pre_auth policy that counted it', async () => {
    const forbidden = await get('/admin/x', await bearer(signer, { scope: 'read' }))
    expect(forbidden.status).toBe(403)
    expect(forbidden.json<ErrorBody>().error).toBe('insufficient_scope')
    expect(forbidden.headers['ratelimit-policy']).toBe('"admin-attempts";q=3;w=3600')
    expect(forbidden.headers['ratelimit']).toMatch(/^"admin-attempts";r=2;t=\d+$/)
    expect(forbidden.headers['x-ratelimit-remaining']).toBe('2')
  })
})
