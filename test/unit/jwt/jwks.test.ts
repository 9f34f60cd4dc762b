import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino, { type Logger } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  JwksKeySource,
  MAX_JWKS_BODY_BYTES,
  StaticKeySource,
  createKeySource,
  type JwksKeySourceOptions,
} from '../../../src/jwt/jwks.js'
import type { IssuerConfig, JwksOptions } from '../../../src/jwt/schema.js'
import type { KeySource } from '../../../src/jwt/types.js'
import { startBlackhole } from '../../helpers/blackhole.js'
import { sleep, waitUntil } from '../../helpers/wait.js'

type Handler = (request: IncomingMessage, response: ServerResponse) => void

/** A JWKS endpoint on 127.0.0.1 whose answer a test changes as it goes; it counts requests. */
interface JwksServer {
  readonly url: string
  requests: number
  handler: Handler
  /** Answers 200 with this JSON (and headers) from now on. */
  serve(json: unknown, headers?: OutgoingHttpHeaders): void
  close(): Promise<void>
}

const servers: Server[] = []
const sources: KeySource[] = []
let dir: string
let keyA: KeyObject
let keyB: KeyObject

beforeAll(() => {
  keyA = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
  keyB = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
  dir = mkdtempSync(join(tmpdir(), 'portcullis-jwks-'))
})

afterEach(async () => {
  for (const source of sources.splice(0)) source.close()
  await Promise.all(servers.splice(0).map(closeServer))
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}

async function startServer(): Promise<JwksServer> {
  const server = createServer((request, response) => {
    state.requests++
    state.handler(request, response)
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const state: JwksServer = {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    requests: 0,
    handler: (_request, response) => response.writeHead(404).end(),
    serve(json, headers = {}) {
      const body = JSON.stringify(json)
      state.handler = (_request, response) =>
        response.writeHead(200, { 'content-type': 'application/json', ...headers }).end(body)
    },
    close: () => closeServer(server),
  }
  return state
}

function jwks(...keys: Array<[string, KeyObject]>): { keys: unknown[] } {
  return { keys: keys.map(([kid, key]) => ({ ...key.export({ format: 'jwk' }), kid, use: 'sig' })) }
}

function issuerFor(
  source: { jwks_uri?: string; keys?: string; secret?: string },
  jwksOptions: Partial<JwksOptions> = {},
  algorithms: IssuerConfig['algorithms'] = ['ES256', 'RS256'],
): IssuerConfig {
  return {
    name: 'test-issuer',
    issuer: 'https://issuer.test',
    ...source,
    audiences: ['api'],
    algorithms,
    clock_skew: '60s',
    required_claims: ['exp'],
    scope_claim: 'scope',
    max_token_size: '8KiB',
    cache_size: 0,
    jwks: {
      timeout: '1s',
      refresh: '5m',
      min_refresh: '30s',
      max_refresh: '1h',
      cooldown: '10s',
      stale_for: '24h',
      ...jwksOptions,
    },
  }
}

type LogLine = Record<string, unknown> & { level: number; msg: string }

function captureLogs(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) })
  return { logger, lines }
}

const WARN = 40
const ERROR = 50

function jwksSource(
  server: JwksServer,
  jwksOptions: Partial<JwksOptions> = {},
  options: JwksKeySourceOptions = {},
): { source: JwksKeySource; lines: LogLine[] } {
  const { logger, lines } = captureLogs()
  const source = new JwksKeySource(
    issuerFor({ jwks_uri: server.url }, jwksOptions),
    logger,
    options,
  )
  sources.push(source)
  return { source, lines }
}

function kids(source: KeySource): Array<string | null> {
  return source.candidates(null, 'ES256').map((key) => key.kid)
}

