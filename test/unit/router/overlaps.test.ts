import { describe, expect, it } from 'vitest'
import { findOverlaps, type RouteMatchOf } from '../../../src/router/overlaps.js'

interface RouteSpec {
  readonly name: string
  readonly paths: readonly string[]
  readonly hosts?: readonly string[]
  readonly methods?: readonly string[]
}

function overlaps(specs: readonly RouteSpec[]) {
  const routes: RouteMatchOf[] = specs.map((spec, index) => ({
    index,
    name: spec.name,
    hosts: spec.hosts,
    paths: spec.paths,
    methods: spec.methods,
  }))
  return findOverlaps(routes)
}

describe('findOverlaps', () => {
  describe('when two routes take the same host, path and method', () => {
    it('names both routes and the shared methods at the later route', () => {
      const problems = overlaps([
        { name: 'first', paths: ['/a/*'], methods: ['GET', 'POST'] },
        { name: 'second', paths: ['/a/*'], methods: ['POST'] },
      ])
      expect(problems).toEqual([
        {
          path: 'routes[1].match',
          reason:
            'overlaps route "first" (routes[0]) on path /a/* for POST; give them different ' +
            'hosts, paths or methods',
        },
      ])
    })

    it('counts a route without methods as taking them all', () => {
      const problems = overlaps([
        { name: 'any', paths: ['/a'] },
        { name: 'get', paths: ['/a'], methods: ['GET'] },
      ])
      expect(problems.map((p) => p.reason)).toEqual([
        'overlaps route "any" (routes[0]) on path /a; give them different hosts, paths or methods',
      ])
    })

    it('counts GET as taking HEAD', () => {
      const problems = overlaps([
        { name: 'read', paths: ['/a'], methods: ['GET'] },
        { name: 'head', paths: ['/a'], methods: ['HEAD'] },
      ])
      expect(problems[0]?.reason).toContain('for HEAD')
    })

    it('finds the overlap on a shared host, whatever its case', () => {
      const problems = overlaps([
        { name: 'one', hosts: ['x.example.com', 'y.example.com'], paths: ['/p'] },
        { name: 'two', hosts: ['Y.example.com'], paths: ['/p'] },
      ])
      expect(problems).toHaveLength(1)
      expect(problems[0]?.reason).toContain('"one"')
    })
  })

  describe('when routes only look alike', () => {
    it.each<[string, RouteSpec[]]>([
      [
        'disjoint methods',
        [
          { name: 'r', paths: ['/a'], methods: ['GET'] },
          { name: 'w', paths: ['/a'], methods: ['POST'] },
        ],
      ],
      [
        'exact and prefix of the same path',
        [
          { name: 'e', paths: ['/a'] },
          { name: 'p', paths: ['/a/*'] },
        ],
      ],
      [
        'different hosts',
        [
          { name: 'x', hosts: ['x.example.com'], paths: ['/a'] },
          { name: 'y', hosts: ['*.example.com'], paths: ['/a'] },
          { name: 'z', paths: ['/a'] },
        ],
      ],
      ['one route listing a path twice', [{ name: 'twice', paths: ['/a', '/a'] }]],
    ])('finds none with %s', (_, specs) => {
      expect(overlaps(specs)).toEqual([])
    })
  })
})

describe('findOverlaps with path templates', () => {
  it('finds two templates of one shape, whatever their names', () => {
    const problems = overlaps([
      { name: 'a', paths: ['/users/{id}'] },
      { name: 'b', paths: ['/users/{uid}'], methods: ['GET'] },
    ])
    expect(problems.map((p) => p.path)).toEqual(['routes[1].match.paths[0]', 'routes[1].match'])
    expect(problems[0]!.reason).toMatch(/names the segments of \/users\/\{id\}.*differently/)
  })

  it('lets a template and an exact path of its shape stand together', () => {
    expect(
      overlaps([
        { name: 'a', paths: ['/users/{id}'] },
        { name: 'b', paths: ['/users/me'] },
      ]),
    ).toEqual([])
  })

  it('lets routes share a template by method', () => {
    expect(
      overlaps([
        { name: 'a', paths: ['/users/{id}'], methods: ['GET'] },
        { name: 'b', paths: ['/users/{id}'], methods: ['PUT'] },
      ]),
    ).toEqual([])
  })
})
