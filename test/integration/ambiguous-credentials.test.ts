/**
 * Ambiguous credentials and identity through a real gateway process on both fronts: requests
 * written byte for byte (repeated fields, header names no client library would send), and an
 * upstream that shows exactly which fields reached it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { createSigner, nowSeconds, sign, type Signer } from '../helpers/jwt.js'
import { rawRequest, type RawResponse } from '../helpers/raw.js'
import {
  closeAllUpstreams,
  startUpstream,
  type Echo,
  type TestUpstream,
} from '../helpers/upstream.js'

const ISS = 'https://ambiguous.issuer.test'
const AUD = 'https://api.test'
const BASIC = 'Basic dXNlcjpwYXNz'

/** Every value the upstream received for `name` (lowercase), in order. */
function received(echo: Echo, name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < echo.rawHeaders.length; i += 2) {
    if (echo.rawHeaders[i]!.toLowerCase() === name) out.push(echo.rawHeaders[i + 1]!)
  }
  return out
}

function receivedNames(echo: Echo): string[] {
  return echo.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
}

function challengeOf(response: RawResponse): string {
  return response.headers.find(([n]) => n === 'www-authenticate')?.[1] ?? ''
}

describe.each(FRONTS)('ambiguous credentials and identity on the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream
  let signer: Signer
  let token: string

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-ambiguous-'))
    signer = createSigner('ES256')
    const keys = join(dir, 'key.pem')
    writeFileSync(keys, signer.publicPem)
    upstream = await startUpstream('echo')
    const jwtRoute = (name: string, jwt: Record<string, unknown>, extra = {}) => ({
      name,
      match: { paths: [`/${name}/*`] },
      upstream: 'echo',
      auth: 'jwt',
      jwt: { issuers: ['idp'], ...jwt },
      ...extra,
    })
    gateway = await startGateway({
      front,
      config: {
        upstreams: { echo: { targets: [upstream.url] } },
        issuers: [{ name: 'idp', issuer: ISS, keys, audiences: [AUD], algorithms: ['ES256'] }],
        routes: [
          jwtRoute(
            'api',
            { cookie: 'session', query: 'access_token' },
            {
              scopes: { GET: ['read'], DELETE: ['admin'] },
              forward: { claims: { sub: 'X-User-Id' } },
            },
          ),
          jwtRoute('cookie', { header: false, cookie: 'session' }),
          { name: 'public', match: { paths: ['/public/*'] }, upstream: 'echo', auth: 'none' },
        ],
      },
    })
    token = await sign(signer, {
      iss: ISS,
      aud: AUD,
      sub: 'alice',
      scope: 'read',
      exp: nowSeconds() + 600,
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  beforeEach(() => upstream.reset())

  /** `METHOD path` with these header lines written as given; the first complete response. */
  async function send(
    path: string,
    lines: readonly string[],
    method = 'GET',
  ): Promise<RawResponse> {
    const head = `${method} ${path} HTTP/1.1\r\nHost: gateway.test:8080\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`
    const result = await rawRequest(gateway.port, head, {
      waitMs: 3000,
      until: (r) => r.length > 0 && r[0]!.complete,
    })
    expect(result.responses.length, result.text).toBeGreaterThan(0)
    return result.responses[0]!
  }

  async function echoOf(path: string, lines: readonly string[], method = 'GET'): Promise<Echo> {
    const response = await send(path, lines, method)
    expect(response.status, response.body.toString()).toBe(200)
    return JSON.parse(response.body.toString('utf8')) as Echo
  }

  async function expectRefused(path: string, lines: readonly string[], description: string) {
    const response = await send(path, lines)
    expect(response.status, response.body.toString()).toBe(400)
    expect(JSON.parse(response.body.toString('utf8')).error).toBe('invalid_request')
    expect(challengeOf(response)).toContain('error="invalid_request"')
    expect(challengeOf(response)).toContain(`error_description="${description}"`)
    expect(upstream.requests).toEqual([])
  }

  describe('refuses with 400 invalid_request, and forwards nothing,', () => {
    it('two Authorization fields carrying the same token', async () => {
      const auth = `Authorization: Bearer ${token}`
      await expectRefused('/api/x', [auth, auth], 'more than one credential')
    })

    it('two Authorization fields of different schemes, in either order', async () => {
      const bearer = `Authorization: Bearer ${token}`
      const basic = `Authorization: ${BASIC}`
      await expectRefused('/api/x', [bearer, basic], 'more than one credential')
      await expectRefused('/api/x', [basic, bearer], 'more than one credential')
    })

    it('two Authorization fields on a route that reads only a cookie', async () => {
      const lines = [`Authorization: ${BASIC}`, `Authorization: Bearer ${token}`]
      await expectRefused(
        '/cookie/x',
        [...lines, `Cookie: session=${token}`],
        'more than one credential',
      )
    })

    it('one Authorization field holding two credentials', async () => {
      await expectRefused(
        '/api/x',
        [`Authorization: Bearer ${token}, Bearer ${token}`],
        'more than one credential',
      )
      await expectRefused(
        '/api/x',
        [`Authorization: ${BASIC}, Bearer ${token}`],
        'more than one credential',
      )
    })

    it('a bearer credential that is not one token', async () => {
      const lines = [`Authorization: Bearer ${token} ${token}`]
      await expectRefused('/api/x', lines, 'malformed Authorization header')
    })

    it('a token in the header and one in a cookie or the query', async () => {
      const auth = `Authorization: Bearer ${token}`
      await expectRefused('/api/x', [auth, `Cookie: session=${token}`], 'more than one credential')
      await expectRefused(`/api/x?access_token=${token}`, [auth], 'more than one credential')
    })

    it('a cookie token beside an Authorization field the route does not read', async () => {
      const cookie = `Cookie: session=${token}`
      for (const value of [`Bearer ${token}`, BASIC]) {
        await expectRefused(
          '/cookie/x',
          [`Authorization: ${value}`, cookie],
          'more than one credential',
        )
      }
    })
  })

  it('admits one token, from the header or the cookie, and strips it', async () => {
    const fromHeader = await echoOf('/api/x', [`Authorization: Bearer ${token}`])
    expect(received(fromHeader, 'authorization')).toEqual([])
    expect(received(fromHeader, 'x-user-id')).toEqual(['alice'])
    const fromCookie = await echoOf('/cookie/x', [`Cookie: theme=dark; session=${token}`])
    expect(received(fromCookie, 'cookie')).toEqual(['theme=dark'])
  })

  describe('never forwards an identity header the client sent', () => {
    const spoof = [
      'X-Consumer-Id: root',
      'x-consumer-custom-id: root',
      'X-CONSUMER-USERNAME: root',
      'X-Auth-User: root',
      'x-auth-request-email: root@example.com',
      'X-User-Id: root',
    ]

    it.each(['/public/x', '/api/x'])(
      'by name or X-Consumer-/X-Auth- prefix, any case (%s)',
      async (path) => {
        const lines = path === '/api/x' ? [...spoof, `Authorization: Bearer ${token}`] : spoof
        const echo = await echoOf(path, [...lines, 'X-Kept: yes'])
        const names = receivedNames(echo)
        expect(names.filter((n) => n.startsWith('x-consumer') || n.startsWith('x-auth'))).toEqual(
          [],
        )
        expect(received(echo, 'x-user-id')).toEqual(path === '/api/x' ? ['alice'] : [])
        expect(received(echo, 'x-kept')).toEqual(['yes'])
      },
    )

    if (front === 'node') {
      // uWS 20.30 never dispatches a request with "_" in a header name (docs/architecture.md).
      it('in the _ spellings a CGI-style upstream reads as X-Consumer-Id and X-Auth-User', async () => {
        const echo = await echoOf('/public/x', [
          'X_Consumer_Id: root',
          'x_auth_user: root',
          'X-Consumer_Groups: admin',
          'X_Kept: yes',
        ])
        expect(receivedNames(echo).filter((n) => /consumer|auth/.test(n))).toEqual([])
        expect(received(echo, 'x_kept')).toEqual(['yes'])
      })
    }
  })

  describe("sets the gateway's own forwarding fields in place of the client's", () => {
    it('replaces a client Via with its own', async () => {
      const echo = await echoOf('/public/x', ['Via: 1.0 corp-proxy', 'Via: 1.1 spoofed'])
      expect(received(echo, 'via')).toEqual(['1.1 portcullis'])
    })

    it('sends the Host as received in X-Forwarded-Host and the listener scheme in X-Forwarded-Proto', async () => {
      const echo = await echoOf('/public/x', [
        'X-Forwarded-Host: evil.example',
        'X-Forwarded-Proto: https',
        'X-Forwarded-For: 6.6.6.6',
      ])
      expect(received(echo, 'x-forwarded-host')).toEqual(['gateway.test:8080'])
      expect(received(echo, 'x-forwarded-proto')).toEqual(['http'])
      expect(received(echo, 'x-forwarded-for')).toEqual(['127.0.0.1'])
    })
  })

  describe('removes method-override headers', () => {
    it('so a GET authorized for read cannot become a DELETE upstream', async () => {
      const echo = await echoOf('/api/x', [
        `Authorization: Bearer ${token}`,
        'X-HTTP-Method-Override: DELETE',
        'x-http-method: DELETE',
        'X-Method-Override: DELETE',
      ])
      expect(echo.method).toBe('GET')
      expect(receivedNames(echo).filter((n) => n.includes('method'))).toEqual([])
    })

    it('on public routes too', async () => {
      const echo = await echoOf('/public/x', ['X-HTTP-Method-Override: PUT'])
      expect(received(echo, 'x-http-method-override')).toEqual([])
    })
  })
})

describe.each(FRONTS)('headers.drop on the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream

  beforeAll(async () => {
    upstream = await startUpstream('echo')
    gateway = await startGateway({
      front,
      config: {
        upstreams: { echo: { targets: [upstream.url] } },
        headers: { drop: ['X-Debug-Mode'] },
        routes: [{ name: 'public', match: { paths: ['/*'] }, upstream: 'echo', auth: 'none' }],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  it('removes the configured names instead of the method overrides', async () => {
    const head =
      'GET /x HTTP/1.1\r\nHost: gateway.test\r\nx-debug-mode: 1\r\n' +
      'X-HTTP-Method-Override: PUT\r\n\r\n'
    const result = await rawRequest(gateway.port, head, {
      waitMs: 3000,
      until: (r) => r.length > 0 && r[0]!.complete,
    })
    const echo = JSON.parse(result.responses[0]!.body.toString('utf8')) as Echo
    expect(received(echo, 'x-debug-mode')).toEqual([])
    expect(received(echo, 'x-http-method-override')).toEqual(['PUT'])
  })
})
