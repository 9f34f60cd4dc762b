/**
 * The config rules of `cors:` (top level) and `routes[].cors`: defaults, a route's own policy
 * replacing the default and `false` turning it off, and every refusal with its path and reason.
 */
import { describe, expect, it } from 'vitest'
import type { CompiledRoute, RouteTable } from '../../../src/router/compile.js'
import { configProblems, loadTestConfig } from '../../helpers/config.js'

function route(name: string, cors?: unknown): Record<string, unknown> {
  return {
    name,
    match: { paths: [`/${name}/*`] },
    upstream: 'u',
    auth: 'none',
    ...(cors === undefined ? {} : { cors }),
  }
}

function compiledRoute(table: RouteTable, name: string): CompiledRoute {
  for (const level of table.anyHost!.prefix.values()) {
    for (const r of level.routes) if (r.name === name) return r
  }
  throw new Error(`no route ${name}`)
}

const POLICY = { origins: ['https://app.example.com'] }

describe('cors config', () => {
  it('fills the defaults of a policy', () => {
    const { config } = loadTestConfig({ cors: POLICY, routes: [route('a', POLICY)] })
    const expected = {
      origins: ['https://app.example.com'],
      allow_headers: [],
      expose_headers: [],
      credentials: false,
      max_age: '10m',
    }
    expect(config.cors).toEqual(expected)
    expect(config.routes[0]!.cors).toEqual(expected)
  })

  it('gives the default to routes without cors, and none to a route with cors: false', () => {
    const { runtime } = loadTestConfig({
      cors: POLICY,
      routes: [route('inherits'), route('off', false), route('own', { origins: ['*'] })],
    })
    expect(compiledRoute(runtime.table, 'inherits').ownsCors).toBe(true)
    expect(compiledRoute(runtime.table, 'off').ownsCors).toBe(false)
    expect(compiledRoute(runtime.table, 'own').ownsCors).toBe(true)
    expect(compiledRoute(runtime.table, 'off').stages.map((s) => s.name)).not.toContain('cors')
  })

  it('owns no CORS on any route without a policy', () => {
    const { runtime } = loadTestConfig({ routes: [route('plain')] })
    expect(compiledRoute(runtime.table, 'plain').ownsCors).toBe(false)
  })

  it('accepts exact origins, suffix patterns, ports, IPv6 and *', () => {
    const { runtime } = loadTestConfig({
      routes: [
        route('a', {
          origins: [
            'https://app.example.com',
            'HTTP://LocalHost:3000',
            'https://*.example.com',
            'https://*.example.co.uk:8443',
            'http://[::1]:8080',
            'http://127.0.0.1:5173',
          ],
        }),
        route('b', { origins: ['*'], allow_headers: ['*'], expose_headers: ['*'] }),
      ],
    })
    expect(runtime).toBeDefined()
  })

  it('names the path of each entry that is not an origin, with the reason', () => {
    const found = configProblems({
      routes: [
        route('a', {
          origins: [
            'https://app.example.com/',
            'null',
            'https://*.com',
            'https://a.*.example.com',
            'app.example.com',
            'https://app.example.com:99999',
            'https://*example.com',
            'https://app.example.com',
          ],
        }),
      ],
    })
    expect(found.map((p) => p.path)).toEqual([
      'routes[0].cors.origins[0]',
      'routes[0].cors.origins[1]',
      'routes[0].cors.origins[2]',
      'routes[0].cors.origins[3]',
      'routes[0].cors.origins[4]',
      'routes[0].cors.origins[5]',
      'routes[0].cors.origins[6]',
    ])
    expect(found[0]!.reason).toMatch(/has a path/)
    expect(found[1]!.reason).toMatch(/opaque origin "null"/)
    expect(found[2]!.reason).toMatch(/wildcard must be the whole leftmost label/)
    expect(found[3]!.reason).toMatch(/wildcard must be the whole leftmost label/)
    expect(found[4]!.reason).toMatch(/is not an origin: write scheme:\/\/host\[:port\]/)
    expect(found[5]!.reason).toMatch(/port 99999 is not from 1 to 65535/)
  })

  it('refuses * with credentials in origins, allow_headers and expose_headers', () => {
    const found = configProblems({
      routes: [
        route('a', {
          origins: ['https://app.example.com', '*'],
          allow_headers: ['authorization', '*'],
          expose_headers: ['*'],
          credentials: true,
        }),
      ],
    })
    expect(found.map((p) => p.path)).toEqual([
      'routes[0].cors.origins[1]',
      'routes[0].cors.allow_headers[1]',
      'routes[0].cors.expose_headers[0]',
    ])
    expect(found[0]!.reason).toMatch(/cannot be \* with credentials: true/)
  })

  it('names the problems of the top-level default under cors', () => {
    const found = configProblems({
      cors: { origins: ['*'], credentials: true },
      routes: [route('a')],
    })
    expect(found.map((p) => p.path)).toEqual(['cors.origins[0]'])
  })

  it('refuses an unknown key, a bad method, a bad header name and cors: true with their paths', () => {
    const paths = (cors: unknown): string[] =>
      configProblems({ routes: [route('a', cors)] }).map((p) => p.path)
    expect(paths({ ...POLICY, allow_origins: ['x'] })).toContain('routes[0].cors.allow_origins')
    expect(paths({ ...POLICY, methods: ['FETCH'] })).toContain('routes[0].cors.methods[0]')
    expect(paths({ ...POLICY, expose_headers: ['x y'] })).toContain(
      'routes[0].cors.expose_headers[0]',
    )
    expect(paths({ ...POLICY, max_age: 'forever' })).toContain('routes[0].cors.max_age')
    expect(paths(true).some((p) => p.startsWith('routes[0].cors'))).toBe(true)
    expect(paths({ origins: [] })).toContain('routes[0].cors.origins')
  })
})
