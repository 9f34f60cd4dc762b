import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type ConfigInput } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { freePort } from '../helpers/ports.js'
import { createSigner, nowSeconds, sign, startJwksServer, type Signer } from '../helpers/jwt.js'
import { countOf, labelValues, scrape, valueOf } from '../helpers/metrics.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'

const ISS = 'https://metrics.issuer.test'
const AUD = 'metrics-api'

let upstream: TestUpstream
let signer: Signer
let keyFile: string

beforeAll(async () => {
  upstream = await startUpstream('echo')
  signer = createSigner('ES256', 'metrics-key')
  keyFile = join(mkdtempSync(join(tmpdir(), 'pcl-metrics-')), 'es256.pem')
  writeFileSync(keyFile, signer.publicPem)
})

afterEach(async () => {
  await stopAllGateways()
  upstream.reset()
})

afterAll(async () => {
  await closeAllUpstreams()
})

function config(): ConfigInput {
  return {
    upstreams: { echo: { targets: [upstream.url] } },
    issuers: [{ name: 'idp', issuer: ISS, keys: keyFile, audiences: [AUD], algorithms: ['ES256'] }],
    routes: [
      { name: 'pub', match: { paths: ['/pub/*'] }, upstream: 'echo', auth: 'none' },
      {
        name: 'sec',
        match: { paths: ['/sec/*'] },
        upstream: 'echo',
        auth: 'jwt',
        jwt: { issuers: ['idp'] },
      },
    ],
  }
}

/** Known traffic: every count below follows from it. */
async function drive(url: string): Promise<string> {
  const token = await sign(signer, { iss: ISS, aud: AUD, sub: 'alice', exp: nowSeconds() + 600 })
  for (let i = 0; i < 5; i++) expect((await send(`${url}/pub/a?i=${i}`)).status).toBe(200)
  for (let i = 0; i < 3; i++)
    expect((await send(`${url}/pub/b`, { method: 'POST', body: 'x' })).status).toBe(200)
  for (let i = 0; i < 2; i++) expect((await send(`${url}/nowhere/${i}`)).status).toBe(404)
  const bearer = { authorization: `Bearer ${token}` }
  for (let i = 0; i < 2; i++)
    expect((await send(`${url}/sec/a`, { headers: bearer })).status).toBe(200)
  for (let i = 0; i < 3; i++) expect((await send(`${url}/sec/a`)).status).toBe(401)
  return token
}

