/**
 * Opaque bearer tokens through a real gateway process, introspected (RFC 7662) at a real OAuth
 * 2.0 server: oidc-provider on loopback issues opaque access tokens by the client credentials
 * grant, and the gateway asks its introspection endpoint with client_secret_basic. Faults (slow,
 * 500, garbage, refused) come from a proxy between the two.
 */
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send, type ErrorBody, type HttpResult } from '../helpers/http.js'
import { createSigner, nowSeconds, sign, type Signer } from '../helpers/jwt.js'
import { startOAuthServer, type OAuthClient, type OAuthServer } from '../helpers/oauth-server.js'
import {
  closeAllUpstreams,
  startUpstream,
  type Echo,
  type TestUpstream,
} from '../helpers/upstream.js'

const GATEWAY_CLIENT: OAuthClient = {
  client_id: 'gateway',
  client_secret: 'gateway-secret-0123456789',
}
const SERVICE: OAuthClient = {
  client_id: 'billing-service',
  client_secret: 'billing-secret-0123456789',
  scope: 'read write',
}
const STRANGER: OAuthClient = {
  client_id: 'stranger',
  client_secret: 'stranger-secret-01234567',
  scope: 'read',
}
/** The gateway as a client_secret_post client, and as a private_key_jwt one (RFC 7523). */
const POST_CLIENT: OAuthClient = {
  client_id: 'gateway-post',
  client_secret: 'gateway-post-secret-0123456789',
  metadata: { token_endpoint_auth_method: 'client_secret_post' },
}
const ASSERTION_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const JWT_CLIENT: OAuthClient = {
  client_id: 'gateway-jwt',
  metadata: {
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: {
      keys: [
        {
          ...ASSERTION_KEY.publicKey.export({ format: 'jwk' }),
          kid: 'gw-1',
          alg: 'ES256',
          use: 'sig',
        },
      ],
    },
  },
}
const JWT_ISS = 'https://jwt.issuer.test'
const AUD = 'https://api.test'

function get(gateway: Gateway, path: string, token?: string, method = 'GET'): Promise<HttpResult> {
  return send(`${gateway.url}${path}`, {
    method,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  })
}

