/**
 * JWT authentication through a real gateway process: real keys, tokens signed by jose, a JWKS
 * endpoint under the test's control, and an upstream that shows what it received.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ASYMMETRIC_ALGORITHMS } from '../../src/jwt/types.js'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { NATIVE_CHOICES, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send, type ErrorBody, type HttpResult } from '../helpers/http.js'
import { rawRequest } from '../helpers/raw.js'
import {
  compact,
  createSigner,
  hmacToken,
  nowSeconds,
  sign,
  signRawRs256,
  startJwksServer,
  type JwksServer,
  type Signer,
  type TestAlgorithm,
} from '../helpers/jwt.js'
import {
  closeAllUpstreams,
  startUpstream,
  type Echo,
  type TestUpstream,
} from '../helpers/upstream.js'

const ALGORITHMS: readonly TestAlgorithm[] = ASYMMETRIC_ALGORITHMS
const AUD = 'https://api.test'
const HS_SECRET = 'an-hmac-secret-of-at-least-32-bytes!'
const issOf = (alg: string) => `https://${alg.toLowerCase()}.issuer.test`

function get(gateway: Gateway, path: string, token?: string, headers: Record<string, string> = {}) {
  return send(`${gateway.url}${path}`, {
    headers: token === undefined ? headers : { authorization: `Bearer ${token}`, ...headers },
  })
}

function challenge(result: HttpResult): string {
  return String(result.headers['www-authenticate'] ?? '')
}

describe('jwt authentication', () => {
  let gateway: Gateway
  let nodeGateway: Gateway
  let upstream: TestUpstream
  let jwks: JwksServer
  const signers = new Map<string, Signer>()
  let rs: Signer
  let rotated: Signer

  const claims = (alg = 'RS256', extra: Record<string, unknown> = {}) => ({
    iss: issOf(alg),
    aud: AUD,
    sub: 'user-1',
    iat: nowSeconds(),
    exp: nowSeconds() + 600,
    ...extra,
  })

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-jwt-'))
    for (const alg of ALGORITHMS) signers.set(alg, createSigner(alg))
    rs = signers.get('RS256')!
    rotated = createSigner('ES256', 'rotated-key')
    jwks = await startJwksServer([createSigner('ES256', 'first-key').publicJwk!])
    upstream = await startUpstream('echo')
    const issuers: Record<string, unknown>[] = ALGORITHMS.map((alg) => {
      const file = join(dir, `${alg}.pem`)
      writeFileSync(file, signers.get(alg)!.publicPem)
      return {
        name: alg.toLowerCase(),
        issuer: issOf(alg),
        keys: file,
        audiences: [AUD],
        algorithms: [alg],
      }
    })
    issuers.push(
      {
        name: 'hs',
        issuer: issOf('HS256'),
        secret: HS_SECRET,
        audiences: [AUD],
        algorithms: ['HS256'],
      },
      {
        name: 'jwks',
        issuer: 'https://jwks.issuer.test',
        jwks_uri: jwks.url,
        audiences: [AUD],
        algorithms: ['ES256'],
        jwks: { cooldown: '100ms' },
      },
      {
        name: 'aged',
        issuer: 'https://aged.issuer.test',
        keys: join(dir, 'RS256.pem'),
        audiences: [AUD],
        algorithms: ['RS256'],
        max_token_age: '10m',
        typ: 'at+jwt',
        scope_claim: 'scp',
      },
    )
    const jwtRoute = (name: string, path: string, extra: Record<string, unknown> = {}) => ({
      name,
      match: { paths: [path] },
      upstream: 'echo',
      auth: 'jwt',
      jwt: { issuers: ['rs256'] },
      ...extra,
    })
    const config = {
      upstreams: { echo: { targets: [upstream.url] } },
      issuers,
      revocation: { jtis: ['revoked-jti'] },
      routes: [
        jwtRoute('api', '/api/*', {
          forward: {
            claims: {
              sub: 'X-User-Id',
              tid: 'X-Tenant-Id',
              scope: 'X-Scopes',
              'org.id': 'X-Org',
            },
          },
        }),
        jwtRoute('all', '/all/*', {
          jwt: { issuers: [...ALGORITHMS.map((a) => a.toLowerCase()), 'hs', 'aged'] },
        }),
        jwtRoute('scoped', '/scoped/*', { scopes: ['read:data', 'write:data'] }),
        jwtRoute('methods', '/methods/*', { scopes: { GET: ['read'], POST: ['write'] } }),
        jwtRoute('keep', '/keep/*', { forward: { strip_credentials: false } }),
        jwtRoute('sources', '/sources/*', {
          jwt: { issuers: ['rs256'], cookie: 'session', query: 'access_token' },
        }),
        jwtRoute('jwks', '/jwks/*', { jwt: { issuers: ['jwks'] } }),
        jwtRoute('aged', '/aged/*', { jwt: { issuers: ['aged'] }, scopes: ['read'] }),
        {
          name: 'public',
          match: { paths: ['/public/*'] },
          upstream: 'echo',
          auth: 'none',
        },
      ],
    }
    gateway = await startGateway({ config })
    nodeGateway = await startGateway({ config, front: 'node' })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
    await jwks?.close()
  })

  beforeEach(() => upstream.reset())

  describe('accepts a valid token', () => {
    it.each(ALGORITHMS)('signed with %s by its issuer', async (alg) => {
      const token = await sign(signers.get(alg)!, claims(alg))
      const result = await get(gateway, '/all/x', token)
      expect(result.status).toBe(200)
    })

    it('signed with HS256 by an issuer with a configured secret', async () => {
      const token = hmacToken({ alg: 'HS256', typ: 'JWT' }, claims('HS256'), HS_SECRET)
      expect((await get(gateway, '/all/x', token)).status).toBe(200)
    })

    it('with the scheme in any letter case and extra spaces (RFC 6750, RFC 9110 §11.1)', async () => {
      const token = await sign(rs, claims())
      const result = await send(`${gateway.url}/api/x`, {
        headers: { authorization: `bEaReR   ${token}` },
      })
      expect(result.status).toBe(200)
    })

    it('again from the cache, with the same identity forwarded', async () => {
      const token = await sign(rs, claims('RS256', { sub: 'cached-user' }))
      for (let i = 0; i < 3; i++) {
        const result = await get(gateway, '/api/x', token)
        expect(result.status).toBe(200)
        expect(result.json<Echo>().headers['x-user-id']).toBe('cached-user')
      }
    })
  })

  describe('refuses with 401 invalid_token', () => {
    const refused = async (token: string, path = '/api/x') => {
      const result = await get(gateway, path, token)
      expect(result.status).toBe(401)
      expect(result.json<ErrorBody>().error).toBe('invalid_token')
      expect(challenge(result)).toMatch(
        /^Bearer realm="portcullis", error="invalid_token", error_description="[^"]+"$/,
      )
      expect(upstream.requests).toHaveLength(0)
      return result
    }

    it('an expired token, beyond the clock skew', async () => {
      const result = await refused(await sign(rs, claims('RS256', { exp: nowSeconds() - 120 })))
      expect(challenge(result)).toContain('expired')
    })

    it('but accepts a token expired within the skew', async () => {
      const token = await sign(rs, claims('RS256', { exp: nowSeconds() - 10 }))
      expect((await get(gateway, '/api/x', token)).status).toBe(200)
    })

    it('a token not valid yet (nbf beyond the skew)', async () => {
      await refused(await sign(rs, claims('RS256', { nbf: nowSeconds() + 300 })))
    })

    it('a token issued in the future', async () => {
      await refused(await sign(rs, claims('RS256', { iat: nowSeconds() + 300 })))
    })

    it('a token without exp (required by default)', async () => {
      const { exp: _exp, ...rest } = claims()
      await refused(await sign(rs, rest))
    })

    it('a token for another audience', async () => {
      await refused(await sign(rs, claims('RS256', { aud: 'https://other.test' })))
    })

    it('a token whose aud array names the audience among others is accepted', async () => {
      const token = await sign(rs, claims('RS256', { aud: ['https://other.test', AUD] }))
      expect((await get(gateway, '/api/x', token)).status).toBe(200)
    })

    it('a token of an issuer the route does not trust, even with a valid signature', async () => {
      await refused(await sign(signers.get('ES256')!, claims('ES256')))
    })

    it('a token claiming a trusted iss but signed by another key', async () => {
      const intruder = createSigner('RS256', rs.kid)
      await refused(await sign(intruder, claims()))
    })

    it('an unsigned token (alg none)', async () => {
      await refused(compact({ alg: 'none', typ: 'JWT' }, claims()))
      await refused(compact({ alg: 'NONE' }, claims()) + 'AAAA')
    })

    it('an HS256 token signed with the issuer’s public key as secret (algorithm confusion)', async () => {
      await refused(hmacToken({ alg: 'HS256', kid: rs.kid }, claims(), rs.publicPem))
    })

    it('a token whose algorithm is not the issuer’s, though the key could verify it', async () => {
      // The RS256 issuer's RSA key could check a PS256 signature; the allow-list says no.
      await refused(await sign({ ...rs, alg: 'PS256' }, claims()))
    })

    it('a tampered payload or signature', async () => {
      const token = await sign(rs, claims())
      const [h, p, s] = token.split('.')
      const payload = Buffer.from(JSON.stringify({ ...claims(), sub: 'admin' })).toString(
        'base64url',
      )
      await refused(`${h}.${payload}.${s}`)
      await refused(`${h}.${p}.${s!.slice(0, -4)}AAAA`)
    })

    it('a token naming its own key (jwk, jku, x5u headers are never used)', async () => {
      const attacker = createSigner('RS256')
      await refused(await sign(attacker, claims(), { header: { jwk: attacker.publicJwk } }))
      await refused(await sign(attacker, claims(), { header: { jku: 'http://127.0.0.1:1/jwks' } }))
    })

    it('a token with a crit header parameter it does not understand (RFC 7515 §4.1.11)', async () => {
      await refused(
        signRawRs256(rs, { alg: 'RS256', kid: rs.kid, crit: ['exp'], exp: 1 }, claims()),
      )
      await refused(
        signRawRs256(rs, { alg: 'RS256', kid: rs.kid, b64: false, crit: ['b64'] }, claims()),
      )
      // The same header without crit is fine: the refusal is the crit rule's.
      expect(
        (await get(gateway, '/api/x', signRawRs256(rs, { alg: 'RS256', kid: rs.kid }, claims())))
          .status,
      ).toBe(200)
    })

    it('a revoked token (jti in revocation.jtis)', async () => {
      const result = await refused(await sign(rs, claims('RS256', { jti: 'revoked-jti' })))
      expect(challenge(result)).toContain('revoked')
    })

    it('malformed tokens of every shape, never with a 500', async () => {
      const token = await sign(rs, claims())
      const [h, p, s] = token.split('.') as [string, string, string]
      const shapes = [
        'abc',
        `${h}.${p}`,
        `${h}.${p}.${s}.${s}`,
        `..`,
        `${h}..${s}`,
        `${h}.${p}.`,
        `${h}=.${p}.${s}`,
        `${h}.${p}.${s}==`,
        `${h}.${p}.${s.replace(/[A-Za-z]/, '+')}`,
        `${Buffer.from('[1,2]').toString('base64url')}.${p}.${s}`,
        `${Buffer.from('not json').toString('base64url')}.${p}.${s}`,
        `${h}.${Buffer.from('"a string"').toString('base64url')}.${s}`,
        `${h}.${Buffer.from('{"exp":"soon"}').toString('base64url')}.${s}`,
        `${h}.${p}.${'A'.repeat(9000)}`,
      ]
      for (const shape of shapes) {
        const result = await get(gateway, '/api/x', shape)
        expect(result.status, shape.slice(0, 40)).toBe(401)
      }
      // Not one token at all: the request's fault, not the token's (RFC 6750 §3.1).
      for (const shape of ['a b c', '']) {
        const result = await get(gateway, '/api/x', shape)
        expect(result.status, shape).toBe(400)
        expect(result.json<ErrorBody>().error).toBe('invalid_request')
      }
    })

    it('typ other than the issuer requires (RFC 9068 at+jwt)', async () => {
      const base = { ...claims(), iss: 'https://aged.issuer.test', scp: ['read'] }
      await refused(await sign(rs, base, { header: { typ: 'JWT' } }), '/aged/x')
      const ok = await sign(rs, base, { header: { typ: 'application/AT+JWT' } })
      expect((await get(gateway, '/aged/x', ok)).status).toBe(200)
    })

    it('a token older than max_token_age', async () => {
      const old = {
        ...claims(),
        iss: 'https://aged.issuer.test',
        scp: ['read'],
        iat: nowSeconds() - 3600,
      }
      await refused(await sign(rs, old, { header: { typ: 'at+jwt' } }), '/aged/x')
    })
  })

  describe('asks for a token', () => {
    it('with a bare challenge and no error code when there is none (RFC 6750 §3.1)', async () => {
      const result = await get(gateway, '/api/x')
      expect(result.status).toBe(401)
      expect(challenge(result)).toBe('Bearer realm="portcullis"')
      expect(result.json<ErrorBody>().error).toBe('unauthorized')
    })

    it('when the Authorization header carries another scheme', async () => {
      const result = await get(gateway, '/api/x', undefined, {
        authorization: 'Basic dXNlcjpwYXNz',
      })
      expect(result.status).toBe(401)
      expect(challenge(result)).toBe('Bearer realm="portcullis"')
    })

    it('with 400 invalid_request for two tokens', async () => {
      const token = await sign(rs, claims())
      const result = await send(`${gateway.url}/api/x`, {
        // A flat header list makes node:http send no Host of its own.
        headers: [
          'Host',
          'gateway.test',
          'Authorization',
          `Bearer ${token}`,
          'Authorization',
          `Bearer ${token}`,
        ],
      })
      expect(result.status).toBe(400)
      expect(challenge(result)).toContain('error="invalid_request"')
    })

    it('with 400 invalid_request for a token in the header and in a cookie', async () => {
      const token = await sign(rs, claims())
      const result = await get(gateway, '/sources/x', token, { cookie: `session=${token}` })
      expect(result.status).toBe(400)
    })
  })

  describe('reads the token from a cookie or the query only where configured', () => {
    it('takes the configured cookie and strips it before forwarding', async () => {
      const token = await sign(rs, claims())
      const result = await send(`${gateway.url}/sources/x`, {
        headers: { cookie: `theme=dark; session=${token}; lang=en` },
      })
      expect(result.status).toBe(200)
      expect(result.json<Echo>().headers.cookie).toBe('theme=dark; lang=en')
    })

    it('takes the configured query parameter and strips it from the upstream URL', async () => {
      const token = await sign(rs, claims())
      const result = await send(`${gateway.url}/sources/x?a=1&access_token=${token}&b=2`)
      expect(result.status).toBe(200)
      expect(result.json<Echo>().url).toBe('/sources/x?a=1&b=2')
    })

    it('ignores a query token on a route that did not enable it', async () => {
      const token = await sign(rs, claims())
      const result = await send(`${gateway.url}/api/x?access_token=${token}`)
      expect(result.status).toBe(401)
    })
  })

  describe('authorizes by scope', () => {
    it('admits a token with every required scope', async () => {
      const token = await sign(rs, claims('RS256', { scope: 'write:data read:data extra' }))
      expect((await get(gateway, '/scoped/x', token)).status).toBe(200)
    })

    it('refuses 403 insufficient_scope naming the scopes when one is missing', async () => {
      const token = await sign(rs, claims('RS256', { scope: 'read:data' }))
      const result = await get(gateway, '/scoped/x', token)
      expect(result.status).toBe(403)
      expect(result.json<ErrorBody>().error).toBe('insufficient_scope')
      expect(challenge(result)).toContain('error="insufficient_scope"')
      expect(challenge(result)).toContain('scope="read:data write:data"')
    })

    it('compares scopes exactly and case-sensitively', async () => {
      const token = await sign(rs, claims('RS256', { scope: 'READ:DATA write:data read:dat' }))
      expect((await get(gateway, '/scoped/x', token)).status).toBe(403)
    })

    it('per method: GET needs read, POST needs write, HEAD follows GET', async () => {
      const reader = await sign(rs, claims('RS256', { scope: 'read' }))
      expect((await get(gateway, '/methods/x', reader)).status).toBe(200)
      const head = await send(`${gateway.url}/methods/x`, {
        method: 'HEAD',
        headers: { authorization: `Bearer ${reader}` },
      })
      expect(head.status).toBe(200)
      const post = await send(`${gateway.url}/methods/x`, {
        method: 'POST',
        headers: { authorization: `Bearer ${reader}` },
        body: '{}',
      })
      expect(post.status).toBe(403)
    })

    it('refuses a method the scopes map does not list', async () => {
      const token = await sign(rs, claims('RS256', { scope: 'read write' }))
      const result = await send(`${gateway.url}/methods/x`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      })
      expect(result.status).toBe(403)
      expect(result.json<ErrorBody>().error).toBe('forbidden')
    })

    it('reads scopes from an array claim when the issuer says so (scp)', async () => {
      const base = { ...claims(), iss: 'https://aged.issuer.test', scp: ['other'] }
      const token = await sign(rs, base, { header: { typ: 'at+jwt' } })
      expect((await get(gateway, '/aged/x', token)).status).toBe(403)
    })
  })

  describe('forwards the identity and never the client’s own', () => {
    it('sets the configured claim headers and strips the Authorization header', async () => {
      const token = await sign(
        rs,
        claims('RS256', { sub: 'alice', tid: 'tenant-9', scope: 'a b', org: { id: 42 } }),
      )
      const echo = (await get(gateway, '/api/x', token)).json<Echo>()
      expect(echo.headers['x-user-id']).toBe('alice')
      expect(echo.headers['x-tenant-id']).toBe('tenant-9')
      expect(echo.headers['x-scopes']).toBe('a b')
      expect(echo.headers['x-org']).toBe('42')
      expect(echo.headers.authorization).toBeUndefined()
    })

    it('joins array claims with spaces', async () => {
      const token = await sign(rs, claims('RS256', { scope: ['read', 'write'] }))
      expect((await get(gateway, '/api/x', token)).json<Echo>().headers['x-scopes']).toBe(
        'read write',
      )
    })

    it('keeps the Authorization header when strip_credentials is false', async () => {
      const token = await sign(rs, claims())
      const echo = (await get(gateway, '/keep/x', token)).json<Echo>()
      expect(echo.headers.authorization).toBe(`Bearer ${token}`)
    })

    it.each(['uws', 'node'] as const)(
      'removes spoofed identity headers in every spelling, on public routes too (%s front)',
      async (front) => {
        const target = front === 'uws' ? gateway : nodeGateway
        const IDENTITY = new Set(['x-user-id', 'x-tenant-id', 'x-scopes', 'x-org'])
        /** Header names the upstream received, lower-cased, for the requests it saw so far. */
        const seenNames = () =>
          upstream.requests.flatMap((r) =>
            r.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()),
          )
        // uWS 20.30 never dispatches a request with "_" in a header name (docs/architecture.md),
        // so the underscore spellings are sent to the node front only.
        const spoof = [
          'Host',
          'gateway.test',
          'X-User-Id',
          'root',
          'x-USER-id',
          'root',
          'X-Org',
          'o',
          'x-scopes',
          'admin',
        ]
        if (front === 'node') spoof.push('x_user_id', 'root', 'X_TENANT_ID', 't', 'X_Org', 'o')
        for (const path of ['/public/x', '/api/x']) {
          upstream.reset()
          const token = await sign(rs, claims('RS256', { sub: 'bob' }))
          const headers = path === '/api/x' ? [...spoof, 'Authorization', `Bearer ${token}`] : spoof
          const result = await send(`${target.url}${path}`, { headers })
          expect(result.status).toBe(200)
          expect(upstream.requests).toHaveLength(1)
          const names = seenNames()
          // Only the gateway's own identity header, once, and no spelling of the client's.
          expect(names.filter((n) => n.includes('_'))).toEqual([])
          expect(names.filter((n) => IDENTITY.has(n))).toEqual(
            path === '/api/x' ? ['x-user-id'] : [],
          )
          expect(result.json<Echo>().headers['x-user-id']).toBe(
            path === '/api/x' ? 'bob' : undefined,
          )
        }
        if (front === 'uws') {
          // Sent anyway, the underscore spellings reach nobody: uWS holds the request undispatched.
          upstream.reset()
          const raw = await rawRequest(
            target.port,
            'GET /public/x HTTP/1.1\r\nHost: gateway.test\r\nX_User_Id: root\r\n\r\n',
            { waitMs: 300 },
          )
          expect(raw.responses).toEqual([])
          expect(seenNames()).toEqual([])
        }
      },
    )

    it('refuses a claim that cannot be a header value rather than forwarding it raw', async () => {
      for (const sub of ['evil\r\nX-Admin: 1', 'José', 'tab\there']) {
        const token = await sign(rs, claims('RS256', { sub }))
        const result = await get(gateway, '/api/x', token)
        expect(result.status, JSON.stringify(sub)).toBe(401)
      }
      expect(upstream.requests).toHaveLength(0)
    })
  })

  describe('keys from a JWKS endpoint', () => {
    it('accepts a key the provider publishes after startup, on its first token', async () => {
      const token = await sign(rotated, { ...claims(), iss: 'https://jwks.issuer.test' })
      jwks.setKeys([rotated.publicJwk!])
      const result = await get(gateway, '/jwks/x', token)
      expect(result.status).toBe(200)
    })

    it('shares one refresh among concurrent tokens with unknown kids, rate-limited', async () => {
      await new Promise((r) => setTimeout(r, 150)) // past the cooldown of the previous test
      const before = jwks.hits
      const strangers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          sign(createSigner('ES256', `unknown-${i}`), {
            ...claims(),
            iss: 'https://jwks.issuer.test',
          }),
        ),
      )
      const results = await Promise.all(strangers.map((t) => get(gateway, '/jwks/x', t)))
      expect(results.every((r) => r.status === 401)).toBe(true)
      expect(jwks.hits - before).toBeLessThanOrEqual(2)
    })

    it('refuses a token on a route that does not trust its issuer while another route verifies it', async () => {
      await new Promise((r) => setTimeout(r, 150)) // past the cooldown of the previous test
      const late = createSigner('ES256', 'published-late')
      const token = await sign(late, { ...claims(), iss: 'https://jwks.issuer.test' })
      jwks.setKeys([rotated.publicJwk!, late.publicJwk!])
      // A slow provider: /jwks's check of the new kid is still in flight when /api gets the token.
      jwks.setDelay(500)
      try {
        const onJwks = get(gateway, '/jwks/x', token)
        await new Promise((r) => setTimeout(r, 100))
        const onApi = get(gateway, '/api/x', token)
        const refused = await onApi
        expect(refused.status).toBe(401)
        expect(refused.json<ErrorBody>().error).toBe('invalid_token')
        expect(challenge(refused)).toContain('not accepted on this route')
        expect((await onJwks).status).toBe(200)
        expect(upstream.requests.map((r) => r.url)).toEqual(['/jwks/x'])
      } finally {
        jwks.setDelay(0)
      }
    })

    it('keeps serving the last good keys while the endpoint fails', async () => {
      jwks.setMode('error')
      try {
        await new Promise((r) => setTimeout(r, 150))
        // An unknown kid makes the gateway try the broken endpoint.
        const stranger = await sign(createSigner('ES256', 'nope'), {
          ...claims(),
          iss: 'https://jwks.issuer.test',
        })
        expect((await get(gateway, '/jwks/x', stranger)).status).toBe(401)
        const token = await sign(rotated, {
          ...claims(),
          iss: 'https://jwks.issuer.test',
          sub: 'during-outage',
        })
        expect((await get(gateway, '/jwks/x', token)).status).toBe(200)
      } finally {
        jwks.setMode('ok')
      }
    })
  })

  describe('audit log', () => {
    it('records a scope denial with the scopes the route required', async () => {
      const token = await sign(rs, claims('RS256', { sub: 'scopeless', scope: 'read:data' }))
      const from = gateway.logs.length
      expect((await get(gateway, '/scoped/x', token)).status).toBe(403)
      const line = await gateway.waitForLog(
        (l) => l['audit'] === 'authorize' && l['sub'] === 'scopeless',
        5000,
        from,
      )
      expect(line).toMatchObject({
        route: 'scoped',
        outcome: 'deny',
        reason: 'insufficient_scope',
        required: ['read:data', 'write:data'],
      })
    })

    it('writes one line per decision, without the token', async () => {
      const token = await sign(rs, claims('RS256', { sub: 'audited' }))
      const from = gateway.logs.length
      await get(gateway, '/api/x', token)
      const line = await gateway.waitForLog(
        (l) => l['audit'] === 'authenticate' && l['sub'] === 'audited',
        5000,
        from,
      )
      expect(line).toMatchObject({ route: 'api', issuer: 'rs256', outcome: 'allow', kid: rs.kid })
      expect(JSON.stringify(gateway.logs)).not.toContain(token.slice(10, 60))
    })
  })
})

