import { request } from 'node:http'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send, type ErrorBody } from '../helpers/http.js'
import { freePort } from '../helpers/ports.js'
import { rawRequest, type RawResponse } from '../helpers/raw.js'
import {
  closeAllUpstreams,
  startUpstream,
  type Echo,
  type TestUpstream,
} from '../helpers/upstream.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Every value the upstream received for `name` (lowercase), in order. */
function received(echo: Echo, name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < echo.rawHeaders.length; i += 2) {
    if (echo.rawHeaders[i]!.toLowerCase() === name) out.push(echo.rawHeaders[i + 1]!)
  }
  return out
}

function responseHeaders(response: RawResponse, name: string): string[] {
  return response.headers.filter(([n]) => n === name).map(([, v]) => v)
}

describe.each(FRONTS)('hop-by-hop and gateway-owned headers on the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream

  beforeAll(async () => {
    upstream = await startUpstream('echo')
    gateway = await startGateway({
      front,
      config: {
        upstreams: { echo: { targets: [upstream.url] } },
        routes: [
          { name: 'api', match: { paths: ['/api/*'] }, upstream: 'echo', auth: 'none' },
          {
            name: 'ws',
            match: { paths: ['/ws/*'] },
            upstream: 'echo',
            auth: 'none',
            websocket: true,
          },
        ],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  beforeEach(() => {
    upstream.reset()
    upstream.handle(null)
  })

  /** `GET /api/x` with these header lines as written, until the first response is complete. */
  function getRaw(lines = '') {
    return rawRequest(gateway.port, `GET /api/x HTTP/1.1\r\nHost: localhost\r\n${lines}\r\n`, {
      waitMs: 3000,
      until: (r) => r.length > 0 && r[0]!.complete,
    })
  }

  /** Sends the headers exactly as given (node:http refuses some of them) and returns the echo. */
  async function echoOf(headers: Record<string, string>): Promise<Echo> {
    const lines = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('')
    const result = await getRaw(lines)
    const response = result.responses[0]
    expect(response?.status, result.text).toBe(200)
    return JSON.parse(response!.body.toString('utf8')) as Echo
  }

  describe('when the request carries hop-by-hop headers', () => {
    it('forwards none of them', async () => {
      const echo = await echoOf({
        connection: 'keep-alive, x-foo',
        'keep-alive': 'timeout=99',
        te: 'trailers',
        trailer: 'x-checksum',
        'proxy-authorization': 'Basic c2VjcmV0OnNlY3JldA==',
        'proxy-connection': 'keep-alive',
        'x-foo': 'hop',
        'x-kept': 'end-to-end',
      })
      expect(received(echo, 'keep-alive')).toEqual([])
      expect(received(echo, 'te')).toEqual([])
      expect(received(echo, 'trailer')).toEqual([])
      expect(received(echo, 'proxy-authorization')).toEqual([])
      expect(received(echo, 'proxy-connection')).toEqual([])
      expect(received(echo, 'x-foo')).toEqual([])
      expect(received(echo, 'x-kept')).toEqual(['end-to-end'])
      // The gateway's own connection to the upstream may say keep-alive; never the client's list.
      for (const value of received(echo, 'connection')) expect(value).toBe('keep-alive')
    })

    it('drops every header the client names in Connection', async () => {
      const echo = await echoOf({
        connection: 'X-One,  x-two ,x-three',
        'x-one': '1',
        'x-two': '2',
        'x-three': '3',
        'x-four': '4',
      })
      expect(received(echo, 'x-one')).toEqual([])
      expect(received(echo, 'x-two')).toEqual([])
      expect(received(echo, 'x-three')).toEqual([])
      expect(received(echo, 'x-four')).toEqual(['4'])
    })
  })

  describe("when Connection names the gateway's own headers", () => {
    it('still sends its X-Forwarded-For, X-Request-Id and Via', async () => {
      const echo = await echoOf({
        connection: 'x-forwarded-for, x-request-id, via',
        'x-forwarded-for': '6.6.6.6',
        'x-request-id': 'client-id-1',
        via: '1.0 corp-proxy',
      })
      expect(received(echo, 'x-forwarded-for')).toEqual(['127.0.0.1'])
      expect(received(echo, 'x-request-id')).toHaveLength(1)
      expect(received(echo, 'via')).toEqual(['1.1 portcullis'])
    })
  })

  describe('when the client sends forwarding headers', () => {
    it('replaces X-Forwarded-For with the real client address', async () => {
      const echo = await echoOf({ 'x-forwarded-for': '6.6.6.6, 7.7.7.7' })
      expect(received(echo, 'x-forwarded-for')).toEqual(['127.0.0.1'])
    })

    it('drops the other spoofable forwarding headers', async () => {
      const echo = await echoOf({
        forwarded: 'for=6.6.6.6;proto=https',
        'x-real-ip': '6.6.6.6',
        'x-forwarded-proto': 'https',
        'x-forwarded-port': '443',
      })
      expect(received(echo, 'forwarded')).toEqual([])
      expect(received(echo, 'x-real-ip')).toEqual([])
      expect(received(echo, 'x-forwarded-port')).toEqual([])
      expect(received(echo, 'x-forwarded-proto')).toEqual(['http'])
    })

    it('replaces the Via it received with its own', async () => {
      const echo = await echoOf({ via: '1.0 corp-proxy' })
      expect(received(echo, 'via')).toEqual(['1.1 portcullis'])
    })

    it('adds a Via when there is none', async () => {
      const echo = await echoOf({})
      expect(received(echo, 'via')).toEqual(['1.1 portcullis'])
    })
  })

  describe('when the client sends X-Request-Id', () => {
    it('propagates a valid one to the upstream and the response', async () => {
      const res = await send(`${gateway.url}/api/x`, {
        headers: { 'x-request-id': 'req-42.a_b:c' },
      })
      expect(received(res.json<Echo>(), 'x-request-id')).toEqual(['req-42.a_b:c'])
      expect(res.headers['x-request-id']).toBe('req-42.a_b:c')
    })

    it.each([
      ['contains a space', 'two words'],
      ['is 300 characters long', 'a'.repeat(300)],
      ['contains a quote', 'a"b'],
      ['is empty', ''],
    ])('replaces one that %s', async (_, value) => {
      const res = await send(`${gateway.url}/api/x`, { headers: { 'x-request-id': value } })
      const forwarded = received(res.json<Echo>(), 'x-request-id')
      expect(forwarded).toHaveLength(1)
      expect(forwarded[0]).toMatch(UUID)
      expect(res.headers['x-request-id']).toBe(forwarded[0])
    })

    it('generates one when there is none', async () => {
      const res = await send(`${gateway.url}/api/x`)
      const forwarded = received(res.json<Echo>(), 'x-request-id')
      expect(forwarded).toHaveLength(1)
      expect(forwarded[0]).toMatch(UUID)
      expect(res.headers['x-request-id']).toBe(forwarded[0])
    })
  })

  describe('when the request asks for a protocol upgrade', () => {
    it('refuses Upgrade: websocket on a route without websocket', async () => {
      const res = await send(`${gateway.url}/api/x`, {
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        },
      })
      expect(res.status).toBe(400)
      expect(res.json<ErrorBody>().error).toBe('upgrade_not_allowed')
      expect(upstream.requests).toEqual([])
    })

    it.each(['/api/x', '/ws/x'])('always refuses Upgrade: h2c (%s)', async (path) => {
      const res = await send(`${gateway.url}${path}`, {
        headers: {
          connection: 'Upgrade, HTTP2-Settings',
          upgrade: 'h2c',
          'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA',
        },
      })
      expect(res.status).toBe(400)
      expect(res.json<ErrorBody>().error).toBe('upgrade_not_allowed')
      expect(upstream.requests).toEqual([])
    })
  })

  describe('when the upstream response carries hop-by-hop headers', () => {
    it('does not pass them to the client', async () => {
      upstream.handle((req, res) => {
        req.resume()
        res.setHeader('connection', 'x-up')
        res.setHeader('x-up', 'upstream-secret')
        res.setHeader('keep-alive', 'timeout=99')
        res.setHeader('proxy-authenticate', 'Basic realm="upstream"')
        res.setHeader('x-end-to-end', 'kept')
        res.setHeader('content-length', '2')
        res.end('ok')
      })
      const result = await getRaw()
      const response = result.responses[0]!
      expect(response.status).toBe(200)
      expect(response.body.toString()).toBe('ok')
      expect(responseHeaders(response, 'x-up')).toEqual([])
      expect(responseHeaders(response, 'proxy-authenticate')).toEqual([])
      expect(responseHeaders(response, 'keep-alive').filter((v) => v.includes('99'))).toEqual([])
      expect(responseHeaders(response, 'connection').filter((v) => /x-up/i.test(v))).toEqual([])
      expect(responseHeaders(response, 'x-end-to-end')).toEqual(['kept'])
    })
  })

  describe('when the upstream response carries many fields, some repeated', () => {
    it('passes each one to the client on a line of its own, in order, values intact', async () => {
      upstream.handle((req, res) => {
        req.resume()
        res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; HttpOnly'])
        res.setHeader('x-first', 'one')
        res.setHeader('x-empty', '')
        res.setHeader('x-spaces', 'a  b, c')
        res.setHeader('content-length', '2')
        res.end('ok')
      })
      const result = await getRaw()
      const response = result.responses[0]!
      expect(response.status, result.text).toBe(200)
      expect(response.body.toString()).toBe('ok')
      expect(responseHeaders(response, 'set-cookie')).toEqual(['a=1; Path=/', 'b=2; HttpOnly'])
      expect(responseHeaders(response, 'x-first')).toEqual(['one'])
      expect(responseHeaders(response, 'x-empty')).toEqual([''])
      expect(responseHeaders(response, 'x-spaces')).toEqual(['a  b, c'])
      expect(responseHeaders(response, 'x-request-id')).toHaveLength(1)
      // Every line of the head is a field of its own: no line folded into another.
      const head = result.text.slice(0, result.text.indexOf('\r\n\r\n'))
      for (const line of head.split('\r\n').slice(1))
        expect(line).toMatch(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+: /)
    })
  })
})

describe.each(FRONTS)('X-Forwarded-For on a dual-stack listener of the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream

  beforeAll(async () => {
    upstream = await startUpstream('echo')
    gateway = await startGateway({
      front,
      config: {
        listeners: { http: { host: '::', port: await freePort() } },
        upstreams: { echo: { targets: [upstream.url] } },
        routes: [{ name: 'api', match: { paths: ['/api/*'] }, upstream: 'echo', auth: 'none' }],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  function forwardedFor(host: string): Promise<string[]> {
    return new Promise((resolve, reject) => {
      request({ host, port: gateway.port, path: '/api/x', agent: false }, (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          const echo = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Echo
          resolve(received(echo, 'x-forwarded-for'))
        })
      })
        .on('error', reject)
        .end()
    })
  }

  it('names an IPv6 client in RFC 5952 text', async () => {
    expect(await forwardedFor('::1')).toEqual(['::1'])
  })

  it('names an IPv4 client as IPv4, not as an IPv4-mapped IPv6 address', async () => {
    expect(await forwardedFor('127.0.0.1')).toEqual(['127.0.0.1'])
  })
})