describe('JwksKeySource', () => {
  describe('at start', () => {
    it('fetches the set once and serves its keys by kid and by algorithm', async () => {
      const server = await startServer()
      server.serve(jwks(['a', keyA]))
      let accept: string | undefined
      const serve = server.handler
      server.handler = (request, response) => {
        accept = request.headers.accept
        serve(request, response)
      }
      const { source } = jwksSource(server)
      expect(source.usable).toBe(false)
      expect(source.generation).toBe(0)
      expect(source.candidates('a', 'ES256')).toEqual([])

      await source.start()
      expect(source.usable).toBe(true)
      expect(source.generation).toBe(1)
      expect(source.candidates('a', 'ES256').map((key) => key.kid)).toEqual(['a'])
      expect(kids(source)).toEqual(['a'])
      expect(source.candidates('a', 'RS256')).toEqual([])
      expect(source.candidates('unknown', 'ES256')).toEqual([])
      // The hot path hands out the arrays built at load.
      expect(source.candidates('a', 'ES256')).toBe(source.candidates('a', 'ES256'))
      expect(source.candidates(null, 'ES256')).toBe(source.candidates(null, 'ES256'))
      expect(server.requests).toBe(1)
      expect(accept).toBe('application/jwk-set+json, application/json')
      expect(source.stats).toMatchObject({ fetches: 1, failures: 0, lastError: null })
      expect(source.stats.lastSuccessAt).toBeGreaterThan(0)
    })

    it('resolves after a first failure, never rejects, and logs the reason', async () => {
      const server = await startServer()
      server.handler = (_request, response) => response.writeHead(500).end('oops')
      const { source, lines } = jwksSource(server)
      await expect(source.start()).resolves.toBeUndefined()
      expect(source.start()).toBe(source.start())
      expect(server.requests).toBe(1)
      expect(source.usable).toBe(false)
      expect(source.stats).toMatchObject({ fetches: 1, failures: 1 })
      expect(source.stats.lastError).toBe('status 500, 200 expected')
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: WARN,
          msg: 'jwks refresh failed',
          issuer: 'test-issuer',
          jwks_uri: server.url,
          reason: 'status 500, 200 expected',
        }),
      )
    })

    it('gives up on a host that never completes the connection within timeout', async () => {
      const blackhole = await startBlackhole()
      try {
        const { logger } = captureLogs()
        const issuer = issuerFor(
          { jwks_uri: `http://127.0.0.1:${blackhole.port}/jwks` },
          { timeout: '300ms' },
        )
        const source = new JwksKeySource(issuer, logger)
        sources.push(source)
        const began = Date.now()
        await source.start()
        expect(Date.now() - began).toBeLessThan(1500)
        expect(source.usable).toBe(false)
        expect(source.stats.lastError).toMatch(/no complete answer within 300 ms|Connect Timeout/)
      } finally {
        await blackhole.close()
      }
    })

    it('keeps no timer that holds the process open', async () => {
      const server = await startServer()
      server.serve(jwks(['a', keyA]))
      const { source } = jwksSource(server)
      const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
      const before = timers()
      await source.start()
      expect(source.stats.nextRefreshAt).not.toBeNull()
      expect(timers()).toBe(before)
    })
  })

  describe('when it schedules the next refresh', () => {
    const NOW = 1_700_000_000_000
    it.each([
      ['max-age=600', { 'cache-control': 'max-age=600' }, 600_000],
      [
        'a quoted max-age among other directives',
        { 'cache-control': 'public, max-age="600", must-revalidate' },
        600_000,
      ],
      ['max-age=0 (below min_refresh)', { 'cache-control': 'max-age=0' }, 30_000],
      ['max-age=86400 (above max_refresh)', { 'cache-control': 'max-age=86400' }, 3_600_000],
      ['no-store', { 'cache-control': 'no-store' }, 30_000],
      ['max-age=600 with Age 540', { 'cache-control': 'max-age=600', age: '540' }, 60_000],
      ['no Cache-Control (refresh)', {}, 300_000],
      ['only s-maxage (refresh)', { 'cache-control': 's-maxage=60' }, 300_000],
    ])('honours %s', async (_name, headers, expected) => {
      const server = await startServer()
      server.serve(jwks(['a', keyA]), headers)
      const { source } = jwksSource(server, {}, { now: () => NOW })
      await source.start()
      const delay = source.stats.nextRefreshAt! - NOW
      // Up to 10% earlier, so the workers of a cluster do not refresh in step.
      expect(delay).toBeGreaterThanOrEqual(expected * 0.9)
      expect(delay).toBeLessThanOrEqual(expected)
    })

    it('backs off after failures, 1 s doubling up to refresh, and resets on success', async () => {
      const server = await startServer()
      server.handler = (_request, response) => response.writeHead(503).end()
      const { source } = jwksSource(server, { refresh: '5s', cooldown: '0ms' }, { now: () => NOW })
      await source.start()
      const delays: number[] = []
      delays.push(source.stats.nextRefreshAt! - NOW)
      for (let i = 0; i < 4; i++) {
        await source.refreshForUnknownKid()
        delays.push(source.stats.nextRefreshAt! - NOW)
      }
      const expected = [1000, 2000, 4000, 5000, 5000]
      delays.forEach((delay, i) => {
        expect(delay).toBeGreaterThanOrEqual(expected[i]! * 0.9)
        expect(delay).toBeLessThanOrEqual(expected[i]!)
      })
      server.serve(jwks(['a', keyA]), { 'cache-control': 'max-age=3' })
      await source.refreshForUnknownKid()
      expect(source.stats.nextRefreshAt! - NOW).toBeGreaterThanOrEqual(27_000) // min_refresh 30s
    })
  })

  describe('in the background', () => {
    it('picks up a rotation without any caller waiting', async () => {
      const server = await startServer()
      server.serve(jwks(['a', keyA]))
      const { source, lines } = jwksSource(server, { refresh: '200ms' })
      await source.start()
      server.serve(jwks(['b', keyB]))
      await waitUntil(() => source.candidates('b', 'ES256').length === 1, {
        timeoutMs: 2000,
        intervalMs: 20,
        what: 'the rotated key',
      })
      expect(source.candidates('a', 'ES256')).toEqual([])
      expect(source.generation).toBe(2)
      expect(lines.filter((line) => line.msg === 'jwks keys loaded')).toHaveLength(2)
    })

    it('keeps the generation when a refresh brings the same keys', async () => {
      const server = await startServer()
      server.serve(jwks(['a', keyA], ['b', keyB]))
      const { source } = jwksSource(server, { refresh: '100ms' })
      await source.start()
      const first = source.candidates('a', 'ES256')
      server.serve(jwks(['b', keyB], ['a', keyA])) // same keys, another order
      await waitUntil(() => server.requests >= 3, { timeoutMs: 2000, intervalMs: 20 })
      expect(source.generation).toBe(1)
      expect(source.candidates('a', 'ES256')).toBe(first)
    })

    it('recovers after an outage with the keys the endpoint then serves', async () => {
      const server = await startServer()
      server.serve(jwks(['a', keyA]))
      const { source } = jwksSource(server, { refresh: '200ms' })
      await source.start()
      server.handler = (_request, response) => response.writeHead(502).end()
      await waitUntil(() => source.stats.failures >= 2, { timeoutMs: 2000, intervalMs: 20 })
      expect(kids(source)).toEqual(['a'])
      server.serve(jwks(['b', keyB]))
      await waitUntil(() => kids(source)[0] === 'b', { timeoutMs: 2000, intervalMs: 20 })
      expect(source.usable).toBe(true)
      expect(source.generation).toBe(2)
    })

    it('becomes usable when the endpoint answers after a failed start', async () => {
      const server = await startServer()
      server.handler = (_request, response) => response.writeHead(500).end()
      const { source } = jwksSource(server, { refresh: '200ms' })
      await source.start()
      expect(source.usable).toBe(false)
      server.serve(jwks(['a', keyA]))
      await waitUntil(() => source.usable, { timeoutMs: 2000, intervalMs: 20 })
      expect(kids(source)).toEqual(['a'])
    })
  })

  describe('when a token names an unknown kid', () => {
    it('makes one fetch for 50 concurrent callers', async () => {
      const server = await startServer()
      server.serve(jwks(['a', keyA]))
      const { source } = jwksSource(server)
      await source.start()
      server.serve(jwks(['a', keyA], ['b', keyB]))
      const serve = server.handler
      server.handler = (request, response) => setTimeout(() => serve(request, response), 100)

      const refreshes = Array.from({ length: 50 }, () => source.refreshForUnknownKid())
      expect(refreshes[0]).not.toBeNull()
      expect(refreshes.every((refresh) => refresh === refreshes[0])).toBe(true)
      await Promise.all(refreshes)
      expect(server.requests).toBe(2)
      expect(source.candidates('b', 'ES256')).toHaveLength(1)
      expect(source.generation).toBe(2)
    })

    it('refuses a second refresh within the cooldown', async () => {
      let now = Date.now()
      const server = await startServer()
      server.serve(jwks(['a', keyA]))
      const { source } = jwksSource(server, { cooldown: '10s' }, { now: () => now })
      await source.start()
      await source.refreshForUnknownKid()
      expect(server.requests).toBe(2)
      now += 9_999
      expect(source.refreshForUnknownKid()).toBeNull()
      expect(server.requests).toBe(2)
      now += 1
      await source.refreshForUnknownKid()
      expect(server.requests).toBe(3)
    })
  })

  describe('when the endpoint fails', () => {
    const outages: Array<[string, (server: JwksServer) => void | Promise<void>, RegExp]> = [
      ['answers 500', (s) => (s.handler = (_q, r) => r.writeHead(500).end()), /^status 500/],
      [
        'redirects',
        (s) => (s.handler = (_q, r) => r.writeHead(302, { location: '/x' }).end()),
        /^status 302/,
      ],
      [
        'answers garbage',
        (s) => (s.handler = (_q, r) => r.writeHead(200).end('{"keys": [')),
        /^body is not JSON$/,
      ],
      [
        'answers JSON that is no JWK Set',
        (s) => s.serve({ hello: 'world' }),
        /no usable key .*not a JWK Set/,
      ],
      [
        'answers a set without a usable key',
        (s) => s.serve({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 's' }] }),
        /no usable key .*symmetric key/,
      ],
      ['answers an empty set', (s) => s.serve({ keys: [] }), /no usable key .*the set is empty/],
      ['never answers', (s) => (s.handler = () => undefined), /no complete answer within 300 ms/],
      [
        'stops in the middle of the body',
        (s) =>
          (s.handler = (_q, r) => {
            r.writeHead(200, { 'content-length': '1000' })
            r.write('{"keys":')
          }),
        /no complete answer within 300 ms/,
      ],
      ['refuses connections', (s) => s.close(), /ECONNREFUSED/],
    ]

    it.each(outages)(
      'keeps the last good keys when it %s, and counts the failure',
      async (_name, outage, reason) => {
        const server = await startServer()
        server.serve(jwks(['a', keyA]))
        const { source, lines } = jwksSource(server, { timeout: '300ms', cooldown: '0ms' })
        await source.start()
        await outage(server)
        const began = Date.now()
        await source.refreshForUnknownKid()
        expect(Date.now() - began).toBeLessThan(1000)
        expect(source.usable).toBe(true)
        expect(source.candidates('a', 'ES256')).toHaveLength(1)
        expect(source.generation).toBe(1)
        expect(source.stats).toMatchObject({ fetches: 2, failures: 1 })
        expect(source.stats.lastError).toMatch(reason)
        const warning = lines.find((line) => line.msg === 'jwks refresh failed')
        expect(warning).toMatchObject({ level: WARN, issuer: 'test-issuer', jwks_uri: server.url })
        expect(warning?.reason).toMatch(reason)
      },
    )

    it('logs the keys it skipped once, not at every refresh', async () => {
      const server = await startServer()
      const set = jwks(['a', keyA])
      set.keys.push({ ...keyB.export({ format: 'jwk' }), kid: 'enc', use: 'enc' })
      server.serve(set)
      const { source, lines } = jwksSource(server, { cooldown: '0ms' })
      await source.start()
      await source.refreshForUnknownKid()
      const skipped = lines.filter((line) => line.msg === 'jwks keys skipped')
      expect(skipped).toHaveLength(1)
      expect(skipped[0]!.problems).toEqual(['key "enc": use "enc" is not sig'])
    })

    it('stops reading a body over the limit', async () => {
      const server = await startServer()
      server.serve(jwks(['a', keyA]))
      const { source } = jwksSource(server, { cooldown: '0ms' })
      await source.start()
      let sent = 0
      let closed = false
      server.handler = (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' })
        response.on('close', () => (closed = true))
        const chunk = Buffer.alloc(64 * 1024, 0x20)
        const pump = () => {
          // Bounded: a client that never stops would make the test fail, not hang.
          while (!response.destroyed && sent < 64 * MAX_JWKS_BODY_BYTES && response.write(chunk)) {
            sent += chunk.length
          }
        }
        response.on('drain', pump)
        pump()
      }
      await source.refreshForUnknownKid()
      expect(source.stats.lastError).toBe(`body exceeds ${MAX_JWKS_BODY_BYTES} bytes`)
      await waitUntil(() => closed, {
        timeoutMs: 2000,
        what: 'the server to see the connection close',
      })
      expect(sent).toBeLessThan(16 * MAX_JWKS_BODY_BYTES)
      expect(kids(source)).toEqual(['a'])
    })

    it('refuses a declared Content-Length over the limit before reading', async () => {
      const server = await startServer()
      server.serve(jwks(['a', keyA]))
      const { source } = jwksSource(server, { cooldown: '0ms' })
      await source.start()
      server.handler = (_request, response) => {
        response.writeHead(200, { 'content-length': String(2 * MAX_JWKS_BODY_BYTES) })
        response.write('{"keys": [')
      }
      await source.refreshForUnknownKid()
      expect(source.stats.lastError).toBe(
        `body of ${2 * MAX_JWKS_BODY_BYTES} bytes exceeds ${MAX_JWKS_BODY_BYTES}`,
      )
    })
  })

  describe('when the keys grow stale', () => {
    it('is no longer usable once stale_for has passed since the last success', async () => {
      let now = Date.now()
      const server = await startServer()
      server.serve(jwks(['a', keyA]))
      const { source, lines } = jwksSource(
        server,
        { stale_for: '1h', cooldown: '0ms' },
        { now: () => now },
      )
      await source.start()
      server.handler = (_request, response) => response.writeHead(500).end()
      now += 59 * 60_000
      await source.refreshForUnknownKid()
      expect(source.usable).toBe(true)
      expect(lines.some((line) => line.level === ERROR)).toBe(false)

      now += 60_000
      expect(source.usable).toBe(false)
      expect(source.candidates('a', 'ES256')).toEqual([])
      expect(kids(source)).toEqual([])
      await source.refreshForUnknownKid()
      await source.refreshForUnknownKid()
      const errors = lines.filter((line) => line.level === ERROR)
      expect(errors).toHaveLength(1)
      expect(errors[0]!.msg).toMatch(/^jwks keys expired/)

      server.serve(jwks(['a', keyA]))
      await source.refreshForUnknownKid()
      expect(source.usable).toBe(true)
      expect(source.generation).toBe(1)
    })
  })

  describe('close()', () => {
    it('stops the background refreshes and the refreshes on demand', async () => {
      const server = await startServer()
      server.serve(jwks(['a', keyA]))
      const { source } = jwksSource(server, { refresh: '50ms', cooldown: '0ms' })
      await source.start()
      source.close()
      const requests = server.requests
      expect(source.stats.nextRefreshAt).toBeNull()
      expect(source.refreshForUnknownKid()).toBeNull()
      await sleep(250)
      expect(server.requests).toBe(requests)
    })

    it('ends a fetch in flight at once, without counting a failure', async () => {
      const server = await startServer()
      server.handler = () => undefined
      const { source, lines } = jwksSource(server, { timeout: '5s' })
      const started = source.start()
      await waitUntil(() => server.requests === 1, { timeoutMs: 2000, intervalMs: 10 })
      const began = Date.now()
      source.close()
      await started
      expect(Date.now() - began).toBeLessThan(500)
      expect(source.stats.failures).toBe(0)
      expect(lines.filter((line) => line.level >= WARN)).toEqual([])
      expect(source.stats.nextRefreshAt).toBeNull()
    })
  })
})