describe('token introspection', () => {
  let server: OAuthServer
  let proxy: FaultProxy
  let upstream: TestUpstream
  let signer: Signer
  const gateways = new Map<string, Gateway>()

  beforeAll(async () => {
    server = await startOAuthServer(
      [GATEWAY_CLIENT, POST_CLIENT, JWT_CLIENT, SERVICE, STRANGER],
      ['read', 'write'],
    )
    proxy = await startFaultProxy(server.issuer)
    upstream = await startUpstream('echo')
    signer = createSigner('ES256')
    const dir = mkdtempSync(join(tmpdir(), 'pcl-introspect-'))
    const keyFile = join(dir, 'es256.pem')
    writeFileSync(keyFile, signer.publicPem)
    const assertionKeyFile = join(dir, 'assertion.pem')
    writeFileSync(
      assertionKeyFile,
      ASSERTION_KEY.privateKey.export({ format: 'pem', type: 'pkcs8' }),
    )
    const introspector = (name: string, endpoint: string, extra: Record<string, unknown> = {}) => ({
      name,
      endpoint,
      client_id: GATEWAY_CLIENT.client_id,
      client_secret: '${INTROSPECTION_SECRET}',
      issuer: server.issuer,
      consumer_claim: 'client_id',
      cache_ttl: '1s',
      negative_ttl: '1s',
      ...extra,
    })
    const route = (name: string, path: string, introspectors: string[], extra = {}) => ({
      name,
      match: { paths: [path] },
      upstream: 'echo',
      auth: 'introspection',
      introspection: { introspectors, realm: 'api' },
      ...extra,
    })
    const faults = { timeout: '300ms', breaker: { failures: 2, cooldown: '1s' } }
    const config = {
      upstreams: { echo: { targets: [upstream.url] } },
      issuers: [
        { name: 'jwt', issuer: JWT_ISS, keys: keyFile, audiences: [AUD], algorithms: ['ES256'] },
      ],
      introspectors: [
        introspector('as', server.introspectionUrl),
        introspector('as-post', server.introspectionUrl, {
          client_id: POST_CLIENT.client_id,
          client_auth: 'client_secret_post',
          client_secret: POST_CLIENT.client_secret,
        }),
        introspector('as-jwt', server.introspectionUrl, {
          client_id: JWT_CLIENT.client_id,
          client_auth: 'private_key_jwt',
          client_secret: undefined,
          private_key: assertionKeyFile,
          assertion_algorithm: 'ES256',
          key_id: 'gw-1',
        }),
        introspector('strict', `${proxy.url}/token/introspection`, faults),
        introspector('probed', `${proxy.url}/token/introspection`, faults),
        introspector('lenient', `${proxy.url}/token/introspection`, {
          ...faults,
          stale_for: '1m',
        }),
      ],
      consumers: [{ name: 'billing-service', groups: ['billing'] }],
      routes: [
        route('api', '/api/*', ['as'], {
          scopes: { GET: ['read'], POST: ['write'] },
          forward: { claims: { client_id: 'X-Client-Id', scope: 'X-Scopes' } },
        }),
        route('billing', '/billing/*', ['as'], { allow_groups: ['billing'] }),
        route('post', '/post/*', ['as-post']),
        route('signed', '/signed/*', ['as-jwt']),
        {
          name: 'mixed',
          match: { paths: ['/mixed/*'] },
          upstream: 'echo',
          auth: { any: ['jwt', 'introspection'] },
          jwt: { issuers: ['jwt'] },
          introspection: { introspectors: ['as'] },
        },
        route('strict', '/strict/*', ['strict']),
        route('lenient', '/lenient/*', ['lenient']),
        route('probed', '/probed/*', ['probed']),
      ],
    }
    const env = { ...process.env, INTROSPECTION_SECRET: GATEWAY_CLIENT.client_secret }
    gateways.set('uws', await startGateway({ config, env }))
    gateways.set('node', await startGateway({ config, env, front: 'node' }))
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
    await proxy?.close()
    await server?.close()
  })

  beforeEach(() => {
    upstream.reset()
    proxy.inject({ kind: 'none' })
  })

  describe.each(FRONTS)('through the %s front', (front) => {
    let gateway: Gateway
    beforeEach(() => {
      gateway = gateways.get(front)!
    })

    it('admits an active opaque token and forwards its members as claims', async () => {
      const token = await server.issueToken(SERVICE, 'read write')
      expect(token).not.toContain('.')
      const result = await get(gateway, '/api/x', token)
      expect(result.status).toBe(200)
      const echo = result.json<Echo>()
      expect(echo.headers['x-client-id']).toBe('billing-service')
      expect(echo.headers['x-scopes']).toBe('read write')
      // strip_credentials: the upstream never sees the token.
      expect(echo.headers['authorization']).toBeUndefined()
    })

    it.each([
      ['client_secret_post', '/post/x'],
      ['private_key_jwt', '/signed/x'],
    ])('authenticates to the endpoint with %s as well', async (_, path) => {
      const before = server.introspections
      expect((await get(gateway, path, await server.issueToken(SERVICE))).status).toBe(200)
      expect((await get(gateway, path, 'never-issued-opaque-token-0123')).status).toBe(401)
      expect(server.introspections - before).toBe(2)
    })

    it('refuses a token the server never issued with 401 invalid_token', async () => {
      const result = await get(gateway, '/api/x', 'never-issued-opaque-token-0123456789abcdef')
      expect(result.status).toBe(401)
      expect(result.json<ErrorBody>().error).toBe('invalid_token')
      expect(result.headers['www-authenticate']).toContain(
        'Bearer realm="api", error="invalid_token"',
      )
    })

    it('authorizes by the scope member as by a JWT scope claim', async () => {
      const token = await server.issueToken(SERVICE, 'read')
      expect((await get(gateway, '/api/x', token)).status).toBe(200)
      const post = await get(gateway, '/api/x', token, 'POST')
      expect(post.status).toBe(403)
      expect(post.json<ErrorBody>().error).toBe('insufficient_scope')
    })

    it('maps the client_id member to a consumer, whose groups authorize', async () => {
      expect((await get(gateway, '/billing/x', await server.issueToken(SERVICE))).status).toBe(200)
      const stranger = await get(gateway, '/billing/x', await server.issueToken(STRANGER))
      expect(stranger.status).toBe(403)
    })

    it('asks the server once for a repeated token', async () => {
      const token = await server.issueToken(SERVICE, 'read')
      const before = server.introspections
      for (let i = 0; i < 5; i++) expect((await get(gateway, '/api/x', token)).status).toBe(200)
      expect(server.introspections - before).toBe(1)
    })

    it('asks the server once for concurrent requests with one new token', async () => {
      const token = await server.issueToken(SERVICE, 'read')
      const before = server.introspections
      const results = await Promise.all(
        Array.from({ length: 8 }, () => get(gateway, '/api/x', token)),
      )
      expect(results.map((r) => r.status)).toEqual(Array(8).fill(200))
      expect(server.introspections - before).toBe(1)
    })

    it('refuses a token revoked at the server once cache_ttl has passed', async () => {
      const token = await server.issueToken(SERVICE, 'read')
      expect((await get(gateway, '/api/x', token)).status).toBe(200)
      await server.revoke(SERVICE, token)
      // cache_ttl is 1s: past it, the server is asked again and says inactive.
      await new Promise((resolve) => setTimeout(resolve, 1200))
      expect((await get(gateway, '/api/x', token)).status).toBe(401)
    })

    describe('beside jwt on an any: route', () => {
      it('sends a JWT of the route issuer to jwt, without an introspection call', async () => {
        const jwt = await sign(signer, { iss: JWT_ISS, aud: AUD, sub: 'u', exp: nowSeconds() + 60 })
        const before = server.introspections
        expect((await get(gateway, '/mixed/x', jwt)).status).toBe(200)
        expect(server.introspections).toBe(before)
      })

      it('never retries a JWT of the route issuer that jwt refused with introspection', async () => {
        const forged = await sign(createSigner('ES256'), {
          iss: JWT_ISS,
          aud: AUD,
          exp: nowSeconds() + 60,
        })
        const before = server.introspections
        const result = await get(gateway, '/mixed/x', forged)
        expect(result.status).toBe(401)
        expect(result.json<ErrorBody>().message).toBe('The token signature is invalid.')
        expect(server.introspections).toBe(before)
      })

      it('sends an opaque token, and a JWT of another issuer, to introspection', async () => {
        const before = server.introspections
        expect((await get(gateway, '/mixed/x', await server.issueToken(SERVICE))).status).toBe(200)
        const other = await sign(signer, { iss: 'https://other.test', exp: nowSeconds() + 60 })
        const result = await get(gateway, '/mixed/x', other)
        expect(result.status).toBe(401)
        expect(result.json<ErrorBody>().message).toBe('The token is not active.')
        expect(server.introspections - before).toBe(2)
      })
    })
  })

  describe('when the endpoint fails', () => {
    const gateway = () => gateways.get('uws')!

    it.each([
      ['answers slower than the timeout', { kind: 'slow', ms: 2000 }],
      ['answers 500', { kind: 'status', status: 500 }],
      ['answers garbage', { kind: 'garbage' }],
      ['answers JSON that is no introspection answer', { kind: 'not_an_answer' }],
    ] as const)(
      'refuses a token never seen with 503 and Retry-After when it %s',
      async (_, fault) => {
        const token = await server.issueToken(SERVICE)
        proxy.inject(fault)
        const result = await get(gateway(), '/strict/x', token)
        expect(result.status).toBe(503)
        expect(result.json<ErrorBody>().error).toBe('introspection_unavailable')
        expect(result.headers['retry-after']).toBe('1')
        // The breaker (2 failures in a row) must not leak into the next case.
        await new Promise((resolve) => setTimeout(resolve, 1100))
      },
    )

    it('refuses a token never seen with 503 when the connection is refused', async () => {
      const token = await server.issueToken(SERVICE)
      await proxy.refuse()
      try {
        const result = await get(gateway(), '/strict/x', token)
        expect(result.status).toBe(503)
        expect(result.json<ErrorBody>().error).toBe('introspection_unavailable')
      } finally {
        await proxy.listen()
      }
      await new Promise((resolve) => setTimeout(resolve, 1100))
    })

    it('keeps a cached active token working for stale_for, and only there', async () => {
      const token = await server.issueToken(SERVICE)
      expect((await get(gateway(), '/lenient/x', token)).status).toBe(200)
      expect((await get(gateway(), '/strict/x', token)).status).toBe(200)
      proxy.inject({ kind: 'status', status: 500 })
      // Past cache_ttl (1s): both ask again and fail.
      await new Promise((resolve) => setTimeout(resolve, 1200))
      expect((await get(gateway(), '/lenient/x', token)).status).toBe(200)
      expect((await get(gateway(), '/strict/x', token)).status).toBe(503)
      proxy.inject({ kind: 'none' })
      await new Promise((resolve) => setTimeout(resolve, 1100))
    })

    it('stops calling a failing endpoint for the cooldown, then lets one probe through', async () => {
      const tokens = await Promise.all(Array.from({ length: 5 }, () => server.issueToken(SERVICE)))
      proxy.inject({ kind: 'status', status: 500 })
      const before = proxy.requests
      for (const token of tokens.slice(0, 4)) {
        expect((await get(gateway(), '/probed/x', token)).status).toBe(503)
      }
      // Two failures open the breaker: the two tokens after them never reach the endpoint.
      expect(proxy.requests - before).toBe(2)
      proxy.inject({ kind: 'none' })
      await new Promise((resolve) => setTimeout(resolve, 1100))
      expect((await get(gateway(), '/probed/x', tokens[4]!)).status).toBe(200)
      expect(proxy.requests - before).toBe(3)
    })
  })
})
