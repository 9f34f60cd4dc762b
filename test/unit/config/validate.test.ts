import { Type } from '@sinclair/typebox'
import { describe, expect, it } from 'vitest'
import { PortcullisError } from '../../../src/errors.js'
import { Duration, Name, NamedRecord, Pattern, Port, Size } from '../../../src/config/fragments.js'
import { createValidator, formatConfigPath } from '../../../src/config/validate.js'

function catchError(fn: () => unknown): PortcullisError {
  try {
    fn()
  } catch (error) {
    if (error instanceof PortcullisError) return error
    throw error
  }
  throw new Error('expected a PortcullisError')
}

const NAME_REASON =
  'must be a name of letters, digits, "_", "." or "-", starting with a letter or digit, at most 64 characters'

// A small gateway-like schema built from the shared fragments.
const Listener = Type.Object(
  { port: Port({ default: 8080 }), host: Type.String({ default: '0.0.0.0' }) },
  { additionalProperties: false, default: {} },
)
const Upstream = Type.Object(
  {
    url: Type.String(),
    timeout: Duration({ default: '30s' }),
    maxBody: Size({ default: '1MiB' }),
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 5 })),
  },
  { additionalProperties: false },
)
const Auth = Type.Union([
  Type.Object(
    {
      kind: Type.Literal('jwt'),
      issuer: Type.String(),
      clockSkew: Duration({ default: '30s' }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('apiKey'),
      header: Type.String({ default: 'x-api-key' }),
      keys: Type.Array(Type.String(), { minItems: 1 }),
    },
    { additionalProperties: false },
  ),
])
const Route = Type.Object(
  {
    name: Name(),
    match: Type.Object(
      {
        paths: Type.Array(Pattern('^/', 'must start with "/"'), { minItems: 1 }),
        label: Type.Optional(Type.String({ pattern: '^[a-z]+$' })),
        methods: Type.Optional(
          Type.Array(Type.Union([Type.Literal('GET'), Type.Literal('POST'), Type.Literal('PUT')])),
        ),
      },
      { additionalProperties: false },
    ),
    upstream: Name(),
    auth: Type.Optional(Auth),
  },
  { additionalProperties: false },
)
const Schema = Type.Object(
  {
    listeners: Type.Object({ http: Listener }, { additionalProperties: false, default: {} }),
    upstreams: Type.Record(Type.String(), Upstream, { default: {} }),
    services: Type.Optional(NamedRecord(Type.Boolean())),
    routes: Type.Array(Route, { default: [] }),
    logLevel: Type.Union([Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn')], {
      default: 'info',
    }),
  },
  { additionalProperties: false },
)

const validate = createValidator(Schema)

function route(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'users', match: { paths: ['/users'] }, upstream: 'users', ...overrides }
}

function problemsOf(data: unknown): readonly { path: string; reason: string }[] {
  return catchError(() => validate(data)).problems
}

