/**
 * CORS through a real gateway on both fronts: preflights answered by the gateway (before
 * authentication, on routes that do not list OPTIONS) and never forwarded, the fields of actual
 * requests, the upstream's own CORS fields replaced, the gateway's 401 and 429 readable by the
 * page, and routes without cors keeping their way.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send, type ErrorBody, type HttpResult } from '../helpers/http.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'

const APP = 'https://app.example.com'
const HS_SECRET = 'an-hmac-secret-of-at-least-32-bytes!'

function corsFields(result: HttpResult): Record<string, string | string[] | undefined> {
  return Object.fromEntries(
    Object.entries(result.headers).filter(([name]) => name.startsWith('access-control-')),
  )
}

describe.each(FRONTS)('cors on the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream
  const call = (path: string, method: string, headers: Record<string, string> = {}) =>
    send(`${gateway.url}${path}`, { method, headers })

  beforeAll(async () => {
    upstream = await startUpstream('echo')
    gateway = await startGateway({
      front,
      config: {
        upstreams: { echo: { targets: [upstream.url] } },
        issuers: [
          {
            name: 'hs',
            issuer: 'https://hs.issuer.test',
            secret: HS_SECRET,
            audiences: ['https://api.test'],
            algorithms: ['HS256'],
          },
        ],
        rate_limits: {
          roomy: { key: 'ip', rate: '1000/s' },
          tight: { key: 'ip', rate: '2/h' },
        },
        // The default: routes without their own cors take it.
        cors: { origins: [APP], credentials: true, allow_headers: ['authorization'] },
        routes: [
          {
            name: 'api',
            match: { paths: ['/api/*'], methods: ['GET', 'POST'] },
            upstream: 'echo',
            auth: 'none',
            rate_limit: 'roomy',
            cors: {
              origins: [APP, 'https://*.example.org'],
              credentials: true,
              allow_headers: ['authorization', 'content-type'],
              expose_headers: ['x-trace'],
              max_age: '1h',
            },
          },
          {
            name: 'secure',
            match: { paths: ['/secure/*'] },
            upstream: 'echo',
            auth: 'jwt',
            jwt: { issuers: ['hs'] },
          },
          {
            name: 'tight',
            match: { paths: ['/tight/*'] },
            upstream: 'echo',
            auth: 'none',
            rate_limit: 'tight',
          },
          {
            name: 'plain',
            match: { paths: ['/plain/*'] },
            upstream: 'echo',
            auth: 'none',
            cors: false,
          },
        ],
      },
    })
  })

  beforeEach(() => {
    upstream.reset()
    // An upstream with CORS fields of its own, which routes with cors must not pass on.
    upstream.handle((_req, res) => {
      res.writeHead(200, {
        'content-type': 'text/plain',
        'access-control-allow-origin': 'https://upstream.test',
        'access-control-expose-headers': 'x-upstream',
        'x-trace': 'trace-1',
        vary: 'accept-encoding',
      })
      res.end('ok')
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  describe('a preflight', () => {
    it('is answered 204 by the gateway, never forwarded, on a route that does not list OPTIONS', async () => {
      const result = await call('/api/items', 'OPTIONS', {
        origin: APP,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      })
      expect(result.status).toBe(204)
      expect(result.body.length).toBe(0)
      expect(result.headers['content-length']).toBeUndefined()
      expect(result.headers['content-type']).toBeUndefined()
      expect(corsFields(result)).toEqual({
        'access-control-allow-origin': APP,
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'authorization, content-type',
        'access-control-allow-credentials': 'true',
        'access-control-max-age': '3600',
      })
      expect(result.headers['vary']).toBe(
        'origin, access-control-request-method, access-control-request-headers',
      )
      expect(upstream.requests).toEqual([])
    })

    it('from a pattern origin is answered with that origin', async () => {
      const result = await call('/api/items', 'OPTIONS', {
        origin: 'https://a.b.example.org',
        'access-control-request-method': 'GET',
      })
      expect(result.status).toBe(204)
      expect(result.headers['access-control-allow-origin']).toBe('https://a.b.example.org')
    })

    it('from a refused origin gets 403 and no CORS field, and is not forwarded', async () => {
      for (const origin of ['https://evil.test', 'https://evil-example.org', 'null']) {
        const result = await call('/api/items', 'OPTIONS', {
          origin,
          'access-control-request-method': 'GET',
        })
        expect(result.status, origin).toBe(403)
        expect(result.json<ErrorBody>().error).toBe('forbidden')
        expect(corsFields(result)).toEqual({})
      }
      expect(upstream.requests).toEqual([])
    })

    it('asking for a header not allowed gets 403 and no CORS field', async () => {
      const result = await call('/api/items', 'OPTIONS', {
        origin: APP,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'x-secret',
      })
      expect(result.status).toBe(403)
      expect(corsFields(result)).toEqual({})
      expect(upstream.requests).toEqual([])
    })

    it('for a method no route on the path takes gets 405 and no CORS field', async () => {
      const result = await call('/api/items', 'OPTIONS', {
        origin: APP,
        'access-control-request-method': 'DELETE',
      })
      expect(result.status).toBe(405)
      expect(corsFields(result)).toEqual({})
      expect(upstream.requests).toEqual([])
    })

    it('is answered before authentication on a route that needs a token', async () => {
      const result = await call('/secure/x', 'OPTIONS', {
        origin: APP,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      })
      expect(result.status).toBe(204)
      expect(result.headers['access-control-allow-origin']).toBe(APP)
      expect(result.headers['access-control-allow-headers']).toBe('authorization')
      expect(upstream.requests).toEqual([])
    })

    it('is forwarded like any OPTIONS request on a route with cors: false', async () => {
      const result = await call('/plain/x', 'OPTIONS', {
        origin: APP,
        'access-control-request-method': 'GET',
      })
      expect(result.status).toBe(200)
      expect(upstream.requests.map((r) => r.method)).toEqual(['OPTIONS'])
      expect(result.headers['access-control-allow-origin']).toBe('https://upstream.test')
    })
  })

  describe('an actual request', () => {
    it('from an allowed origin gets the gateway’s CORS fields, the upstream’s replaced', async () => {
      const result = await call('/api/items', 'GET', { origin: APP })
      expect(result.status).toBe(200)
      expect(corsFields(result)).toEqual({
        'access-control-allow-origin': APP,
        'access-control-allow-credentials': 'true',
        'access-control-expose-headers':
          'x-trace, ratelimit, ratelimit-policy, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, retry-after',
      })
      expect(result.headers['vary']).toBe('accept-encoding, origin')
      expect(result.headers['x-trace']).toBe('trace-1')
      expect(upstream.requests.map((r) => r.headers['origin'])).toEqual([APP])
    })

    it('from a refused origin is forwarded with no CORS field at all', async () => {
      const result = await call('/api/items', 'GET', { origin: 'https://evil.test' })
      expect(result.status).toBe(200)
      expect(corsFields(result)).toEqual({})
      expect(result.headers['vary']).toBe('accept-encoding, origin')
      expect(upstream.requests.length).toBe(1)
    })

    it('refused by authentication gets a 401 the page can read', async () => {
      const result = await call('/secure/x', 'GET', { origin: APP })
      expect(result.status).toBe(401)
      expect(result.headers['access-control-allow-origin']).toBe(APP)
      expect(result.headers['access-control-allow-credentials']).toBe('true')
      expect(result.headers['vary']).toBe('origin')
      expect(upstream.requests).toEqual([])
    })

    it('refused by a rate limit gets a 429 whose Retry-After the page can read', async () => {
      let result: HttpResult | null = null
      for (let i = 0; i < 5 && result?.status !== 429; i++) {
        result = await call('/tight/x', 'GET', { origin: APP })
      }
      expect(result!.status).toBe(429)
      expect(result!.headers['access-control-allow-origin']).toBe(APP)
      expect(result!.headers['retry-after']).toBeDefined()
      expect(result!.headers['access-control-expose-headers']).toContain('retry-after')
    })

    it('on a route with cors: false keeps the upstream’s CORS fields', async () => {
      const result = await call('/plain/x', 'GET', { origin: APP })
      expect(result.headers['access-control-allow-origin']).toBe('https://upstream.test')
      expect(result.headers['access-control-expose-headers']).toBe('x-upstream')
    })
  })
})
