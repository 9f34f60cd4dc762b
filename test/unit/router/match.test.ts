import { describe, expect, it } from 'vitest'
import type { Upstream } from '../../../src/proxy/upstream.js'
import {
  compileMethods,
  compileRouteTable,
  type CompiledRoute,
  type RouteEntry,
  type RouteTable,
} from '../../../src/router/compile.js'
import { createMatchResult, matchRoute, MatchKind } from '../../../src/router/match.js'
import type { MatchConfig } from '../../../src/router/schema.js'
import { parsePathTemplate, templateParams } from '../../../src/router/template.js'

type Method = NonNullable<MatchConfig['methods']>[number]

interface RouteSpec {
  readonly name: string
  readonly paths: readonly string[]
  readonly hosts?: readonly string[]
  readonly methods?: readonly Method[]
}

const UPSTREAM = { name: 'stub' } as unknown as Upstream

function compiled(name: string, methods: readonly Method[] | undefined): CompiledRoute {
  return {
    name,
    upstream: UPSTREAM,
    stages: [],
    responseStages: [],
    finishStages: [],
    bodyStages: [],
    methods: compileMethods(methods),
    stripPrefix: false,
    maxBodyBytes: 1024,
    bufferBodyBytes: 1024,
    timeoutMs: 1000,
    websocket: false,
    ownsCors: false,
    hsts: null,
    meter: null,
  }
}

function table(specs: readonly RouteSpec[]): RouteTable {
  const entries: RouteEntry[] = specs.map((spec, index) => ({
    route: compiled(spec.name, spec.methods),
    match: {
      paths: [...spec.paths],
      ...(spec.hosts === undefined ? {} : { hosts: [...spec.hosts] }),
      ...(spec.methods === undefined ? {} : { methods: [...spec.methods] }),
    },
    index,
  }))
  return compileRouteTable(entries)
}

/** The name of the route found, 'not found', or '405 <allow>'. */
function lookup(t: RouteTable, path: string, host = 'gateway.test', method = 'GET'): string {
  const result = matchRoute(t, host, path, method, createMatchResult())
  if (result.kind === MatchKind.Found) return result.route!.name
  if (result.kind === MatchKind.NotFound) return 'not found'
  return `405 ${result.allow}`
}

describe('matchRoute', () => {
  describe('when a route has a prefix path', () => {
    const t = table([{ name: 'api', paths: ['/api/*'] }])

    it.each(['/api', '/api/', '/api/x', '/api/x/y/'])('matches %s', (path) => {
      expect(lookup(t, path)).toBe('api')
    })

    it.each(['/apix', '/ap', '/', '/API', '/x/api'])('does not match %s', (path) => {
      expect(lookup(t, path)).toBe('not found')
    })
  })

  describe('when the prefix is /*', () => {
    it('matches every path', () => {
      const t = table([{ name: 'all', paths: ['/*'] }])
      for (const path of ['/', '/a', '/a/b/c', '//']) expect(lookup(t, path)).toBe('all')
    })
  })

  describe('when several path specs match', () => {
    const t = table([
      { name: 'root', paths: ['/*'] },
      { name: 'api', paths: ['/api/*'] },
      { name: 'v2', paths: ['/api/v2/*'] },
      { name: 'users', paths: ['/api/v2/users'] },
    ])

    it('prefers the exact path', () => {
      expect(lookup(t, '/api/v2/users')).toBe('users')
    })

    it('prefers the longest prefix', () => {
      expect(lookup(t, '/api/v2/users/7')).toBe('v2')
      expect(lookup(t, '/api/v2')).toBe('v2')
      expect(lookup(t, '/api/v3')).toBe('api')
      expect(lookup(t, '/other')).toBe('root')
    })

    it('does not take a prefix that only shares a prefix string', () => {
      expect(lookup(t, '/api/v2x')).toBe('api')
      expect(lookup(t, '/apiv2')).toBe('root')
    })

    it('compares paths case-sensitively', () => {
      expect(lookup(t, '/API/v2/users')).toBe('root')
      expect(lookup(t, '/api/V2/users')).toBe('api')
    })
  })

  describe('when routes are bound to hosts', () => {
    const t = table([
      { name: 'exact-host', hosts: ['api.example.com'], paths: ['/*'] },
      { name: 'deep-wildcard', hosts: ['*.eu.example.com'], paths: ['/*'] },
      { name: 'wildcard', hosts: ['*.example.com'], paths: ['/*'] },
      { name: 'admin-host', hosts: ['admin.example.org'], paths: ['/admin/*'] },
      { name: 'any-host', paths: ['/*'] },
    ])

    it('prefers an exact host over a wildcard over any host', () => {
      expect(lookup(t, '/x', 'api.example.com')).toBe('exact-host')
      expect(lookup(t, '/x', 'www.example.com')).toBe('wildcard')
      expect(lookup(t, '/x', 'example.net')).toBe('any-host')
    })

    it('prefers the longer wildcard suffix', () => {
      expect(lookup(t, '/x', 'a.eu.example.com')).toBe('deep-wildcard')
      expect(lookup(t, '/x', 'eu.example.com')).toBe('wildcard')
    })

    it('lets a wildcard match several labels but not the bare domain', () => {
      expect(lookup(t, '/x', 'a.b.c.example.com')).toBe('wildcard')
      expect(lookup(t, '/x', 'example.com')).toBe('any-host')
      expect(lookup(t, '/x', 'badexample.com')).toBe('any-host')
    })

    it('falls back to a less specific host when the host table has no matching path', () => {
      expect(lookup(t, '/admin/users', 'admin.example.org')).toBe('admin-host')
      expect(lookup(t, '/public', 'admin.example.org')).toBe('any-host')
    })

    it('expects the host already lowercased and without port (the front does that)', () => {
      expect(lookup(t, '/x', 'API.EXAMPLE.COM')).toBe('any-host')
    })
  })

  describe('when the most specific path does not take the method', () => {
    const t = table([
      { name: 'admin-read', paths: ['/admin/*'], methods: ['GET'] },
      { name: 'admin-write', paths: ['/admin/*'], methods: ['PUT', 'DELETE'] },
      { name: 'catch-all', paths: ['/*'] },
    ])

    it('answers 405 with the Allow list of that path, never a less specific route', () => {
      expect(lookup(t, '/admin/x', undefined, 'POST')).toBe('405 DELETE, GET, HEAD, PUT')
    })

    it('routes each method to its route', () => {
      expect(lookup(t, '/admin/x', undefined, 'GET')).toBe('admin-read')
      expect(lookup(t, '/admin/x', undefined, 'DELETE')).toBe('admin-write')
      expect(lookup(t, '/other', undefined, 'POST')).toBe('catch-all')
    })

    it('lets HEAD follow GET', () => {
      expect(lookup(t, '/admin/x', undefined, 'HEAD')).toBe('admin-read')
    })
  })

  describe('when a prefix route is found', () => {
    it('reports the length of the prefix to strip', () => {
      const t = table([{ name: 'api', paths: ['/api/v1/*'] }])
      const result = matchRoute(t, 'h', '/api/v1/users', 'GET', createMatchResult())
      expect(result.prefixLength).toBe('/api/v1'.length)
    })
  })

  describe('when the result object is reused', () => {
    it('writes into it and returns it', () => {
      const t = table([{ name: 'api', paths: ['/api/*'] }])
      const out = createMatchResult()
      expect(matchRoute(t, 'h', '/api/x', 'GET', out)).toBe(out)
      expect(out.kind).toBe(MatchKind.Found)
      matchRoute(t, 'h', '/nothing', 'GET', out)
      expect(out.kind).toBe(MatchKind.NotFound)
      expect(out.route).toBeNull()
    })
  })
})