describe.each(FRONTS)('/metrics on the %s front', (front) => {
  describe.each([2, 0])('with --workers %i', (workers) => {
    it('counts every request of every worker exactly, by route, method and status class', async () => {
      const gateway = await startGateway({ front, workers, config: config() })
      const token = await drive(gateway.url)
      const m = await scrape(gateway.statusUrl)
      expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/)
      const requests = 'portcullis_requests_total'
      expect(valueOf(m, requests, { route: 'pub', method: 'GET', status_class: '2xx' })).toBe(5)
      expect(valueOf(m, requests, { route: 'pub', method: 'POST', status_class: '2xx' })).toBe(3)
      expect(valueOf(m, requests, { route: '(none)', method: 'GET', status_class: '4xx' })).toBe(2)
      expect(valueOf(m, requests, { route: 'sec', status_class: '2xx' })).toBe(2)
      expect(valueOf(m, requests, { route: 'sec', status_class: '4xx' })).toBe(3)
      expect(valueOf(m, requests)).toBe(15)

      expect(countOf(m, 'portcullis_request_duration_seconds', { route: 'pub' })).toBe(8)
      expect(countOf(m, 'portcullis_gateway_duration_seconds', { route: 'pub' })).toBe(8)
      expect(countOf(m, 'portcullis_upstream_duration_seconds', { route: 'pub' })).toBe(8)
      expect(countOf(m, 'portcullis_upstream_duration_seconds', { route: 'sec' })).toBe(2)

      const decisions = 'portcullis_auth_decisions_total'
      expect(valueOf(m, decisions, { method: 'jwt', outcome: 'allow', reason: 'ok' })).toBe(2)
      expect(valueOf(m, decisions, { method: 'jwt', outcome: 'deny' })).toBe(3)
      expect(countOf(m, 'portcullis_auth_duration_seconds', { method: 'jwt' })).toBe(5)
      // The same token twice: verified once per worker that saw it, answered from cache after.
      const lookups = 'portcullis_token_cache_lookups_total'
      expect(valueOf(m, lookups)).toBe(2)
      const verified = countOf(m, 'portcullis_jwt_verify_duration_seconds', { algorithm: 'ES256' })
      expect(verified).toBe(valueOf(m, lookups, { result: 'miss' }))
      expect(verified).toBeGreaterThanOrEqual(1)

      expect(valueOf(m, 'portcullis_config_generation')).toBe(0)
      expect(valueOf(m, 'portcullis_worker_restarts_total')).toBe(0)

      // Bounded labels: no path, query, token or client address in any label value.
      for (const value of labelValues(m)) {
        expect(value).not.toMatch(/\/|127\.0\.0\.1|alice/)
        expect(token.includes(value) && value.length > 8).toBe(false)
      }
    })
  })

  it('answers OpenMetrics when the scraper asks for it', async () => {
    const gateway = await startGateway({ front, workers: 2, config: config() })
    expect((await send(`${gateway.url}/pub/a`)).status).toBe(200)
    const m = await scrape(gateway.statusUrl, 'application/openmetrics-text; version=1.0.0')
    expect(m.contentType).toMatch(/^application\/openmetrics-text; version=1\.0\.0/)
    expect(m.text.endsWith('# EOF\n')).toBe(true)
    expect(m.text).toContain(
      'portcullis_requests_total{route="pub",method="GET",status_class="2xx"} 1',
    )
  })

  it('counts rate-limit decisions by policy, and upstream failures, retries and ejections', async () => {
    const closed = await freePort()
    const gateway = await startGateway({
      front,
      workers: 0,
      config: {
        upstreams: {
          echo: { targets: [upstream.url] },
          // The first target refuses connections: one failure ejects it, the retry goes on.
          flaky: {
            targets: [`http://127.0.0.1:${closed}`, upstream.url],
            retries: 1,
            eject_after: 1,
            eject_for: '10m',
          },
        },
        rate_limits: { tight: { key: 'ip', algorithm: 'fixed_window', rate: '2/h' } },
        routes: [
          {
            name: 'limited',
            match: { paths: ['/limited/*'] },
            upstream: 'echo',
            auth: 'none',
            rate_limit: 'tight',
          },
          { name: 'flaky', match: { paths: ['/flaky/*'] }, upstream: 'flaky', auth: 'none' },
        ],
      },
    })
    for (let i = 0; i < 2; i++) expect((await send(`${gateway.url}/limited/a`)).status).toBe(200)
    expect((await send(`${gateway.url}/limited/a`)).status).toBe(429)
    for (let i = 0; i < 3; i++) expect((await send(`${gateway.url}/flaky/a`)).status).toBe(200)
    const m = await scrape(gateway.statusUrl)
    const limits = 'portcullis_rate_limit_decisions_total'
    expect(valueOf(m, limits, { policy: 'tight', outcome: 'admitted' })).toBe(2)
    expect(valueOf(m, limits, { policy: 'tight', outcome: 'limited' })).toBe(1)
    const failures = 'portcullis_upstream_failures_total'
    expect(valueOf(m, failures, { upstream: 'flaky', kind: 'connect' })).toBe(1)
    expect(valueOf(m, failures, { upstream: 'flaky', kind: 'timeout' })).toBe(0)
    expect(valueOf(m, failures, { upstream: 'echo' })).toBe(0)
    expect(valueOf(m, 'portcullis_upstream_retries_total', { upstream: 'flaky' })).toBe(1)
    expect(valueOf(m, 'portcullis_upstream_ejections_total', { upstream: 'flaky' })).toBe(1)
    const requests = 'portcullis_requests_total'
    expect(valueOf(m, requests, { route: 'limited', status_class: '4xx' })).toBe(1)
    expect(valueOf(m, requests, { route: 'flaky', status_class: '2xx' })).toBe(3)
  })

  it('reports JWKS fetches by issuer and the age of the keys in use', async () => {
    const jwks = await startJwksServer([signer.publicJwk!])
    try {
      const gateway = await startGateway({
        front,
        workers: 2,
        config: {
          ...config(),
          issuers: [
            {
              name: 'idp',
              issuer: ISS,
              jwks_uri: jwks.url,
              audiences: [AUD],
              algorithms: ['ES256'],
            },
          ],
        },
      })
      const m = await scrape(gateway.statusUrl)
      const fetches = 'portcullis_jwks_refreshes_total'
      // Every fetch so far succeeded: each worker loads the keys before it listens.
      expect(valueOf(m, fetches, { issuer: 'idp', result: 'ok' })).toBe(jwks.hits)
      expect(jwks.hits).toBeGreaterThanOrEqual(2)
      expect(valueOf(m, fetches, { issuer: 'idp', result: 'failed' })).toBe(0)
      const age = valueOf(m, 'portcullis_jwks_keys_age_seconds', { issuer: 'idp' })
      expect(age).toBeGreaterThanOrEqual(0)
      expect(age).toBeLessThan(300)
    } finally {
      await stopAllGateways()
      await jwks.close()
    }
  })

  it('counts a worker the primary respawned after it died', async () => {
    const gateway = await startGateway({ front, workers: 2, config: config() })
    const from = gateway.logs.length
    process.kill(gateway.workerPids[0]!, 'SIGKILL')
    await gateway.waitForLog(
      (l) => typeof l.msg === 'string' && l.msg.startsWith('worker respawned'),
      10_000,
      from,
    )
    const m = await scrape(gateway.statusUrl)
    expect(valueOf(m, 'portcullis_worker_restarts_total')).toBe(1)
    expect(valueOf(m, 'portcullis_config_generation')).toBe(0)
  })

  describe('with metrics.enabled false', () => {
    it('answers 404 on /metrics while probes and traffic go on', async () => {
      const gateway = await startGateway({
        front,
        workers: 2,
        config: { ...config(), metrics: { enabled: false } },
      })
      expect((await send(`${gateway.url}/pub/a`)).status).toBe(200)
      const res = await send(`${gateway.statusUrl}/metrics`)
      expect(res.status).toBe(404)
      expect(res.text).not.toContain('portcullis_')
      expect((await send(`${gateway.statusUrl}/healthz`)).status).toBe(200)
    })

    it('counts nothing until a reload turns metrics on', async () => {
      const gateway = await startGateway({
        front,
        workers: 0,
        config: { ...config(), metrics: { enabled: false } },
      })
      const token = await sign(signer, { iss: ISS, aud: AUD, exp: nowSeconds() + 600 })
      expect((await send(`${gateway.url}/pub/a`)).status).toBe(200)
      expect((await send(`${gateway.url}/nowhere`)).status).toBe(404)
      const bearer = { authorization: `Bearer ${token}` }
      expect((await send(`${gateway.url}/sec/a`, { headers: bearer })).status).toBe(200)
      await gateway.reload(config())
      expect((await send(`${gateway.url}/pub/a`)).status).toBe(200)
      const m = await scrape(gateway.statusUrl)
      expect(valueOf(m, 'portcullis_requests_total')).toBe(1)
      expect(countOf(m, 'portcullis_request_duration_seconds', { route: 'pub' })).toBe(1)
      expect(valueOf(m, 'portcullis_auth_decisions_total')).toBe(0)
      expect(countOf(m, 'portcullis_jwt_verify_duration_seconds')).toBe(0)
    })
  })

  it('counts reloads and keeps request counters across them', async () => {
    const gateway = await startGateway({ front, workers: 2, config: config() })
    expect((await send(`${gateway.url}/pub/a`)).status).toBe(200)
    await gateway.reload(config())
    expect((await send(`${gateway.url}/pub/a`)).status).toBe(200)
    const m = await scrape(gateway.statusUrl)
    expect(valueOf(m, 'portcullis_config_generation')).toBe(1)
    expect(valueOf(m, 'portcullis_config_reloads_total', { outcome: 'applied' })).toBe(1)
    expect(valueOf(m, 'portcullis_requests_total', { route: 'pub' })).toBe(2)
  })
})