describe('StaticKeySource', () => {
  let counter = 0
  function file(content: string): string {
    const path = join(dir, `keys-${++counter}`)
    writeFileSync(path, content)
    return path
  }

  it('serves the keys of a PEM file to tokens with or without a kid', () => {
    const pem = keyA.export({ format: 'pem', type: 'spki' }).toString()
    const { source, problems } = StaticKeySource.fromIssuer(issuerFor({ keys: file(pem) }))
    expect(problems).toEqual([])
    expect(source.usable).toBe(true)
    expect(source.generation).toBe(1)
    expect(source.candidates(null, 'ES256')).toHaveLength(1)
    // A PEM key has no kid to compare: a token's kid falls back to the keys without one.
    expect(source.candidates('any-kid', 'ES256')).toEqual(source.candidates(null, 'ES256'))
    expect(source.candidates(null, 'RS256')).toEqual([])
    expect(source.refreshForUnknownKid()).toBeNull()
  })

  it('serves a JWK Set file by kid, with nothing for an unknown kid', () => {
    const path = file(JSON.stringify(jwks(['a', keyA], ['b', keyB])))
    const { source } = StaticKeySource.fromIssuer(issuerFor({ keys: path }))
    expect(source.candidates('b', 'ES256').map((key) => key.kid)).toEqual(['b'])
    expect(source.candidates('c', 'ES256')).toEqual([])
    expect(kids(source)).toEqual(['a', 'b'])
  })

  it('serves a secret to HS tokens', async () => {
    const issuer = issuerFor({ secret: 's'.repeat(32) }, {}, ['HS256'])
    const { source, problems } = StaticKeySource.fromIssuer(issuer)
    expect(problems).toEqual([])
    expect(source.candidates('k1', 'HS256')).toHaveLength(1)
    await expect(source.start()).resolves.toBeUndefined()
  })

  it('reports the problems of a file and is not usable without a key', () => {
    const { source, problems } = StaticKeySource.fromIssuer(issuerFor({ keys: file('nothing') }))
    expect(source.usable).toBe(false)
    expect(problems[0]!.reason).toMatch(/holds no PEM block/)
    const empty = StaticKeySource.fromIssuer(issuerFor({ keys: file('{"keys": []}') }))
    expect(empty.problems[0]!.reason).toMatch(/^no usable key in /)
  })
})

