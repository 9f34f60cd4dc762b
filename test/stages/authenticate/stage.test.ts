/**
 * The authenticate, authorize and forward stages on an in-memory exchange: verdicts are
 * synchronous wherever no thread or network is involved, and identity flows from one stage to the
 * next through the exchange.
 */
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { IssuerRegistry } from '../../../src/jwt/issuer.js'
import { RevocationList } from '../../../src/jwt/revocation.js'
import type { IssuerConfig } from '../../../src/jwt/schema.js'
import { createLogger } from '../../../src/observability/logger.js'
import type { RouteConfig } from '../../../src/router/schema.js'
import {
  compileAuthenticate,
  type AuthenticateStage,
} from '../../../src/stages/authenticate/index.js'
import { JwtContext } from '../../../src/stages/authenticate/jwt-context.js'
import { compileAuthorize } from '../../../src/stages/authorize/index.js'
import { compileForward, type ForwardStage } from '../../../src/stages/forward/index.js'
import { FakeExchange } from '../../helpers/exchange.js'

const ISS = 'https://stage.test'
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })

function token(claims: Record<string, unknown>): string {
  const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const input = `${b64({ alg: 'RS256' })}.${b64({ iss: ISS, aud: 'api', exp: Date.now() / 1000 + 600, ...claims })}`
  return `${input}.${cryptoSign('sha256', Buffer.from(input), privateKey).toString('base64url')}`
}

function exchange(authorization?: string, method = 'GET'): FakeExchange {
  const ex = new FakeExchange()
  ex.method = method
  ex.headers = authorization === undefined ? [] : ['authorization', authorization]
  return ex
}

let authenticate: AuthenticateStage
let forward: ForwardStage
let route: RouteConfig

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-stage-'))
  const keys = join(dir, 'key.pem')
  writeFileSync(keys, publicKey.export({ format: 'pem', type: 'spki' }))
  const logger = createLogger('silent', {})
  const issuerConfig = {
    name: 'idp',
    issuer: ISS,
    keys,
    audiences: ['api'],
    algorithms: ['RS256'],
    clock_skew: '60s',
    required_claims: ['exp'],
    scope_claim: 'scope',
    max_token_size: '8KiB',
    cache_size: 100,
    jwks: {
      timeout: '5s',
      refresh: '5m',
      min_refresh: '30s',
      max_refresh: '1h',
      cooldown: '10s',
      stale_for: '24h',
    },
  } as IssuerConfig
  const problems: { path: string; reason: string }[] = []
  const issuers = new IssuerRegistry(logger).compile([issuerConfig], problems)
  expect(problems).toEqual([])
  const context = new JwtContext(null, new RevocationList())
  context.resize(100)
  route = {
    name: 'api',
    match: { paths: ['/*'] },
    upstream: 'u',
    auth: 'jwt',
    jwt: { issuers: ['idp'], header: true, realm: 'portcullis' },
    scopes: { GET: ['read'] },
    forward: { claims: { sub: 'X-User-Id' }, strip_credentials: true },
    strip_path: false,
    websocket: false,
  }
  authenticate = compileAuthenticate(
    route,
    'routes[0]',
    { issuers, jwt: context, logger, audit: false },
    problems,
  )!
  forward = compileForward(
    route,
    'routes[0]',
    authenticate.sources,
    authenticate.challenges,
    problems,
  )!
  expect(problems).toEqual([])
})

describe('authenticate stage', () => {
  it('refuses a request without a token synchronously, with the bare challenge', () => {
    const verdict = authenticate.onRequest(exchange())
    expect(verdict).not.toBeInstanceOf(Promise)
    expect(verdict).toMatchObject({ status: 401, code: 'unauthorized' })
  })

  it('admits a valid token synchronously when verifying inline, and fills the identity', () => {
    const ex = exchange(`Bearer ${token({ sub: 'alice', scope: 'read' })}`)
    expect(authenticate.onRequest(ex)).toBeUndefined()
    expect(ex.identity).toMatchObject({ method: 'jwt', issuer: 'idp', subject: 'alice' })
    expect([...ex.identity!.scopes]).toEqual(['read'])
  })

  it('hands every request presenting a cached token the same identity object', () => {
    const t = token({ sub: 'bob' })
    const first = exchange(`Bearer ${t}`)
    const second = exchange(`Bearer ${t}`)
    authenticate.onRequest(first)
    authenticate.onRequest(second)
    expect(second.identity).toBe(first.identity)
  })

  it('answers an invalid token with invalid_token and the rule in error_description', () => {
    const verdict = authenticate.onRequest(exchange(`Bearer ${token({ exp: 1 })}`))
    expect(verdict).toMatchObject({ status: 401, code: 'invalid_token' })
    expect((verdict as { headers: readonly string[] }).headers[1]).toContain(
      'error_description="The token has expired."',
    )
  })
})

describe('authorize and forward stages', () => {
  it('let a scoped identity through and build its headers once', () => {
    const problems: { path: string; reason: string }[] = []
    const authorize = compileAuthorize(route, 'routes[0]', authenticate.challenges, null, problems)!
    const t = token({ sub: 'carol', scope: 'read' })
    const ex = exchange(`Bearer ${t}`)
    authenticate.onRequest(ex)
    expect(authorize.onRequest(ex)).toBeUndefined()
    expect(forward.onRequest(ex)).toBeUndefined()
    expect(ex.forwardHeaders).toEqual(['x-user-id', 'carol'])
    expect(ex.headers).toEqual([]) // the Authorization header is gone
    const again = exchange(`Bearer ${t}`)
    authenticate.onRequest(again)
    forward.onRequest(again)
    expect(again.forwardHeaders).toBe(ex.forwardHeaders)
  })

  it('refuse a POST (not in the scopes map) with 403 forbidden', () => {
    const problems: { path: string; reason: string }[] = []
    const authorize = compileAuthorize(route, 'routes[0]', authenticate.challenges, null, problems)!
    const ex = exchange(`Bearer ${token({ sub: 'dan', scope: 'read' })}`, 'POST')
    authenticate.onRequest(ex)
    expect(authorize.onRequest(ex)).toMatchObject({ status: 403, code: 'forbidden' })
  })
})
