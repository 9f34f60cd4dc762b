/**
 * The authenticate, authorize and forward stages on an in-memory exchange: verdicts are
 * synchronous wherever no thread or network is involved, and identity flows from one stage to the
 * next through the exchange. The routes of a worker share its token caches, its verifications in
 * flight and its verify pool; each route judges a shared verdict by the issuers it trusts.
 */
import { generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Rejection } from '../../../src/errors.js'
import { IssuerRegistry } from '../../../src/jwt/issuer.js'
import { RevocationList } from '../../../src/jwt/revocation.js'
import type { IssuerConfig } from '../../../src/jwt/schema.js'
import { VerifyPool } from '../../../src/jwt/verify-pool.js'
import { createLogger } from '../../../src/observability/logger.js'
import type { RouteConfig } from '../../../src/gateway/route-schema.js'
import {
  compileAuthenticate,
  type AuthenticateDeps,
  type AuthenticateStage,
} from '../../../src/stages/authenticate/index.js'
import { JwtContext } from '../../../src/stages/authenticate/jwt-context.js'
import { compileAuthorize } from '../../../src/stages/authorize/index.js'
import { compileForward, type ForwardStage } from '../../../src/stages/forward/index.js'
import { keyServices } from '../../helpers/credentials.js'
import { FakeExchange } from '../../helpers/exchange.js'
import {
  createSigner,
  hmacToken,
  nowSeconds,
  sign,
  startJwksServer,
  type JwksServer,
} from '../../helpers/jwt.js'
import { buildWorker } from '../../helpers/verify-worker.js'

const ISS = 'https://stage.test'
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })

function token(claims: Record<string, unknown>, key: KeyObject = privateKey): string {
  const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const input = `${b64({ alg: 'RS256' })}.${b64({ iss: ISS, aud: 'api', exp: Date.now() / 1000 + 600, ...claims })}`
  return `${input}.${cryptoSign('sha256', Buffer.from(input), key).toString('base64url')}`
}

/** An issuer as the schema fills it in; `config` names it and says where its keys are. */
function issuerConfig(config: Partial<IssuerConfig> & Pick<IssuerConfig, 'name'>): IssuerConfig {
  return {
    issuer: ISS,
    audiences: ['api'],
    algorithms: ['RS256'],
    clock_skew: '60s',
    required_claims: ['exp'],
    scope_claim: 'scope',
    max_token_size: '8KiB',
    cache_size: 100,
    ...config,
    jwks: {
      timeout: '5s',
      refresh: '5m',
      min_refresh: '30s',
      max_refresh: '1h',
      cooldown: '10s',
      stale_for: '24h',
      ...config.jwks,
    },
  } as IssuerConfig
}

function jwtRoute(name: string, issuers: string[]): RouteConfig {
  return {
    name,
    match: { paths: [`/${name}/*`] },
    upstream: 'u',
    auth: 'jwt',
    jwt: { issuers, header: true, realm: 'portcullis' },
    forward: { claims: {}, strip_credentials: true },
    strip_path: false,
    websocket: false,
  }
}

/**
 * The authenticate stages of `routes` as one worker compiles them: one issuer registry, one jwt
 * context (caches, verifications in flight, pool) for every route. Keys are loaded.
 */
async function compileRoutes(
  issuers: IssuerConfig[],
  routes: RouteConfig[],
  pool: VerifyPool | null = null,
): Promise<{ stages: AuthenticateStage[]; close: () => void }> {
  const logger = createLogger('silent', {})
  const problems: { path: string; reason: string }[] = []
  const registry = new IssuerRegistry(logger)
  const compiled = registry.compile(issuers, problems)
  expect(problems).toEqual([])
  await registry.startAll()
  const context = new JwtContext(pool, new RevocationList())
  context.resize(100)
  const stages = routes.map((route, i) =>
    compileAuthenticate(
      route,
      { name: route.name, path: `routes[${i}]`, problems },
      {
        issuers: compiled,
        introspectors: new Map(),
        jwt: context,
        logger,
        audit: false,
        ...keyServices(),
      },
    )!,
  )
  expect(problems).toEqual([])
  return { stages, close: () => registry.closeAll() }
}

