/**
 * OpenAPI documents (3.0 and 3.1, with $refs across files) imported into routes of a real gateway
 * process: the routes enforce the documents' scopes and schemas, and `portcullis check` prints
 * them with what it cannot enforce.
 */
import { cpSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { hmacToken, nowSeconds } from '../helpers/jwt.js'
import { closeAllUpstreams, startUpstream } from '../helpers/upstream.js'

const SECRET = 'an-hmac-secret-of-at-least-32-bytes!'
const ISSUER = 'https://issuer.openapi.test'
const AUD = 'https://api.test'

function token(scope: string): string {
  const iat = nowSeconds()
  return hmacToken(
    { alg: 'HS256', typ: 'JWT' },
    { iss: ISSUER, aud: AUD, sub: 'user-1', iat, exp: iat + 300, scope },
    SECRET,
  )
}

describe('routes imported from OpenAPI documents', () => {
  // A copy, named by absolute path: the config lives in the helper's own temp folder.
  const dir = mkdtempSync(join(tmpdir(), 'pcl-openapi-'))
  cpSync('test/fixtures/openapi', dir, { recursive: true })
  let gateway: Gateway
  let upstreamUrl = ''

  const config = (upstreamUrl: string) => `
listeners:
  http: { host: 127.0.0.1, port: __HTTP_PORT__ }
  status: { host: 127.0.0.1, port: __STATUS_PORT__ }
upstreams:
  users: { targets: ['${upstreamUrl}'] }
issuers:
  - name: hs
    issuer: ${ISSUER}
    secret: '${SECRET}'
    audiences: ['${AUD}']
    algorithms: [HS256]
openapi:
  - file: ${join(dir, 'users-3.0.yaml')}
    upstream: users
    base_path: /v1
    name_prefix: v1.
    jwt: { issuers: [hs] }
  - file: ${join(dir, 'users-3.1.yaml')}
    upstream: users
    base_path: /v2
    name_prefix: v2.
    auth: jwt
    jwt: { issuers: [hs] }
routes: []
`

  beforeAll(async () => {
    const upstream = await startUpstream('users')
    upstreamUrl = upstream.url
    const text = config(upstream.url)
    // Checking an OpenAPI document compiles its meta-schemas: a slow load on a busy machine.
    gateway = await startGateway({ config: text, startTimeoutMs: 90_000 })
  }, 120_000)

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  const call = (method: string, path: string, scope: string | null, body?: unknown, headers = {}) =>
    send(`${gateway.url}${path}`, {
      method,
      headers: {
        ...(scope === null ? {} : { authorization: `Bearer ${token(scope)}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })

  describe('from OpenAPI 3.0', () => {
    it('enforces the scopes of each operation', async () => {
      expect((await call('GET', '/v1/users/5', 'users.read')).status).toBe(200)
      expect((await call('GET', '/v1/users/5', null)).status).toBe(401)
      expect((await call('GET', '/v1/users/5', 'users.write')).status).toBe(403)
      expect((await call('PUT', '/v1/users/5', 'users.read', { name: 'Ada' })).status).toBe(403)
    })

    it('validates path and query parameters from a shared file', async () => {
      const path = await call('GET', '/v1/users/0', 'users.read')
      expect(path.status).toBe(400)
      expect(path.json<{ errors: { pointer: string }[] }>().errors[0]!.pointer).toBe(
        '/path_params/id',
      )
      expect((await call('GET', '/v1/users/5?fields=password', 'users.read')).status).toBe(400)
      expect((await call('GET', '/v1/users/5?fields=name', 'users.read')).status).toBe(200)
    })

    it('validates the JSON body with nullable and exclusive bounds of 3.0', async () => {
      expect(
        (await call('PUT', '/v1/users/5', 'users.write', { name: 'Ada', nickname: null })).status,
      ).toBe(200)
      expect(
        (await call('PUT', '/v1/users/5', 'users.write', { name: 'Ada', age: 0 })).status,
      ).toBe(400)
      expect(
        (await call('PUT', '/v1/users/5', 'users.write', { name: 'Ada', extra: 1 })).status,
      ).toBe(400)
    })

    it('makes an operation with empty security public', async () => {
      expect((await call('GET', '/v1/health', null)).status).toBe(200)
    })

    it('makes no route for an operation whose security it cannot enforce', async () => {
      expect((await call('GET', '/v1/legacy', null)).status).toBe(404)
    })
  })

  describe('from OpenAPI 3.1', () => {
    const headers = { 'x-tenant': 'acme' }
    it('enforces scopes, headers and a body schema from another file', async () => {
      const ok = { name: 'Ada', friends: [{ id: 1 }] }
      expect((await call('PUT', '/v2/users/5', 'users.write', ok, headers)).status).toBe(200)
      expect((await call('PUT', '/v2/users/5', 'users.read', ok, headers)).status).toBe(403)
      expect((await call('PUT', '/v2/users/5', 'users.write', ok)).status).toBe(400)
      const bad = await call(
        'PUT',
        '/v2/users/5',
        'users.write',
        { name: 'Ada', friends: [{}] },
        headers,
      )
      expect(bad.json<{ errors: { pointer: string }[] }>().errors[0]!.pointer).toBe(
        '/body/friends/0/id',
      )
    })
  })

  it('reloads on SIGHUP, reading the documents again', { timeout: 120_000 }, async () => {
    const line = await gateway.reload(
      config(upstreamUrl).replace('base_path: /v2', 'base_path: /v3'),
    )
    expect(line.msg).toBe('config reloaded')
    await expect
      .poll(async () => (await call('PUT', '/v2/users/5', 'users.write', {})).status, {
        timeout: 10_000,
      })
      .toBe(404)
    const moved = await call(
      'PUT',
      '/v3/users/5',
      'users.write',
      { name: 'Ada' },
      { 'x-tenant': 'acme' },
    )
    expect(moved.status).toBe(200)
  })

  it(
    'portcullis check prints the routes made and what it cannot enforce',
    { timeout: 120_000 },
    async () => {
      const { code, stdout } = await runCli(['check', '--config', gateway.configFile], 90_000)
      expect(code).toBe(0)
      expect(stdout).toMatch(/\/v1\/users\/\{id\}\s+template\s+GET,HEAD\s+v1\.getUser/)
      expect(stdout).toMatch(/\/v[23]\/users\/\{id\}\s+template\s+PUT\s+v2\.putUser/)
      expect(stdout).toContain(
        'openapi[0] GET /users/{id}: cookie parameter "session" is not validated',
      )
      expect(stdout).toContain(
        'openapi[0] GET /legacy: no security requirement the gateway can enforce',
      )
      expect(stdout).toContain(
        'openapi[0] POST /avatars: request body of image/png is not validated',
      )
    },
  )
})
