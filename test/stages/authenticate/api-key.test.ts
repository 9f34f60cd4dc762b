/**
 * The authenticate stage on routes that take API keys, on an in-memory exchange: where the key is
 * read, what admits it, that every refusal of a present key looks the same to the caller while
 * the audit line says why, and that ambiguous credentials are refused, never guessed.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Rejection } from '../../../src/errors.js'
import type { RouteConfig } from '../../../src/gateway/route-schema.js'
import { IssuerRegistry } from '../../../src/jwt/issuer.js'
import { RevocationList } from '../../../src/jwt/revocation.js'
import type { IssuerConfig } from '../../../src/jwt/schema.js'
import {
  compileAuthenticate,
  type AuthenticateStage,
} from '../../../src/stages/authenticate/index.js'
import { JwtContext } from '../../../src/stages/authenticate/jwt-context.js'
import {
  captureLogger,
  configure,
  keyServices,
  newKey,
  storedKey,
  type ConsumerInput,
  type KeyServicesForTest,
} from '../../helpers/credentials.js'
import { FakeExchange } from '../../helpers/exchange.js'
import { hmacToken, nowSeconds } from '../../helpers/jwt.js'

const SECRET = 'an-hmac-secret-of-at-least-32-bytes!'
const ISS = 'https://keys.test'
const HOUR = 3_600_000
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')

const valid = newKey()
const expired = newKey()
const early = newKey()
const fenced = newKey()
const ofDisabled = newKey()
const revoked = newKey()
const orphan = newKey()
const unknown = newKey()

const CONSUMERS: ConsumerInput[] = [
  {
    name: 'acme',
    groups: ['partners'],
    keys: [
      { hash: valid.hash, scopes: ['orders:read'] },
      { hash: expired.hash, expires_at: iso(Date.now() - HOUR) },
      { hash: early.hash, not_before: iso(Date.now() + HOUR) },
      { hash: fenced.hash, allow_ips: ['10.0.0.0/8', '2001:db8::/32'] },
    ],
  },
  { name: 'retired', disabled: true, keys: [{ hash: ofDisabled.hash }] },
  { name: 'globex', keys: [] },
]

let services: KeyServicesForTest
let audit: Record<string, unknown>[]
let issuers: IssuerRegistry

function route(fields: Partial<RouteConfig> = {}): RouteConfig {
  return {
    name: 'keys',
    match: { paths: ['/*'] },
    upstream: 'u',
    auth: 'api_key',
    forward: { claims: {}, strip_credentials: true },
    strip_path: false,
    websocket: false,
    ...fields,
  }
}

function compile(config: RouteConfig): AuthenticateStage {
  const problems: { path: string; reason: string }[] = []
  const compiled = issuers.compile([issuerConfig()], problems)
  const context = new JwtContext(null, new RevocationList())
  context.resize(100)
  const stage = compileAuthenticate(
    config,
    { name: config.name, path: 'routes[0]', problems },
    {
      issuers: compiled,
      introspectors: new Map(),
      jwt: context,
      logger: captureLogger(audit),
      audit: true,
      ...services,
    },
  )
  expect(problems).toEqual([])
  return stage!
}

function issuerConfig(): IssuerConfig {
  return {
    name: 'idp',
    issuer: ISS,
    secret: SECRET,
    audiences: ['api'],
    algorithms: ['HS256'],
    clock_skew: '60s',
    required_claims: ['exp'],
    scope_claim: 'scope',
    consumer_claim: 'azp',
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
}

function request(headers: string[] = [], query = '', address = '10.1.2.3'): FakeExchange {
  const exchange = new FakeExchange()
  exchange.method = 'GET'
  exchange.headers = headers
  exchange.query = query
  exchange.clientAddress = address
  return exchange
}

function bearer(claims: Record<string, unknown> = {}): string {
  return hmacToken(
    { alg: 'HS256' },
    { iss: ISS, aud: 'api', sub: 'alice', exp: nowSeconds() + 600, ...claims },
    SECRET,
  )
}

beforeAll(async () => {
  issuers = new IssuerRegistry(captureLogger([]))
  issuers.compile([issuerConfig()], [])
  await issuers.startAll()
})

afterAll(() => issuers.closeAll())

beforeEach(() => {
  audit = []
  services = keyServices(CONSUMERS)
  services.credentials.replaceStored(
    [],
    [
      storedKey({ id: 'key_revoked', hash: revoked.hash, consumer: 'acme', state: 'revoked' }),
      storedKey({ id: 'key_orphan', hash: orphan.hash, consumer: 'nobody' }),
    ],
  )
})

describe('authenticate with auth: api_key', () => {
  it('admits a valid key synchronously and fills the identity and the consumer', () => {
    const stage = compile(route())
    const exchange = request(['x-api-key', valid.key])
    expect(stage.onRequest(exchange)).toBeUndefined()
    expect(exchange.identity).toMatchObject({
      method: 'api_key',
      issuer: 'api_key',
      subject: 'acme',
      consumer: 'acme',
      credentialId: expect.stringMatching(/^cfg_/),
    })
    expect([...exchange.identity!.scopes]).toEqual(['orders:read'])
    expect(exchange.consumer?.name).toBe('acme')
    expect(audit.at(-1)).toMatchObject({ method: 'api_key', outcome: 'allow', consumer: 'acme' })
  })

  it('hands every request with one key the same identity object', () => {
    const stage = compile(route())
    const first = request(['x-api-key', valid.key])
    const second = request(['x-api-key', valid.key])
    stage.onRequest(first)
    stage.onRequest(second)
    expect(second.identity).toBe(first.identity)
  })

  it('refuses a request without a key with 401 and the ApiKey challenge', () => {
    const verdict = compile(route({ api_key: apiKey({ realm: 'orders' }) })).onRequest(request())
    expect(verdict).toMatchObject({ status: 401, code: 'unauthorized' })
    expect((verdict as Rejection).headers).toEqual(['www-authenticate', 'ApiKey realm="orders"'])
  })

  describe('when the key is refused', () => {
    const cases: [string, () => string, string?][] = [
      ['malformed', () => 'not-a-key'],
      ['malformed', () => typo(valid.key)],
      ['unknown_key', () => unknown.key],
      ['unknown_consumer', () => orphan.key],
      ['consumer_disabled', () => ofDisabled.key],
      ['revoked', () => revoked.key],
      ['not_yet_valid', () => early.key],
      ['expired', () => expired.key],
    ]

    it('answers every reason with the same 401, and audits each reason', () => {
      const stage = compile(route())
      const verdicts = cases.map(([, key, address]) =>
        stage.onRequest(request(['x-api-key', key()], '', address)),
      )
      for (const verdict of verdicts) expect(verdict).toBe(verdicts[0])
      expect(verdicts[0]).toMatchObject({ status: 401, code: 'invalid_token' })
      expect((verdicts[0] as Rejection).headers).toEqual([
        'www-authenticate',
        'ApiKey realm="portcullis"',
      ])
      expect(audit.map((line) => line['reason'])).toEqual(cases.map(([reason]) => reason))
      // Never the key itself in the audit line.
      for (const line of audit) expect(JSON.stringify(line)).not.toContain(valid.key.slice(8))
    })

    it('refuses a valid key from outside its allow_ips with 403 forbidden, and audits why', () => {
      const stage = compile(route())
      for (const address of ['192.168.1.1', '2001:db9::1', '::ffff:192.168.1.1']) {
        const verdict = stage.onRequest(request(['x-api-key', fenced.key], '', address))
        expect(verdict).toMatchObject({ status: 403, code: 'forbidden', headers: [] })
      }
      expect(audit.map((line) => line['reason'])).toEqual(Array(3).fill('address_not_allowed'))
    })

    it('admits the allow-listed key from inside its blocks, over IPv4, IPv6 and IPv4-mapped', () => {
      const stage = compile(route())
      for (const address of ['10.9.9.9', '2001:db8::7', '::ffff:10.0.0.1']) {
        expect(stage.onRequest(request(['x-api-key', fenced.key], '', address))).toBeUndefined()
      }
    })

    it('refuses a malformed or mistyped key without hashing or looking it up', () => {
      const stage = compile(route())
      const hash = vi.spyOn(services.keyHasher, 'hash')
      const lookup = vi.spyOn(services.credentials, 'keyByHash')
      stage.onRequest(request(['x-api-key', typo(valid.key)]))
      stage.onRequest(request(['x-api-key', valid.key.slice(0, -1)]))
      stage.onRequest(request(['x-api-key', valid.key.replace('pc_test', 'pc_live')]))
      expect(hash).not.toHaveBeenCalled()
      expect(lookup).not.toHaveBeenCalled()
      stage.onRequest(request(['x-api-key', valid.key]))
      expect(lookup).toHaveBeenCalledTimes(1)
    })

    it('sees a consumer disabled after its key was admitted on the next request', () => {
      const stage = compile(route())
      expect(stage.onRequest(request(['x-api-key', valid.key]))).toBeUndefined()
      configure(services, [{ ...CONSUMERS[0]!, disabled: true }, CONSUMERS[1]!])
      expect(stage.onRequest(request(['x-api-key', valid.key]))).toMatchObject({ status: 401 })
      expect(audit.at(-1)).toMatchObject({ reason: 'consumer_disabled' })
    })
  })

  it('counts admitted and refused requests of a known key, and nothing for a malformed one', () => {
    const stage = compile(route())
    stage.onRequest(request(['x-api-key', valid.key], '', '10.0.0.5'))
    stage.onRequest(request(['x-api-key', valid.key], '', '10.0.0.6'))
    stage.onRequest(request(['x-api-key', expired.key]))
    stage.onRequest(request(['x-api-key', typo(valid.key)]))
    const counts = services.keyUsage.drain()
    expect(counts.size).toBe(2)
    const id = (hash: string) => services.credentials.keyByHash(hash)!.id
    expect(counts.get(id(valid.hash))).toMatchObject({
      admitted: 2,
      refused: 0,
      lastAddress: '10.0.0.6',
    })
    expect(counts.get(id(expired.hash))).toMatchObject({ admitted: 0, refused: 1 })
  })

  describe('where the key is read', () => {
    it('reads a configured header, in place of x-api-key', () => {
      const stage = compile(route({ api_key: apiKey({ header: 'X-Partner-Key' }) }))
      expect(stage.onRequest(request(['x-partner-key', valid.key]))).toBeUndefined()
      expect(stage.onRequest(request(['x-api-key', valid.key]))).toMatchObject({ status: 401 })
    })

    it('reads Authorization: ApiKey only when authorization is on', () => {
      const field = ['authorization', `ApiKey ${valid.key}`]
      expect(compile(route()).onRequest(request(field))).toMatchObject({
        status: 401,
        code: 'unauthorized',
      })
      const stage = compile(route({ api_key: apiKey({ authorization: true }) }))
      expect(stage.onRequest(request(field))).toBeUndefined()
      expect(stage.onRequest(request(['authorization', `apikey  ${valid.key}`]))).toBeUndefined()
    })

    it('reads a query parameter only when one is named', () => {
      const query = `api_key=${valid.key}`
      expect(compile(route()).onRequest(request([], query))).toMatchObject({
        code: 'unauthorized',
      })
      const stage = compile(route({ api_key: apiKey({ query: 'api_key' }) }))
      expect(stage.onRequest(request([], query))).toBeUndefined()
    })
  })

  describe('when the request carries two keys', () => {
    const stage = () => compile(route({ api_key: apiKey({ authorization: true, query: 'k' }) }))
    const cases: [string, string[], string][] = [
      ['two header fields', ['x-api-key', valid.key, 'x-api-key', valid.key], ''],
      ['one field listing two', ['x-api-key', `${valid.key}, ${fenced.key}`], ''],
      ['a header and the query', ['x-api-key', valid.key], `k=${fenced.key}`],
      [
        'a header and Authorization',
        ['x-api-key', valid.key, 'authorization', `ApiKey ${valid.key}`],
        '',
      ],
      ['the query twice', [], `k=${valid.key}&k=${valid.key}`],
    ]
    for (const [name, headers, query] of cases) {
      it(`refuses ${name} with 400 invalid_request, valid keys or not`, () => {
        expect(stage().onRequest(request(headers, query))).toMatchObject({
          status: 400,
          code: 'invalid_request',
        })
      })
    }
  })
})

describe('authenticate with auth: { any: [jwt, api_key] }', () => {
  const anyRoute = () =>
    route({
      auth: { any: ['jwt', 'api_key'] },
      jwt: { issuers: ['idp'], header: true, realm: 'portcullis' },
    })

  it('lets the key decide when the request carries only a key', () => {
    const exchange = request(['x-api-key', valid.key])
    expect(compile(anyRoute()).onRequest(exchange)).toBeUndefined()
    expect(exchange.identity?.method).toBe('api_key')
  })

  it('lets the token decide when the request carries only a token', () => {
    const exchange = request(['authorization', `Bearer ${bearer()}`])
    expect(compile(anyRoute()).onRequest(exchange)).toBeUndefined()
    expect(exchange.identity).toMatchObject({ method: 'jwt', subject: 'alice', consumer: null })
  })

  it('refuses a key beside a bearer token with 400 invalid_request, both valid', () => {
    const verdict = compile(anyRoute()).onRequest(
      request(['x-api-key', valid.key, 'authorization', `Bearer ${bearer()}`]),
    )
    expect(verdict).toMatchObject({ status: 400, code: 'invalid_request' })
  })

  it('refuses a key beside a broken Authorization field with 400', () => {
    const verdict = compile(anyRoute()).onRequest(
      request(['x-api-key', valid.key, 'authorization', 'Bearer a b']),
    )
    expect(verdict).toMatchObject({ status: 400 })
  })

  it('challenges with both schemes when the request carries neither', () => {
    const verdict = compile(anyRoute()).onRequest(request()) as Rejection
    expect(verdict).toMatchObject({ status: 401, code: 'unauthorized' })
    expect(verdict.headers).toEqual([
      'www-authenticate',
      'Bearer realm="portcullis"',
      'www-authenticate',
      'ApiKey realm="portcullis"',
    ])
  })
})

describe('authenticate with auth: { all: [api_key, jwt] }', () => {
  const allRoute = () =>
    route({
      auth: { all: ['api_key', 'jwt'] },
      jwt: { issuers: ['idp'], header: true, realm: 'portcullis' },
    })

  it("admits a request carrying both, with the last method's identity and the agreed consumer", () => {
    const exchange = request(['x-api-key', valid.key, 'authorization', `Bearer ${bearer()}`])
    expect(compile(allRoute()).onRequest(exchange)).toBeUndefined()
    expect(exchange.identity).toMatchObject({ method: 'jwt', subject: 'alice' })
    expect(exchange.consumer?.name).toBe('acme')
  })

  it('refuses a request carrying only one of them with the 401 challenge of both', () => {
    for (const headers of [
      ['x-api-key', valid.key],
      ['authorization', `Bearer ${bearer()}`],
    ]) {
      const verdict = compile(allRoute()).onRequest(request(headers)) as Rejection
      expect(verdict).toMatchObject({ status: 401, code: 'unauthorized' })
      expect(verdict.headers.filter((_, i) => i % 2 === 0)).toEqual([
        'www-authenticate',
        'www-authenticate',
      ])
    }
  })

  it('refuses credentials that name different consumers with 401', () => {
    const exchange = request([
      'x-api-key',
      valid.key,
      'authorization',
      `Bearer ${bearer({ azp: 'globex' })}`,
    ])
    const verdict = compile(allRoute()).onRequest(exchange)
    expect(verdict).toMatchObject({ status: 401, code: 'invalid_token' })
    expect(exchange.identity).toBeNull()
    expect(audit.at(-1)).toMatchObject({ method: 'all', reason: 'consumer_mismatch' })
  })

  it('refuses when one method refuses its credential, whatever the other says', () => {
    const verdict = compile(allRoute()).onRequest(
      request(['x-api-key', revoked.key, 'authorization', `Bearer ${bearer({ azp: 'acme' })}`]),
    )
    expect(verdict).toMatchObject({ status: 401, code: 'invalid_token' })
  })
})

describe('authenticate with issuers[].consumer_claim', () => {
  const jwtRoute = () =>
    route({ auth: 'jwt', jwt: { issuers: ['idp'], header: true, realm: 'portcullis' } })
  const withToken = (token: string) => request(['authorization', `Bearer ${token}`])

  it('gives a token naming a known consumer that consumer', () => {
    const exchange = withToken(bearer({ azp: 'acme' }))
    expect(compile(jwtRoute()).onRequest(exchange)).toBeUndefined()
    expect(exchange.identity).toMatchObject({ method: 'jwt', subject: 'alice', consumer: 'acme' })
    expect(exchange.consumer?.groups).toEqual(['partners'])
  })

  it('leaves a token naming no known consumer its issuer and subject identity', () => {
    const exchange = withToken(bearer({ azp: 'stranger' }))
    expect(compile(jwtRoute()).onRequest(exchange)).toBeUndefined()
    expect(exchange.identity).toMatchObject({ issuer: 'idp', subject: 'alice', consumer: null })
    expect(exchange.consumer).toBeNull()
  })

  it('refuses a token naming a disabled consumer with 401', () => {
    const verdict = compile(jwtRoute()).onRequest(withToken(bearer({ azp: 'retired' })))
    expect(verdict).toMatchObject({ status: 401, code: 'invalid_token' })
    expect(audit.at(-1)).toMatchObject({ outcome: 'deny', reason: 'consumer_disabled' })
  })

  it('looks the consumer up per request, so a cached token sees it change', () => {
    const stage = compile(jwtRoute())
    const token = bearer({ azp: 'acme' })
    const first = withToken(token)
    stage.onRequest(first)
    configure(services, [{ ...CONSUMERS[0]!, disabled: true }, CONSUMERS[1]!])
    expect(stage.onRequest(withToken(token))).toMatchObject({ status: 401 })
    configure(services, [{ ...CONSUMERS[0]!, groups: ['gold'] }])
    const later = withToken(token)
    expect(stage.onRequest(later)).toBeUndefined()
    expect(later.identity).toBe(first.identity)
    expect(later.consumer?.groups).toEqual(['gold'])
    configure(services, [])
    const unmapped = withToken(token)
    expect(stage.onRequest(unmapped)).toBeUndefined()
    expect(unmapped.identity).toMatchObject({ subject: 'alice', consumer: null })
  })
})

/** A key with one character of its random part changed: the checksum no longer matches. */
function typo(key: string): string {
  const at = 'pc_test_'.length + 3
  const swapped = key[at] === 'a' ? 'b' : 'a'
  return key.slice(0, at) + swapped + key.slice(at + 1)
}

function apiKey(fields: Partial<NonNullable<RouteConfig['api_key']>>): RouteConfig['api_key'] {
  return { header: 'x-api-key', authorization: false, realm: 'portcullis', ...fields }
}