function describeFailure(verdict: unknown): string | undefined {
  const headers = (verdict as Rejection | undefined)?.headers ?? []
  return headers[1]?.match(/error_description="([^"]*)"/)?.[1]
}

function exchange(authorization?: string, method = 'GET'): FakeExchange {
  const ex = new FakeExchange()
  ex.method = method
  ex.headers = authorization === undefined ? [] : ['authorization', authorization]
  return ex
}

let authenticate: AuthenticateStage
let authDeps: AuthenticateDeps
let forward: ForwardStage
let route: RouteConfig

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-stage-'))
  const keys = join(dir, 'key.pem')
  writeFileSync(keys, publicKey.export({ format: 'pem', type: 'spki' }))
  const logger = createLogger('silent', {})
  const issuer = issuerConfig({ name: 'idp', keys })
  const problems: { path: string; reason: string }[] = []
  const issuers = new IssuerRegistry(logger).compile([issuer], problems)
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
  const site = { name: route.name, path: 'routes[0]', problems }
  authDeps = {
    issuers,
    introspectors: new Map(),
    jwt: context,
    logger,
    audit: false,
    ...keyServices(),
  }
  authenticate = compileAuthenticate(route, site, authDeps)!
  forward = compileForward(route, site, authenticate)!
  expect(problems).toEqual([])
})

describe('authenticate stage', () => {
  it('notes its decision on the exchange when tracing, with no meter, for the auth span', () => {
    const site = { name: route.name, path: 'routes[0]', problems: [] }
    const traced = compileAuthenticate(route, site, { ...authDeps, traced: true })!
    const admitted = exchange(`Bearer ${token({ sub: 'alice', scope: 'read' })}`)
    expect(traced.onRequest(admitted)).toBeUndefined()
    expect(admitted.authStartedAt).toBeGreaterThan(0)
    expect(admitted.authEndedAt).toBeGreaterThanOrEqual(admitted.authStartedAt)
    expect([admitted.authMethod, admitted.authOutcome]).toEqual(['jwt', 'ok'])
    const refused = exchange(`Bearer ${token({ exp: 1 })}`)
    traced.onRequest(refused)
    expect([refused.authMethod, refused.authOutcome]).toEqual(['jwt', 'expired'])
    // Without tracing or a meter the stage does not time itself.
    const untimed = exchange(`Bearer ${token({ sub: 'alice', scope: 'read' })}`)
    authenticate.onRequest(untimed)
    expect(untimed.authStartedAt).toBe(0)
  })

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

  it('refuses two credentials in one Authorization field with 400 invalid_request, valid or not', () => {
    const t = token({ sub: 'eve', scope: 'read' })
    for (const value of [`Bearer ${t}, Bearer ${t}`, `Basic dXNlcg==, Bearer ${t}`]) {
      const verdict = authenticate.onRequest(exchange(value))
      expect(verdict).toMatchObject({ status: 400, code: 'invalid_request' })
      expect(describeFailure(verdict)).toBe('more than one credential')
    }
  })

  it('refuses a bearer credential that is not one token with 400 invalid_request', () => {
    const t = token({ sub: 'eve', scope: 'read' })
    for (const value of [`Bearer ${t} ${t}`, 'Bearer']) {
      const verdict = authenticate.onRequest(exchange(value))
      expect(verdict).toMatchObject({ status: 400, code: 'invalid_request' })
      expect(describeFailure(verdict)).toBe('malformed Authorization header')
    }
  })
})