describe.each(NATIVE_CHOICES)(
  'jwt authentication with signatures checked on verify threads, %s verifier',
  (verifier) => {
    let gateway: Gateway
    const signers = new Map<string, Signer>()
    const ISS = 'https://threads.issuer.test'

    beforeAll(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pcl-jwt-threads-'))
      const upstream = await startUpstream('echo')
      const issuers = (['RS256', 'ES256', 'EdDSA'] as const).map((alg) => {
        const signer = createSigner(alg)
        signers.set(alg, signer)
        const file = join(dir, `${alg}.pem`)
        writeFileSync(file, signer.publicPem)
        return {
          name: alg.toLowerCase(),
          issuer: `${ISS}/${alg}`,
          keys: file,
          audiences: [AUD],
          algorithms: [alg],
        }
      })
      gateway = await startGateway({
        verifier,
        config: {
          cluster: { shutdown_grace: '5s', verify_threads: 2 },
          upstreams: { echo: { targets: [upstream.url] } },
          issuers,
          routes: [
            {
              name: 'api',
              match: { paths: ['/*'] },
              upstream: 'echo',
              auth: 'jwt',
              jwt: { issuers: issuers.map((i) => i.name) },
              forward: { claims: { sub: 'X-User-Id' } },
            },
          ],
        },
      })
    })

    afterAll(async () => {
      await stopAllGateways()
      await closeAllUpstreams()
    })

    it('announces its verify threads and its verifier', () => {
      expect(gateway.logs.find((l) => l.msg === 'portcullis started')).toMatchObject({
        verify_threads: 2,
        verifier: expect.stringMatching(
          verifier === 'native' ? /^native \(OpenSSL/ : /^node:crypto/,
        ),
      })
    })

    it.each(['RS256', 'ES256', 'EdDSA'])(
      'accepts %s tokens and refuses tampered ones',
      async (alg) => {
        const signer = signers.get(alg)!
        const token = await sign(signer, {
          iss: `${ISS}/${alg}`,
          aud: AUD,
          sub: `user-${alg}`,
          exp: nowSeconds() + 600,
        })
        const ok = await get(gateway, '/x', token)
        expect(ok.status).toBe(200)
        expect(ok.json<Echo>().headers['x-user-id']).toBe(`user-${alg}`)
        const [h, p, s] = token.split('.') as [string, string, string]
        const forged = `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`
        expect((await get(gateway, '/x', forged)).status).toBe(401)
      },
    )

    it('answers many concurrent requests with fresh and repeated tokens alike', async () => {
      const signer = signers.get('ES256')!
      const tokens = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          sign(signer, {
            iss: `${ISS}/ES256`,
            aud: AUD,
            sub: `u${i % 5}`,
            exp: nowSeconds() + 600 + (i % 10),
          }),
        ),
      )
      const results = await Promise.all(tokens.concat(tokens).map((t) => get(gateway, '/x', t)))
      expect(results.map((r) => r.status)).toEqual(Array(40).fill(200))
    })
  },
)

