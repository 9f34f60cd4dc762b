/**
 * The config rules of introspection (every refusal names its path and reason) and how a route
 * taking both jwt and introspection splits bearer tokens between them.
 */
import { describe, expect, it } from 'vitest'
import { BearerSplit } from '../../../src/stages/authenticate/bearer-split.js'
import { configProblems, loadTestConfig } from '../../helpers/config.js'
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
