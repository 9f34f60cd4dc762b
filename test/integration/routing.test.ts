import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send, type ErrorBody, type HttpResult } from '../helpers/http.js'
import { rawRequest } from '../helpers/raw.js'
import {
  closeAllUpstreams,
  startUpstream,
  type Echo,
  type TestUpstream,
} from '../helpers/upstream.js'

const UPSTREAMS = ['exact', 'prefix', 'longer', 'host-exact', 'host-wild', 'based'] as const
type UpstreamName = (typeof UPSTREAMS)[number]

describe.each(FRONTS)('routing on the %s front', (front) => {
  let gateway: Gateway
  const upstreams = new Map<UpstreamName, TestUpstream>()

  beforeAll(async () => {
    for (const name of UPSTREAMS) upstreams.set(name, await startUpstream(name))
    const target = (name: UpstreamName) => ({ targets: [upstreams.get(name)!.url] })
    gateway = await startGateway({
      front,
      config: {
        upstreams: {
          exact: target('exact'),
          prefix: target('prefix'),
          longer: target('longer'),
          'host-exact': target('host-exact'),
          'host-wild': target('host-wild'),
          based: { targets: [`${upstreams.get('based')!.url}/base`] },
        },
        routes: [
          { name: 'exact', match: { paths: ['/api/users'] }, upstream: 'exact', auth: 'none' },
          { name: 'prefix', match: { paths: ['/api/*'] }, upstream: 'prefix', auth: 'none' },
          { name: 'longer', match: { paths: ['/api/v2/*'] }, upstream: 'longer', auth: 'none' },
          { name: 'docs', match: { paths: ['/Docs/*'] }, upstream: 'prefix', auth: 'none' },
          {
            name: 'items-read',
            match: { paths: ['/items/*'], methods: ['GET'] },
            upstream: 'prefix',
            auth: 'none',
          },
          {
            name: 'items-write',
            match: { paths: ['/items/*'], methods: ['PUT', 'DELETE'] },
            upstream: 'longer',
            auth: 'none',
          },
          {
            name: 'host-exact',
            match: { hosts: ['api.example.com'], paths: ['/*'] },
            upstream: 'host-exact',
            auth: 'none',
          },
          {
            name: 'host-wild',
            match: { hosts: ['*.example.com'], paths: ['/*'] },
            upstream: 'host-wild',
            auth: 'none',
          },
          {
            name: 'strip',
            match: { paths: ['/strip/*'] },
            upstream: 'prefix',
            auth: 'none',
            strip_path: true,
          },
          { name: 'based', match: { paths: ['/based/*'] }, upstream: 'based', auth: 'none' },
          {
            name: 'based-strip',
            match: { paths: ['/bs/*'] },
            upstream: 'based',
            auth: 'none',
            strip_path: true,
          },
        ],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  async function get(path: string, host?: string): Promise<HttpResult> {
    return send(`${gateway.url}${path}`, host === undefined ? {} : { headers: { host } })
  }

  /** The upstream that answered and the path it saw. */
  async function routed(path: string, host?: string): Promise<{ upstream: string; url: string }> {
    const res = await get(path, host)
    expect(res.status, `${host ?? ''}${path}: ${res.text}`).toBe(200)
    const echo = res.json<Echo>()
    return { upstream: echo.upstream, url: echo.url }
  }

  describe('when a route has an exact path', () => {
    it('takes that path only', async () => {
      expect(await routed('/api/users')).toEqual({ upstream: 'exact', url: '/api/users' })
    })

    it('leaves the same path with a trailing slash to the prefix route', async () => {
      expect(await routed('/api/users/')).toEqual({ upstream: 'prefix', url: '/api/users/' })
    })
  })

  describe('when a route has a prefix path', () => {
    it.each(['/api', '/api/', '/api/x', '/api/x/y/z'])('matches %s', async (path) => {
      expect(await routed(path)).toEqual({ upstream: 'prefix', url: path })
    })

    describe('when the path only shares a prefix string', () => {
      it.each(['/apix', '/apix/y', '/ap'])('answers 404 for %s', async (path) => {
        const res = await get(path)
        expect(res.status).toBe(404)
      })
    })
  })

  describe('when paths differ only in case', () => {
    it('routes the configured case', async () => {
      expect(await routed('/Docs/intro')).toEqual({ upstream: 'prefix', url: '/Docs/intro' })
    })

    it.each(['/docs/intro', '/DOCS/intro', '/API/users', '/Api'])(
      'answers 404 for %s',
      async (path) => {
        expect((await get(path)).status).toBe(404)
      },
    )
  })

  describe('when several routes match', () => {
    it('prefers the exact path over a prefix', async () => {
      expect((await routed('/api/users')).upstream).toBe('exact')
    })

    it('prefers the longer prefix over the shorter', async () => {
      expect(await routed('/api/v2')).toEqual({ upstream: 'longer', url: '/api/v2' })
      expect(await routed('/api/v2/orders')).toEqual({ upstream: 'longer', url: '/api/v2/orders' })
    })

    it('does not take a longer prefix that only shares a prefix string', async () => {
      expect(await routed('/api/v2x')).toEqual({ upstream: 'prefix', url: '/api/v2x' })
    })

    it('prefers an exact host over a wildcard host over any host', async () => {
      expect((await routed('/api/users', 'api.example.com')).upstream).toBe('host-exact')
      expect((await routed('/api/users', 'www.example.com')).upstream).toBe('host-wild')
      expect((await routed('/api/users', 'example.org')).upstream).toBe('exact')
    })

    it('lets a wildcard host match several labels but not the bare domain', async () => {
      expect((await routed('/x', 'a.b.example.com')).upstream).toBe('host-wild')
      expect((await routed('/api/users', 'example.com')).upstream).toBe('exact')
      expect((await routed('/api/users', 'badexample.com')).upstream).toBe('exact')
    })

    it('ignores the port and the case of the Host header', async () => {
      expect((await routed('/x', 'API.Example.COM:8080')).upstream).toBe('host-exact')
      expect((await routed('/x', 'api.example.com.')).upstream).toBe('host-exact')
      expect((await routed('/x', 'WWW.EXAMPLE.COM:443')).upstream).toBe('host-wild')
    })
  })

  describe('when no route matches', () => {
    it('answers 404 with a JSON body naming the request id', async () => {
      const res = await get('/nowhere')
      expect(res.status).toBe(404)
      expect(res.headers['content-type']).toBe('application/json')
      const body = res.json<ErrorBody>()
      expect(body.error).toBe('not_found')
      expect(body.message).toEqual(expect.any(String))
      expect(body.request_id).toBe(res.headers['x-request-id'])
    })
  })

  describe('when the path matches but the method does not', () => {
    it('answers 405 with the Allow list of every route on that path', async () => {
      const res = await send(`${gateway.url}/items/1`, { method: 'POST', body: 'x' })
      expect(res.status).toBe(405)
      expect(res.headers['allow']).toBe('DELETE, GET, HEAD, PUT')
      expect(res.json<ErrorBody>().error).toBe('method_not_allowed')
    })

    it('routes each method to its own route', async () => {
      const put = await send(`${gateway.url}/items/1`, { method: 'PUT', body: 'x' })
      expect(put.json<Echo>()).toMatchObject({ upstream: 'longer', method: 'PUT' })
      const read = await get('/items/1')
      expect(read.json<Echo>()).toMatchObject({ upstream: 'prefix', method: 'GET' })
    })
  })

  describe('when a route takes GET', () => {
    it('answers HEAD too, without a body', async () => {
      const before = upstreams.get('prefix')!.requests.length
      const res = await send(`${gateway.url}/items/1`, { method: 'HEAD' })
      expect(res.status).toBe(200)
      expect(res.body.length).toBe(0)
      const seen = upstreams.get('prefix')!.requests.slice(before)
      expect(seen.map((r) => r.method)).toEqual(['HEAD'])
    })
  })

  describe('when a route strips its prefix', () => {
    it('forwards the rest of the path', async () => {
      expect(await routed('/strip/a/b')).toEqual({ upstream: 'prefix', url: '/a/b' })
    })

    it.each(['/strip', '/strip/'])('forwards %s as /', async (path) => {
      expect((await routed(path)).url).toBe('/')
    })

    it('keeps the query', async () => {
      expect((await routed('/strip/a?x=1&y=2')).url).toBe('/a?x=1&y=2')
    })
  })

  describe('when the target has a base path', () => {
    it('prepends it to the request path', async () => {
      expect(await routed('/based/x/y')).toEqual({ upstream: 'based', url: '/base/based/x/y' })
    })

    it('prepends it to the stripped path', async () => {
      expect(await routed('/bs/x?q=1')).toEqual({ upstream: 'based', url: '/base/x?q=1' })
    })
  })

  describe('when a request is logged', () => {
    it('writes one access line with the route and the path, never the query or a header', async () => {
      const res = await send(`${gateway.url}/api/users?api_key=query-secret-123`, {
        headers: { authorization: 'Bearer header-secret-456' },
      })
      const id = res.headers['x-request-id']
      const line = await gateway.waitForLog((l) => l.msg === 'access' && l['request_id'] === id)
      expect(line).toMatchObject({
        method: 'GET',
        path: '/api/users',
        route: 'exact',
        status: 200,
        client: '127.0.0.1',
        aborted: false,
        error: null,
      })
      const text = JSON.stringify(gateway.logs)
      expect(text).not.toContain('query-secret-123')
      expect(text).not.toContain('header-secret-456')
    })

    it('logs a 404 without a route', async () => {
      const res = await get('/nowhere/at/all')
      const id = res.headers['x-request-id']
      const line = await gateway.waitForLog((l) => l.msg === 'access' && l['request_id'] === id)
      expect(line).toMatchObject({ path: '/nowhere/at/all', route: null, status: 404 })
    })

    it('counts the bytes of its own error answer in bytes_out', async () => {
      const res = await get('/nowhere/at/all')
      const id = res.headers['x-request-id']
      const line = await gateway.waitForLog((l) => l.msg === 'access' && l['request_id'] === id)
      expect(res.body.length).toBeGreaterThan(0)
      expect(line['bytes_out']).toBe(res.body.length)
    })

    it('names the routes whose path matched a 405, and the bytes of its answer', async () => {
      const res = await send(`${gateway.url}/items/1`, { method: 'POST', body: 'x' })
      expect(res.status).toBe(405)
      const id = res.headers['x-request-id']
      const line = await gateway.waitForLog((l) => l.msg === 'access' && l['request_id'] === id)
      expect(line).toMatchObject({
        route: 'items-read,items-write',
        status: 405,
        bytes_out: res.body.length,
      })
    })
  })

  describe('when the request has a query string', () => {
    it('forwards it byte for byte', async () => {
      const query = 'a=1&b=%2F&c=%zz&d=a+b&e&f=%E2%82%AC&a=2&g=/..%2f&h=?'
      const res = await rawRequest(
        gateway.port,
        `GET /api/q?${query} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
        { waitMs: 3000, until: (r) => r.length > 0 && r[0]!.complete },
      )
      expect(res.responses[0]?.status).toBe(200)
      const echo = JSON.parse(res.responses[0]!.body.toString('utf8')) as Echo
      expect(echo.url).toBe(`/api/q?${query}`)
    })
  })
})