describe('createKeySource', () => {
  const { logger } = captureLogs()

  it('chooses a JWKS source for jwks_uri', () => {
    const { source, problems } = createKeySource(
      issuerFor({ jwks_uri: 'http://127.0.0.1:9/jwks' }),
      logger,
    )
    sources.push(source)
    expect(source).toBeInstanceOf(JwksKeySource)
    expect(problems).toEqual([])
  })

  it('chooses a static source for keys and secret, with problems as lines', () => {
    const keys = createKeySource(issuerFor({ keys: join(dir, 'missing.pem') }), logger)
    expect(keys.source).toBeInstanceOf(StaticKeySource)
    expect(keys.problems[0]).toMatch(/^cannot read .*missing\.pem/)
    const secret = createKeySource(
      issuerFor({ secret: 'x'.repeat(40) }, {}, ['HS256', 'HS384']),
      logger,
    )
    expect(secret.problems).toEqual([
      'HS384 needs a secret of at least 48 bytes (RFC 7518 §3.2); this one has 40',
    ])
  })

  it('refuses algorithms that the kind of key cannot verify (RFC 8725 §2.1)', () => {
    const jwks = createKeySource(
      issuerFor({ jwks_uri: 'http://127.0.0.1:9/' }, {}, ['RS256', 'HS256']),
      logger,
    )
    sources.push(jwks.source)
    expect(jwks.problems).toEqual([
      'algorithm HS256 needs a secret: a public key never verifies an HMAC token',
    ])
    const secret = createKeySource(
      issuerFor({ secret: 'x'.repeat(32) }, {}, ['HS256', 'ES256']),
      logger,
    )
    expect(secret.problems).toEqual([
      'algorithm ES256 cannot be verified with a secret: use jwks_uri or keys',
    ])
  })

  it('needs exactly one of jwks_uri, keys and secret', () => {
    for (const source of [{}, { jwks_uri: 'http://127.0.0.1:9/', secret: 'x'.repeat(32) }]) {
      const result = createKeySource(issuerFor(source), logger)
      expect(result.problems).toEqual(['exactly one of jwks_uri, keys and secret is required'])
      expect(result.source.usable).toBe(false)
    }
  })
})