describe('authorize and forward stages', () => {
  it('let a scoped identity through and build its headers once', () => {
    const problems: { path: string; reason: string }[] = []
    const site = { name: route.name, path: 'routes[0]', problems }
    const authorize = compileAuthorize(route, site, authenticate.challenges, null)!
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
    const site = { name: route.name, path: 'routes[0]', problems }
    const authorize = compileAuthorize(route, site, authenticate.challenges, null)!
    const ex = exchange(`Bearer ${token({ sub: 'dan', scope: 'read' })}`, 'POST')
    authenticate.onRequest(ex)
    expect(authorize.onRequest(ex)).toMatchObject({ status: 403, code: 'forbidden' })
  })
})

describe('authenticate stage on routes that share one worker’s jwt context', () => {
  let dir: string
  let keyFile: string
  let pool: VerifyPool
  const jwksServers: JwksServer[] = []

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pcl-stage-routes-'))
    keyFile = join(dir, 'key.pem')
    writeFileSync(keyFile, publicKey.export({ format: 'pem', type: 'spki' }))
    pool = new VerifyPool(1, { filename: buildWorker(dir) })
  })

  afterAll(async () => {
    await pool?.close()
    await Promise.all(jwksServers.map((server) => server.close()))
    rmSync(dir, { recursive: true, force: true })
  })

  async function jwksServer(...signers: ReturnType<typeof createSigner>[]): Promise<JwksServer> {
    const server = await startJwksServer(signers.map((s) => s.publicJwk!))
    jwksServers.push(server)
    return server
  }

  const bearer = (stage: AuthenticateStage, t: string) => stage.onRequest(exchange(`Bearer ${t}`))

  describe('when another route’s verification of the token is still in flight', () => {
    it('refuses with 401 a token of an issuer only the other route trusts', async () => {
      const late = createSigner('ES256', 'late-key')
      const jwks = await jwksServer(createSigner('ES256', 'early-key'))
      const { stages, close } = await compileRoutes(
        [
          issuerConfig({
            name: 'a',
            issuer: 'https://a.test',
            jwks_uri: jwks.url,
            algorithms: ['ES256'],
          }),
          issuerConfig({ name: 'b', issuer: 'https://b.test', keys: keyFile }),
        ],
        [jwtRoute('a', ['a']), jwtRoute('b', ['b'])],
      )
      const [onlyA, onlyB] = stages as [AuthenticateStage, AuthenticateStage]
      try {
        // A key published after startup: route a's check waits for a (slow) JWKS refresh.
        jwks.setKeys([late.publicJwk!])
        jwks.setDelay(100)
        const t = await sign(late, {
          iss: 'https://a.test',
          aud: 'api',
          sub: 'alice',
          exp: nowSeconds() + 600,
        })
        const onA = bearer(onlyA, t)
        expect(onA).toBeInstanceOf(Promise)
        const onB = bearer(onlyB, t)
        expect(await onA).toBeUndefined()
        expect(await onB).toMatchObject({ status: 401, code: 'invalid_token' })
        expect(describeFailure(await onB)).toBe('The token issuer is not accepted on this route.')
        // And once route a's verdict is cached.
        expect(describeFailure(bearer(onlyB, t))).toBe(
          'The token issuer is not accepted on this route.',
        )
      } finally {
        close()
      }
    })
  })

  describe('when a route trusts issuers with different max_token_size', () => {
    it('holds a token to the limit of the issuer it names, not to the largest', async () => {
      const SMALL = 'the-secret-of-the-small-issuer-32b!'
      const LARGE = 'the-secret-of-the-large-issuer-32b!'
      const { stages, close } = await compileRoutes(
        [
          issuerConfig({
            name: 'small',
            issuer: 'https://small.test',
            secret: SMALL,
            algorithms: ['HS256'],
            max_token_size: '1KiB',
          }),
          issuerConfig({
            name: 'large',
            issuer: 'https://large.test',
            secret: LARGE,
            algorithms: ['HS256'],
            max_token_size: '4KiB',
          }),
        ],
        [jwtRoute('both', ['small', 'large'])],
      )
      const stage = stages[0]!
      const padded = (iss: string, secret: string, padding: number) =>
        hmacToken(
          { alg: 'HS256' },
          { iss, aud: 'api', exp: nowSeconds() + 600, pad: 'x'.repeat(padding) },
          secret,
        )
      try {
        const smallShort = padded('https://small.test', SMALL, 100)
        const smallLong = padded('https://small.test', SMALL, 1500)
        const largeLong = padded('https://large.test', LARGE, 1500)
        const largeHuge = padded('https://large.test', LARGE, 3500)
        expect(smallShort.length).toBeLessThan(1024)
        expect([smallLong.length, largeLong.length].every((n) => n > 1024 && n < 4096)).toBe(true)
        expect(largeHuge.length).toBeGreaterThan(4096)
        expect(bearer(stage, smallShort)).toBeUndefined()
        expect(bearer(stage, largeLong)).toBeUndefined()
        for (const tooLarge of [smallLong, largeHuge]) {
          const verdict = bearer(stage, tooLarge)
          expect(verdict).toMatchObject({ status: 401, code: 'invalid_token' })
          expect(describeFailure(verdict)).toBe('The token exceeds the size limit.')
        }
      } finally {
        close()
      }
    })
  })

  describe('with a verify pool', () => {
    it('checks a signature with a 3072-bit RSA key on the pool, with a 2048-bit one inline', async () => {
      const rsa3072 = generateKeyPairSync('rsa', { modulusLength: 3072 })
      const file3072 = join(dir, 'rsa3072.pem')
      writeFileSync(file3072, rsa3072.publicKey.export({ format: 'pem', type: 'spki' }))
      const { stages, close } = await compileRoutes(
        [
          issuerConfig({ name: 'rsa3072', issuer: 'https://rsa3072.test', keys: file3072 }),
          issuerConfig({ name: 'rsa2048', keys: keyFile }),
        ],
        [jwtRoute('big', ['rsa3072']), jwtRoute('small', ['rsa2048'])],
        pool,
      )
      const [big, small] = stages as [AuthenticateStage, AuthenticateStage]
      try {
        const bigToken = token({ iss: 'https://rsa3072.test', sub: 'big' }, rsa3072.privateKey)
        const onPool = bearer(big, bigToken)
        expect(onPool).toBeInstanceOf(Promise)
        expect(await onPool).toBeUndefined()
        expect(bearer(small, token({ sub: 'small' }))).toBeUndefined()
      } finally {
        close()
      }
    })

    it('answers a token refused after a key rotation from the failure cache, synchronously', async () => {
      const first = createSigner('ES256', 'k')
      const jwks = await jwksServer(first)
      const { stages, close } = await compileRoutes(
        [
          issuerConfig({
            name: 'rotating',
            issuer: 'https://rotating.test',
            jwks_uri: jwks.url,
            algorithms: ['ES256'],
          }),
        ],
        [jwtRoute('api', ['rotating'])],
        pool,
      )
      const stage = stages[0]!
      try {
        const claims = {
          iss: 'https://rotating.test',
          aud: 'api',
          sub: 'a',
          exp: nowSeconds() + 600,
        }
        const t = await sign(first, claims)
        expect(await bearer(stage, t)).toBeUndefined() // checked on the pool, then cached
        expect(bearer(stage, t)).toBeUndefined()
        // The provider replaces the key under the same kid; an unknown kid makes it refetch.
        jwks.setKeys([createSigner('ES256', 'k').publicJwk!])
        const stranger = await sign(createSigner('ES256', 'stranger'), claims)
        expect(await bearer(stage, stranger)).toMatchObject({ status: 401 })
        // The cached success no longer stands: checked again with the new key, and refused.
        const refused = bearer(stage, t)
        expect(refused).toBeInstanceOf(Promise)
        expect(describeFailure(await refused)).toBe('The token signature is invalid.')
        // Replayed: the refusal is cached, so no signature is checked again.
        const replayed = bearer(stage, t)
        expect(replayed).not.toBeInstanceOf(Promise)
        expect(describeFailure(replayed)).toBe('The token signature is invalid.')
      } finally {
        close()
      }
    })
  })
})