describe('jwt authentication across a reload', () => {
  it('judges cached tokens again by the new issuer config, and keeps serving meanwhile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-jwt-reload-'))
    const first = createSigner('RS256', 'first')
    const second = createSigner('ES256', 'second')
    const keyFile = join(dir, 'keys.pem')
    writeFileSync(keyFile, first.publicPem)
    const upstream = await startUpstream('echo')
    const config = (audience: string) => ({
      upstreams: { echo: { targets: [upstream.url] } },
      issuers: [
        {
          name: 'idp',
          issuer: 'https://reload.test',
          keys: keyFile,
          audiences: [audience],
          algorithms: ['RS256', 'ES256'],
        },
      ],
      routes: [
        {
          name: 'api',
          match: { paths: ['/*'] },
          upstream: 'echo',
          auth: 'jwt',
          jwt: { issuers: ['idp'] },
        },
      ],
    })
    const gateway = await startGateway({ config: config('a') })
    try {
      const base = { iss: 'https://reload.test', sub: 'u', exp: nowSeconds() + 600 }
      const forA = await sign(first, { ...base, aud: 'a' })
      expect((await get(gateway, '/x', forA)).status).toBe(200) // verified and cached
      expect((await gateway.reload(config('b'))).msg).toBe('config reloaded')
      expect((await get(gateway, '/x', forA)).status).toBe(401)
      expect((await get(gateway, '/x', await sign(first, { ...base, aud: 'b' }))).status).toBe(200)
      // Key rotation by file: the new key verifies after a reload, the old one no longer does.
      writeFileSync(keyFile, second.publicPem)
      expect((await gateway.reload(config('b'))).msg).toBe('config reloaded')
      expect((await get(gateway, '/x', await sign(second, { ...base, aud: 'b' }))).status).toBe(200)
      expect(
        (await get(gateway, '/x', await sign(first, { ...base, aud: 'b', jti: 'n' }))).status,
      ).toBe(401)
    } finally {
      await stopAllGateways()
      await closeAllUpstreams()
    }
  })
})
