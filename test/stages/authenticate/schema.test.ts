/**
 * The config rules of JWT authentication: every refusal names its path and reason, and nothing
 * that RFC 8725 warns about can be configured.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPairSync } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { configProblems, loadTestConfig } from '../../helpers/config.js'

let dir: string
let keyFile: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pcl-jwt-config-'))
  keyFile = join(dir, 'key.pem')
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  writeFileSync(keyFile, publicKey.export({ format: 'pem', type: 'spki' }))
})

const SECRET = 'x'.repeat(32)

function issuer(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'idp',
    issuer: 'https://idp.test',
    keys: keyFile,
    audiences: ['api'],
    algorithms: ['RS256'],
    ...extra,
  }
}

function route(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'api',
    match: { paths: ['/api/*'] },
    upstream: 'u',
    auth: 'jwt',
    jwt: { issuers: ['idp'] },
    ...extra,
  }
}

const load = loadTestConfig
const problems = configProblems

describe('jwt config', () => {
  it('accepts an issuer with a key file and a route that trusts it', () => {
    const { runtime } = load({ issuers: [issuer()], routes: [route({ scopes: ['read'] })] })
    expect(runtime.table.routeCount).toBe(1)
  })

  describe('refuses, naming the path', () => {
    it('an issuer without algorithms (no default: RFC 8725 §3.1)', () => {
      const { algorithms: _a, ...rest } = issuer()
      expect(problems({ issuers: [rest], routes: [] })).toContainEqual(
        expect.objectContaining({ path: 'issuers[0].algorithms' }),
      )
    })

    it('alg none', () => {
      const found = problems({ issuers: [issuer({ algorithms: ['none'] })], routes: [] })
      expect(found[0]!.path).toMatch(/^issuers\[0\]\.algorithms\[0\]/)
    })

    it('an HS algorithm next to public keys (algorithm confusion)', () => {
      const found = problems({ issuers: [issuer({ algorithms: ['RS256', 'HS256'] })], routes: [] })
      expect(found).toContainEqual(
        expect.objectContaining({
          path: 'issuers[0].algorithms',
          reason: expect.stringContaining('secret'),
        }),
      )
    })

    it('a secret shorter than 32 bytes', () => {
      const { keys: _k, ...rest } = issuer({ algorithms: ['HS256'], secret: 'short' })
      expect(problems({ issuers: [rest], routes: [] })[0]!.path).toBe('issuers[0].secret')
    })

    it('a secret with public-key algorithms', () => {
      const { keys: _k, ...rest } = issuer({ secret: SECRET })
      expect(problems({ issuers: [rest], routes: [] })).toContainEqual(
        expect.objectContaining({ path: 'issuers[0].algorithms' }),
      )
    })

    it('an issuer with two key sources, or none', () => {
      expect(
        problems({ issuers: [issuer({ jwks_uri: 'https://idp.test/jwks' })], routes: [] }),
      ).toContainEqual(
        expect.objectContaining({
          path: 'issuers[0]',
          reason: expect.stringContaining('exactly one'),
        }),
      )
      const { keys: _k, ...none } = issuer()
      expect(problems({ issuers: [none], routes: [] })).toContainEqual(
        expect.objectContaining({ path: 'issuers[0]' }),
      )
    })

    it('a key file that cannot be read or holds a private key', () => {
      expect(
        problems({ issuers: [issuer({ keys: join(dir, 'missing.pem') })], routes: [] })[0]!.path,
      ).toBe('issuers[0].keys')
      const privateFile = join(dir, 'private.pem')
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
      writeFileSync(privateFile, privateKey.export({ format: 'pem', type: 'pkcs8' }))
      expect(problems({ issuers: [issuer({ keys: privateFile })], routes: [] })[0]!.path).toBe(
        'issuers[0].keys',
      )
    })

    it('two issuers with one iss, or one name', () => {
      expect(
        problems({ issuers: [issuer(), issuer({ name: 'other' })], routes: [] }),
      ).toContainEqual(expect.objectContaining({ path: 'issuers[1].issuer' }))
      expect(
        problems({ issuers: [issuer(), issuer({ issuer: 'https://other.test' })], routes: [] }),
      ).toContainEqual(expect.objectContaining({ path: 'issuers[1].name' }))
    })

    it('jwks.stale_for shorter than jwks.max_refresh', () => {
      const { keys: _k, ...rest } = issuer({
        jwks_uri: 'https://idp.test/jwks',
        jwks: { stale_for: '10m', max_refresh: '1h' },
      })
      expect(problems({ issuers: [rest], routes: [] })[0]!.path).toBe('issuers[0].jwks.stale_for')
    })

    it('a route trusting an issuer that does not exist', () => {
      expect(
        problems({ issuers: [issuer()], routes: [route({ jwt: { issuers: ['nope'] } })] }),
      ).toContainEqual(
        expect.objectContaining({
          path: 'routes[0].jwt.issuers[0]',
          reason: expect.stringContaining('idp'),
        }),
      )
    })

    it('auth: jwt without a jwt section', () => {
      const { jwt: _j, ...rest } = route()
      expect(problems({ issuers: [issuer()], routes: [rest] })[0]!.path).toBe('routes[0].jwt')
    })

    it('scopes, jwt or forwarded claims on a public route', () => {
      const found = problems({
        issuers: [issuer()],
        routes: [
          route({ auth: 'none', scopes: ['read'], forward: { claims: { sub: 'X-User-Id' } } }),
        ],
      })
      const paths = found.map((p) => p.path)
      expect(paths).toEqual(
        expect.arrayContaining(['routes[0].jwt', 'routes[0].scopes', 'routes[0].forward.claims']),
      )
    })

    it('a claim forwarded into a header the gateway owns, in any spelling', () => {
      for (const header of ['X-Forwarded-For', 'x_forwarded_for', 'Host', 'Connection', 'Via']) {
        expect(
          problems({
            issuers: [issuer()],
            routes: [route({ forward: { claims: { sub: header } } })],
          })[0]!.path,
        ).toBe('routes[0].forward.claims.sub')
      }
    })

    it('auth left out (no implicit public route)', () => {
      const { auth: _a, ...rest } = route()
      expect(problems({ issuers: [issuer()], routes: [rest] })[0]!.path).toBe('routes[0].auth')
    })

    it('an unknown auth method or a scope with a space', () => {
      expect(
        problems({ issuers: [issuer()], routes: [route({ auth: 'magic' })] })[0]!.path,
      ).toMatch(/^routes\[0\]\.auth/)
      expect(
        problems({ issuers: [issuer()], routes: [route({ scopes: ['read write'] })] })[0]!.path,
      ).toMatch(/^routes\[0\]\.scopes/)
    })
  })
})

describe('api_key config', () => {
  const keyRoute = (extra: Record<string, unknown> = {}) =>
    route({ auth: 'api_key', jwt: undefined, ...extra })

  it('accepts auth: api_key with or without api_key:, and any: [jwt, api_key]', () => {
    const { runtime } = load({
      issuers: [issuer()],
      routes: [
        keyRoute(),
        keyRoute({
          name: 'b',
          match: { paths: ['/b/*'] },
          api_key: { header: 'X-Partner-Key', authorization: true, query: 'key', realm: 'b' },
        }),
        route({
          name: 'c',
          match: { paths: ['/c/*'] },
          auth: { any: ['jwt', 'api_key'] },
          allow_groups: ['partners'],
          deny_groups: ['suspended'],
        }),
      ],
    })
    expect(runtime.table.routeCount).toBe(3)
  })

  describe('refuses, naming the path', () => {
    const pathsOf = (routes: Record<string, unknown>[]) =>
      problems({ issuers: [issuer()], routes }).map((p) => p.path)

    it('api_key on a public route, or on a route whose auth does not name it', () => {
      expect(pathsOf([keyRoute({ auth: 'none', api_key: {} })])).toContain('routes[0].api_key')
      expect(pathsOf([route({ api_key: {} })])).toContain('routes[0].api_key')
    })

    it('a key header the gateway owns or reads for another purpose', () => {
      for (const header of ['Authorization', 'Cookie', 'X-Forwarded-For', 'Host']) {
        expect(pathsOf([keyRoute({ api_key: { header } })])).toContain('routes[0].api_key.header')
      }
    })

    it('one query parameter for both methods of an any: route', () => {
      const mixed = route({
        auth: { any: ['jwt', 'api_key'] },
        jwt: { issuers: ['idp'], query: 'token' },
        api_key: { query: 'token' },
      })
      expect(pathsOf([mixed])).toContain('routes[0].api_key.query')
    })

    it('an unknown key under api_key', () => {
      expect(pathsOf([keyRoute({ api_key: { cookie: 'k' } })])[0]).toMatch(/^routes\[0\]\.api_key/)
    })

    it('groups or a consumer_claim of the wrong shape', () => {
      expect(pathsOf([keyRoute({ allow_groups: [] })])[0]).toMatch(/^routes\[0\]\.allow_groups/)
      expect(problems({ issuers: [issuer({ consumer_claim: '' })], routes: [] })[0]!.path).toMatch(
        /^issuers\[0\]\.consumer_claim/,
      )
    })
  })
})
