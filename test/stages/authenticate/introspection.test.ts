/**
 * The config rules of introspection (every refusal names its path and reason) and how a route
 * taking both jwt and introspection splits bearer tokens between them.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayConfigSchema } from '../../../src/config/schema.js'
import { validateConfig } from '../../../src/config/load.js'
import type { ConfigProblem } from '../../../src/errors.js'
import { IntrospectorRegistry } from '../../../src/introspection/registry.js'
import { RevocationList } from '../../../src/jwt/revocation.js'
import { createLogger } from '../../../src/observability/logger.js'
import { BearerSplit } from '../../../src/stages/authenticate/bearer-split.js'
import {
  compileAuthenticate,
  type AuthenticateStage,
} from '../../../src/stages/authenticate/index.js'
import { JwtContext } from '../../../src/stages/authenticate/jwt-context.js'
import { configProblems, loadTestConfig } from '../../helpers/config.js'
import { keyServices } from '../../helpers/credentials.js'
import { FakeExchange } from '../../helpers/exchange.js'
import { compact } from '../../helpers/jwt.js'

function introspector(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'as',
    endpoint: 'http://127.0.0.1:1/introspect',
    client_id: 'gateway',
    client_secret: 'secret',
    ...extra,
  }
}

function route(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'api',
    match: { paths: ['/api/*'] },
    upstream: 'u',
    auth: 'introspection',
    introspection: { introspectors: ['as'] },
    ...extra,
  }
}

const ISSUER = {
  name: 'idp',
  issuer: 'https://idp.test',
  secret: 'x'.repeat(32),
  audiences: ['api'],
  algorithms: ['HS256'],
}

describe('introspection config', () => {
  it('accepts an introspector and a route that names it, alone or beside jwt', () => {
    expect(() =>
      loadTestConfig({
        issuers: [ISSUER],
        introspectors: [introspector()],
        routes: [
          route(),
          route({
            name: 'mixed',
            match: { paths: ['/mixed/*'] },
            auth: { any: ['jwt', 'introspection', 'api_key'] },
            jwt: { issuers: ['idp'] },
          }),
        ],
      }),
    ).not.toThrow()
  })

  it.each([
    [
      'an unknown introspector',
      {
        introspectors: [introspector()],
        routes: [route({ introspection: { introspectors: ['x'] } })],
      },
      'routes[0].introspection.introspectors[0]',
      'no introspector named "x"',
    ],
    [
      'auth: introspection without introspection:',
      { introspectors: [introspector()], routes: [route({ introspection: undefined })] },
      'routes[0].introspection',
      'say which introspectors',
    ],
    [
      'introspection: on a route whose auth does not name it',
      { introspectors: [introspector()], routes: [route({ auth: 'api_key' })] },
      'routes[0].introspection',
      'auth does not name introspection',
    ],
    [
      'jwt and introspection under all:',
      {
        issuers: [ISSUER],
        introspectors: [introspector()],
        routes: [route({ auth: { all: ['jwt', 'introspection'] }, jwt: { issuers: ['idp'] } })],
      },
      'routes[0].auth',
      'combine them with any',
    ],
    [
      'two introspectors of one name',
      { introspectors: [introspector(), introspector()], routes: [] },
      'introspectors[1].name',
      'already an introspector name',
    ],
    [
      'client_secret_basic without a secret',
      { introspectors: [introspector({ client_secret: undefined })], routes: [] },
      'introspectors[0].client_secret',
      'needs a client_secret',
    ],
    [
      'an unknown key',
      { introspectors: [introspector({ cache: '1s' })], routes: [] },
      'introspectors[0].cache',
      '',
    ],
    [
      'an endpoint that is no URL',
      { introspectors: [introspector({ endpoint: 'as.test/introspect' })], routes: [] },
      'introspectors[0].endpoint',
      'http:// or https://',
    ],
  ])('refuses %s, naming the path', (_, config, path, reason) => {
    expect(configProblems(config)).toContainEqual({ path, reason: expect.stringContaining(reason) })
  })
})

describe('BearerSplit', () => {
  const split = () => new BearerSplit(new Set(['https://idp.test']), 8192)
  const jwtOf = (iss: string) => compact({ alg: 'HS256' }, { iss }, 'c2ln')

  it('gives a JWT of a route issuer to jwt', () => {
    expect(split().isJwt(jwtOf('https://idp.test'))).toBe(true)
  })

  it('gives an opaque token to introspection', () => {
    expect(split().isJwt('2YotnFZFEjr1zCsicMWpAA')).toBe(false)
  })

  it('gives a JWT of another issuer, or a dotted token that is no JWT, to introspection', () => {
    expect(split().isJwt(jwtOf('https://other.test'))).toBe(false)
    expect(split().isJwt('a.b.c')).toBe(false)
  })

  it('answers the same for the same token asked twice (both methods ask)', () => {
    const s = split()
    const token = jwtOf('https://idp.test')
    expect(s.isJwt(token)).toBe(true)
    expect(s.isJwt(`${token}`)).toBe(true)
    expect(s.isJwt('opaque')).toBe(false)
  })
})

describe('the introspection method in the authenticate stage', () => {
  let server: Server
  let calls = 0
  let stage: AuthenticateStage
  let registry: IntrospectorRegistry

  beforeAll(async () => {
    // A loopback endpoint that says active to every token but "revoked".
    server = createServer((req, res) => {
      calls++
      let body = ''
      req.on('data', (chunk: Buffer) => (body += chunk.toString()))
      req.on('end', () => {
        const token = new URLSearchParams(body).get('token')
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(
          JSON.stringify(
            token === 'revoked' ? { active: false } : { active: true, sub: 's', scope: 'read' },
          ),
        )
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const logger = createLogger('silent', {})
    const problems: ConfigProblem[] = []
    registry = new IntrospectorRegistry(logger)
    const config = validateConfig(
      {
        upstreams: {},
        routes: [],
        introspectors: [introspector({ endpoint: `http://127.0.0.1:${port}/introspect` })],
      },
      GatewayConfigSchema,
    )
    const introspectors = registry.compile(config.introspectors, problems)
    stage = compileAuthenticate(
      {
        auth: 'introspection',
        introspection: { introspectors: ['as'], realm: 'api' },
      },
      { name: 'api', path: 'routes[0]', problems },
      {
        issuers: new Map(),
        introspectors,
        jwt: new JwtContext(null, new RevocationList()),
        logger,
        audit: false,
        ...keyServices(),
      },
    )!
    expect(problems).toEqual([])
  })

  afterAll(async () => {
    registry.closeAll()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  function exchange(token: string): FakeExchange {
    const ex = new FakeExchange()
    ex.headers = ['authorization', `Bearer ${token}`]
    return ex
  }

  it('waits for the endpoint once, then admits the token synchronously', async () => {
    const first = exchange('opaque-1')
    const verdict = stage.onRequest(first)
    expect(verdict).toBeInstanceOf(Promise)
    expect(await verdict).toBeUndefined()
    expect(first.identity).toMatchObject({ method: 'introspection', issuer: 'as', subject: 's' })
    const again = exchange('opaque-1')
    expect(stage.onRequest(again)).toBeUndefined()
    expect(again.identity).toBe(first.identity)
    expect(calls).toBe(1)
  })

  it('refuses an inactive token with 401 invalid_token and the route realm, then synchronously', async () => {
    const verdict = await stage.onRequest(exchange('revoked'))
    expect(verdict).toMatchObject({ status: 401, code: 'invalid_token' })
    expect(verdict!.headers).toEqual([
      'www-authenticate',
      'Bearer realm="api", error="invalid_token", error_description="The token is not active."',
    ])
    expect(stage.onRequest(exchange('revoked'))).toBe(verdict)
  })
})