describe('createValidator', () => {
  describe('with a valid config', () => {
    it('fills the defaults of missing keys, nested objects, record values and list items', () => {
      const config = validate({
        upstreams: { users: { url: 'http://users:8080' } },
        routes: [route()],
      })
      expect(config).toEqual({
        listeners: { http: { port: 8080, host: '0.0.0.0' } },
        upstreams: { users: { url: 'http://users:8080', timeout: '30s', maxBody: '1MiB' } },
        routes: [{ name: 'users', match: { paths: ['/users'] }, upstream: 'users' }],
        logLevel: 'info',
      })
    })

    it('fills the defaults of the union branch each value matched', () => {
      const config = validate({
        routes: [
          route({ auth: { kind: 'jwt', issuer: 'https://id.example' } }),
          route({ auth: { kind: 'apiKey', keys: ['k1'] } }),
        ],
      })
      expect(config.routes[0]?.auth).toEqual({
        kind: 'jwt',
        issuer: 'https://id.example',
        clockSkew: '30s',
      })
      expect(config.routes[1]?.auth).toEqual({ kind: 'apiKey', keys: ['k1'], header: 'x-api-key' })
    })

    it('fills defaults of unions nested inside union branches', () => {
      const Cache = Type.Union([
        Type.Object({ kind: Type.Literal('memory'), size: Size({ default: '1MiB' }) }),
        Type.Object({ kind: Type.Literal('redis'), ttl: Duration({ default: '1m' }) }),
      ])
      const Store = Type.Union([
        Type.Object({ kind: Type.Literal('none') }),
        Type.Object({
          kind: Type.Literal('cached'),
          cache: Cache,
          default: Type.String({ default: 'd' }),
        }),
      ])
      const nested = createValidator(Type.Object({ store: Store }))
      expect(nested({ store: { kind: 'cached', cache: { kind: 'redis' } } })).toEqual({
        store: { kind: 'cached', cache: { kind: 'redis', ttl: '1m' }, default: 'd' },
      })
    })

    it('keeps values the user gave instead of defaults', () => {
      const config = validate({ listeners: { http: { port: 80 } }, logLevel: 'debug' })
      expect(config.listeners.http).toEqual({ port: 80, host: '0.0.0.0' })
      expect(config.logLevel).toBe('debug')
    })

    it('does not modify the data it was given', () => {
      const input = {
        upstreams: { users: { url: 'u' } },
        routes: [route({ auth: { kind: 'jwt', issuer: 'i' } })],
      }
      const snapshot = structuredClone(input)
      validate(input)
      expect(input).toEqual(snapshot)
    })

    it('does not coerce types: a number string stays invalid for a port', () => {
      expect(problemsOf({ listeners: { http: { port: '8080' } } })).toEqual([
        { path: 'listeners.http.port', reason: 'must be an integer (got string)' },
      ])
    })
  })

  describe('with an invalid config', () => {
    it('throws PCL_ERR_CONFIG_INVALID with every problem in its message', () => {
      const error = catchError(() => validate({ logLevel: 'loud', extra: 1 }))
      expect(error.code).toBe('PCL_ERR_CONFIG_INVALID')
      expect(error.message).toBe(
        [
          'invalid configuration',
          '  - extra: unknown key (allowed: listeners, upstreams, services, routes, logLevel)',
          '  - logLevel: must be one of: debug, info, warn (got "loud")',
        ].join('\n'),
      )
    })
  })

  describe('with an unknown key', () => {
    it('names the key itself and lists the allowed keys', () => {
      expect(problemsOf({ upstreams: { users: { url: 'u', weight: 3 } } })).toEqual([
        {
          path: 'upstreams.users.weight',
          reason: 'unknown key (allowed: url, timeout, maxBody, retries)',
        },
      ])
    })

    it('suggests the allowed key within two edits', () => {
      expect(
        problemsOf({ listners: {}, upstreams: { users: { url: 'u', tiemout: '1s' } } }),
      ).toEqual([
        {
          path: 'listners',
          reason:
            'unknown key (allowed: listeners, upstreams, services, routes, logLevel); did you mean "listeners"?',
        },
        {
          path: 'upstreams.users.tiemout',
          reason: 'unknown key (allowed: url, timeout, maxBody, retries); did you mean "timeout"?',
        },
      ])
    })

    it('suggests a key that differs only in case', () => {
      expect(problemsOf({ loglevel: 'info' })[0]?.reason).toMatch(/; did you mean "logLevel"\?$/)
    })

    it('suggests a key one edit away', () => {
      expect(problemsOf({ listeners: { https: {} } })).toEqual([
        { path: 'listeners.https', reason: 'unknown key (allowed: http); did you mean "http"?' },
      ])
    })

    it('does not suggest a key that is more than two edits away', () => {
      expect(problemsOf({ listeners: { grpc: {} } })).toEqual([
        { path: 'listeners.grpc', reason: 'unknown key (allowed: http)' },
      ])
    })

    it('reports a record key that breaks the key pattern', () => {
      expect(problemsOf({ services: { 'bad key': true } })).toEqual([
        { path: 'services["bad key"]', reason: `invalid key: ${NAME_REASON}` },
      ])
    })

    it('reports a record key that breaks a key pattern without its rule in words', () => {
      const Bare = Type.Object(
        {
          tags: Type.Record(Type.String({ pattern: '^[a-z]+$' }), Type.Boolean(), {
            additionalProperties: false,
          }),
        },
        { additionalProperties: false },
      )
      const error = catchError(() => createValidator(Bare)({ tags: { 'Bad-Key': true } }))
      expect(error.problems).toEqual([
        { path: 'tags["Bad-Key"]', reason: 'invalid key: is not in the form this key takes' },
      ])
    })
  })

  describe('with a duration that does not match the pattern', () => {
    it('says what a duration looks like and what it got', () => {
      expect(problemsOf({ upstreams: { users: { url: 'u', timeout: '6o s' } } })).toEqual([
        {
          path: 'upstreams.users.timeout',
          reason: 'must be a duration such as 250ms, 60s, 15m, 1h (got "6o s")',
        },
      ])
    })
  })

  describe('with a size that is neither bytes nor a number with a unit', () => {
    it.each([
      ['1 zb', '"1 zb"'],
      [-1, '-1'],
      [1.5, '1.5'],
      [true, 'true'],
    ])('reports %j with one reason, not one per union branch', (maxBody, got) => {
      expect(problemsOf({ upstreams: { users: { url: 'u', maxBody } } })).toEqual([
        {
          path: 'upstreams.users.maxBody',
          reason: `must be a size in bytes or with a unit: 1048576, 512KiB, 1MiB, 1MB (got ${got})`,
        },
      ])
    })

    it('accepts bytes as an integer and sizes with units', () => {
      expect(() => validate({ upstreams: { a: { url: 'u', maxBody: 1024 } } })).not.toThrow()
      expect(() => validate({ upstreams: { a: { url: 'u', maxBody: '1 mb' } } })).not.toThrow()
    })
  })

  describe('with a value outside a union of literals', () => {
    it('lists the allowed values', () => {
      expect(problemsOf({ logLevel: 'verbose' })).toEqual([
        { path: 'logLevel', reason: 'must be one of: debug, info, warn (got "verbose")' },
      ])
    })

    it('reports items of a list by index', () => {
      const match = { paths: ['/'], methods: ['GET', 'DELETE', 5] }
      expect(problemsOf({ routes: [route({ match })] })).toEqual([
        {
          path: 'routes[0].match.methods[1]',
          reason: 'must be one of: GET, POST, PUT (got "DELETE")',
        },
        { path: 'routes[0].match.methods[2]', reason: 'must be one of: GET, POST, PUT (got 5)' },
      ])
    })

    it('names a single allowed value without a list', () => {
      const single = createValidator(Type.Object({ version: Type.Literal(1) }))
      expect(catchError(() => single({ version: 2 })).problems).toEqual([
        { path: 'version', reason: 'must be 1 (got 2)' },
      ])
    })
  })

  describe('with a missing required key', () => {
    it('names the missing key', () => {
      expect(
        problemsOf({ upstreams: { users: {} }, routes: [{ match: { paths: ['/'] } }] }),
      ).toEqual([
        { path: 'routes[0].name', reason: 'is required' },
        { path: 'routes[0].upstream', reason: 'is required' },
        { path: 'upstreams.users.url', reason: 'is required' },
      ])
    })
  })

  describe('with a value of the wrong type', () => {
    it.each([
      [
        { upstreams: { users: { url: 42 } } },
        'upstreams.users.url',
        'must be a string (got number)',
      ],
      [{ routes: {} }, 'routes', 'must be an array (got object)'],
      [{ upstreams: [] }, 'upstreams', 'must be an object (got array)'],
      [{ listeners: null }, 'listeners', 'must be an object (got null)'],
      [
        { listeners: { http: { port: 80.5 } } },
        'listeners.http.port',
        'must be an integer (got 80.5)',
      ],
      [{ services: { a: 'yes' } }, 'services.a', 'must be a boolean (got string)'],
    ])('reports %j', (data, path, reason) => {
      expect(problemsOf(data)).toEqual([{ path, reason }])
    })

    it('reports a config that is not an object at the root', () => {
      expect(problemsOf('hello')).toEqual([{ path: '', reason: 'must be an object (got string)' }])
    })
  })

  describe('with a number or list out of bounds', () => {
    it('reports a port above 65535 and below 0', () => {
      expect(problemsOf({ listeners: { http: { port: 70000 } } })).toEqual([
        { path: 'listeners.http.port', reason: 'must be at most 65535 (got 70000)' },
      ])
      expect(problemsOf({ listeners: { http: { port: -1 } } })).toEqual([
        { path: 'listeners.http.port', reason: 'must be at least 0 (got -1)' },
      ])
    })

    it('reports a list with too few items', () => {
      expect(problemsOf({ routes: [route({ match: { paths: [] } })] })).toEqual([
        { path: 'routes[0].match.paths', reason: 'must have at least 1 item (got 0)' },
      ])
    })

    it('reports string lengths and list sizes with their limits', () => {
      const bounded = createValidator(
        Type.Object({
          code: Type.String({ minLength: 1, maxLength: 3 }),
          tags: Type.Array(Type.String(), { minItems: 2, maxItems: 3, uniqueItems: true }),
        }),
      )
      expect(catchError(() => bounded({ code: '', tags: ['a'] })).problems).toEqual([
        { path: 'code', reason: 'must not be empty' },
        { path: 'tags', reason: 'must have at least 2 items (got 1)' },
      ])
      expect(
        catchError(() => bounded({ code: 'abcd', tags: ['a', 'b', 'a', 'c'] })).problems,
      ).toEqual([
        { path: 'code', reason: 'must be at most 3 characters long (got 4)' },
        { path: 'tags', reason: 'must have at most 3 items (got 4)' },
        { path: 'tags', reason: 'must not contain duplicates (items [0] and [2] are equal)' },
      ])
    })
  })

  describe('with a string that does not match a pattern', () => {
    it('describes a name in words', () => {
      expect(problemsOf({ routes: [route({ name: '-users' })] })).toEqual([
        { path: 'routes[0].name', reason: `${NAME_REASON} (got "-users")` },
      ])
    })

    it('gives the rule a pattern carries in words, never the expression', () => {
      expect(problemsOf({ routes: [route({ match: { paths: ['/ok', 'users'] } })] })).toEqual([
        { path: 'routes[0].match.paths[1]', reason: 'must start with "/" (got "users")' },
      ])
    })

    it('says the form is wrong, without the expression, for a pattern without its rule', () => {
      const match = { paths: ['/ok'], label: 'Not Lower' }
      expect(problemsOf({ routes: [route({ match })] })).toEqual([
        {
          path: 'routes[0].match.label',
          reason: 'is not in the form this key takes (got "Not Lower")',
        },
      ])
    })
  })

  describe('with a union of objects', () => {
    it('reports only the branch whose discriminator matched', () => {
      const auth = { kind: 'jwt', issuer: 5, audience: 'api' }
      expect(problemsOf({ routes: [route({ auth })] })).toEqual([
        {
          path: 'routes[0].auth.audience',
          reason: 'unknown key (allowed: kind, issuer, clockSkew)',
        },
        { path: 'routes[0].auth.issuer', reason: 'must be a string (got number)' },
      ])
    })

    it('reports problems deep inside the matched branch', () => {
      const auth = { kind: 'apiKey', keys: [], clockSkew: '1s' }
      expect(problemsOf({ routes: [route({ auth })] })).toEqual([
        {
          path: 'routes[0].auth.clockSkew',
          reason: 'unknown key (allowed: kind, header, keys)',
        },
        { path: 'routes[0].auth.keys', reason: 'must have at least 1 item (got 0)' },
      ])
    })

    it('lists the allowed discriminators when none matched', () => {
      expect(problemsOf({ routes: [route({ auth: { kind: 'jwtt', issuer: 'i' } })] })).toEqual([
        { path: 'routes[0].auth.kind', reason: 'must be one of: jwt, apiKey (got "jwtt")' },
      ])
    })

    it('asks for the discriminator when it is missing', () => {
      expect(problemsOf({ routes: [route({ auth: { issuer: 'i' } })] })).toEqual([
        { path: 'routes[0].auth.kind', reason: 'is required (one of: jwt, apiKey)' },
      ])
    })

    it('names the expected type when no branch has the right type', () => {
      expect(problemsOf({ routes: [route({ auth: 'jwt' })] })).toEqual([
        { path: 'routes[0].auth', reason: 'must be an object (got string)' },
      ])
    })

    it('picks the branch with the fewest problems when there is no discriminator', () => {
      const Target = Type.Union([
        Type.Object({ url: Type.String() }, { additionalProperties: false }),
        Type.Object({ host: Type.String(), port: Port() }, { additionalProperties: false }),
      ])
      const target = createValidator(Type.Object({ target: Target }))
      expect(catchError(() => target({ target: { host: 'h', prot: 80 } })).problems).toEqual([
        { path: 'target.port', reason: 'is required' },
        {
          path: 'target.prot',
          reason: 'unknown key (allowed: host, port); did you mean "port"?',
        },
      ])
    })

    it('lists every allowed type of a mixed union', () => {
      const mixed = createValidator(
        Type.Object({ limit: Type.Union([Type.Literal('auto'), Type.Integer(), Type.Null()]) }),
      )
      expect(catchError(() => mixed({ limit: [] })).problems).toEqual([
        { path: 'limit', reason: 'must be auto, an integer or null (got array)' },
      ])
    })
  })

  describe('with keys of records and lists', () => {
    it('quotes keys that are not identifiers', () => {
      expect(problemsOf({ upstreams: { 'my svc': { url: 'u', timeout: 'soon' } } })).toEqual([
        {
          path: 'upstreams["my svc"].timeout',
          reason: 'must be a duration such as 250ms, 60s, 15m, 1h (got "soon")',
        },
      ])
    })

    it('keeps a record key of digits as a key, not a list index', () => {
      expect(problemsOf({ upstreams: { '2': { url: 3 } } })).toEqual([
        { path: 'upstreams["2"].url', reason: 'must be a string (got number)' },
      ])
    })

    it('gives the index of every level of nested lists', () => {
      const routes = [route(), route(), route({ match: { paths: ['/ok', '/fine', 'bad'] } })]
      expect(problemsOf({ routes })).toEqual([
        { path: 'routes[2].match.paths[2]', reason: 'must start with "/" (got "bad")' },
      ])
    })
  })

  describe('with several problems', () => {
    it('orders them by path, with list indexes in numeric order', () => {
      const routes = Array.from({ length: 11 }, (_, i) =>
        route({ name: i === 2 || i === 10 ? '' : `r${i}` }),
      )
      expect(problemsOf({ routes, logLevel: 'x', extra: true }).map((p) => p.path)).toEqual([
        'extra',
        'logLevel',
        'routes[2].name',
        'routes[10].name',
      ])
    })

    it('reports each problem once', () => {
      const twice = createValidator(
        Type.Object({
          a: Type.Intersect([Type.Object({ b: Port() }), Type.Object({ b: Port() })]),
        }),
      )
      expect(catchError(() => twice({ a: { b: 'x' } })).problems).toEqual([
        { path: 'a.b', reason: 'must be an integer (got string)' },
      ])
    })
  })

  describe('with a TypeBox Intersect that forbids other keys', () => {
    it('reports an unknown key with the keys of every part', () => {
      const both = createValidator(
        Type.Intersect([Type.Object({ a: Type.String() }), Type.Object({ b: Type.String() })], {
          unevaluatedProperties: false,
        }),
      )
      expect(catchError(() => both({ a: 'x', b: 'y', bb: 'z' })).problems).toEqual([
        { path: 'bb', reason: 'unknown key (allowed: a, b); did you mean "b"?' },
      ])
    })
  })
})

describe('formatConfigPath', () => {
  it.each([
    ['', ''],
    ['/routes/2/match/paths/0', 'routes[2].match.paths[0]'],
    ['/upstreams/users/timeout', 'upstreams.users.timeout'],
    ['/listeners/http/port', 'listeners.http.port'],
    ['/upstreams/my svc', 'upstreams["my svc"]'],
    ['/headers/x-request-id', 'headers["x-request-id"]'],
    ['/a~1b/c~0d', '["a/b"]["c~d"]'],
    ['/a~01', '["a~1"]'],
    ['/0/name', '[0].name'],
    ['/say/"hi"', 'say["\\"hi\\""]'],
    ['/a/', 'a[""]'],
    ['/a/01', 'a["01"]'],
  ])('turns %j into %s', (pointer, path) => {
    expect(formatConfigPath(pointer)).toBe(path)
  })
})
