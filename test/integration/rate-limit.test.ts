/**
 * Rate limiting through a real gateway process: 429 with Retry-After, the JSON error and the
 * rate-limit fields; keys by client address, header and JWT claim (real signed tokens), tiers;
 * limits that come back once the window has passed.
 *
 * One worker: how several workers and gateways share a limit is rate-limit-gossip.test.ts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
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