describe('matchRoute with path templates', () => {
  const t = table([
    { name: 'user', paths: ['/users/{id}'], methods: ['GET'] },
    { name: 'me', paths: ['/users/me'] },
    { name: 'post', paths: ['/users/{id}/posts/{post}'] },
    { name: 'any-posts', paths: ['/{who}/posts/{post}'] },
    { name: 'api', paths: ['/users/*'] },
  ])

  it('matches a template segment by segment', () => {
    expect(lookup(t, '/users/42')).toBe('user')
    expect(lookup(t, '/users/42/posts/7')).toBe('post')
  })

  it('prefers an exact path to a template, and a template to a prefix', () => {
    expect(lookup(t, '/users/me')).toBe('me')
    expect(lookup(t, '/users/42/other')).toBe('api')
  })

  it('prefers literal segments to named ones, position by position', () => {
    expect(lookup(t, '/teams/posts/7')).toBe('any-posts')
  })

  it.each(['/users/', '/users//posts/7', '/users/42/posts/7/'])(
    'never matches an empty segment or a trailing slash (%s)',
    (path) => {
      expect(lookup(t, path)).not.toMatch(/^(user|post)$/)
    },
  )

  it('answers 405 with the template routes’ methods', () => {
    expect(lookup(t, '/users/42', 'gateway.test', 'POST')).toBe('405 GET, HEAD')
  })

  it('reports the named segments of the path it matched', () => {
    const result = matchRoute(t, 'h', '/users/a%20b/posts/9', 'GET', createMatchResult())
    expect(templateParams(result.template!, '/users/a%20b/posts/9')).toEqual([
      'id',
      'a%20b',
      'post',
      '9',
    ])
  })

  it('reports no template for an exact or prefix match', () => {
    expect(matchRoute(t, 'h', '/users/me', 'GET', createMatchResult()).template).toBeNull()
    expect(matchRoute(t, 'h', '/users/1/x', 'GET', createMatchResult()).template).toBeNull()
  })
})

describe('parsePathTemplate', () => {
  it.each([
    ['/users/{id}/*', /prefix/],
    ['/users/{id}/{id}', /twice/],
    ['/users/x{id}', /whole \{name\}/],
    ['/users/{}', /whole \{name\}/],
  ])('refuses %s', (spec, reason) => {
    expect(parsePathTemplate(spec)).toMatch(reason)
  })
})
