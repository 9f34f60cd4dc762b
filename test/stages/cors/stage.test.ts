/**
 * The cors stage on an in-memory exchange: allowed and refused origins, suffix patterns and their
 * look-alikes, the credentials rules, methods and headers of preflights, the exposed fields
 * (rate-limit ones included) and Vary.
 */
import { describe, expect, it } from 'vitest'
import type { ConfigProblem, Rejection } from '../../../src/errors.js'
import { CorsStage, PREFLIGHT_REFUSED } from '../../../src/stages/cors/index.js'
import { compileCorsPolicy } from '../../../src/stages/cors/policy.js'
import type { CorsConfig } from '../../../src/stages/cors/schema.js'
import { FakeExchange } from '../../helpers/exchange.js'

function stage(config: Partial<CorsConfig>, rateLimitFields: string[] = []): CorsStage {
  const problems: ConfigProblem[] = []
  const policy = compileCorsPolicy(
    {
      origins: ['https://app.example.com'],
      allow_headers: [],
      expose_headers: [],
      credentials: false,
      max_age: '10m',
      ...config,
    },
    'routes[0].cors',
    problems,
  )
  expect(problems).toEqual([])
  return new CorsStage(policy!, rateLimitFields)
}

function request(method: string, headers: Record<string, string>): FakeExchange {
  const exchange = new FakeExchange()
  exchange.method = method
  exchange.headers = Object.entries(headers).flat()
  return exchange
}

/** The response fields an exchange leaves with: the verdict's, then the stage's. */
function fields(exchange: FakeExchange, verdict?: Rejection): Record<string, string> {
  const flat = [...(verdict?.headers ?? []), ...(exchange.responseHeaders ?? [])]
  const out: Record<string, string> = {}
  for (let i = 0; i < flat.length; i += 2) {
    out[flat[i]!] = out[flat[i]!] === undefined ? flat[i + 1]! : `${out[flat[i]!]}, ${flat[i + 1]}`
  }
  return out
}

function corsFields(exchange: FakeExchange, verdict?: Rejection): string[] {
  return Object.keys(fields(exchange, verdict)).filter((n) => n.startsWith('access-control-'))
}

/** Whether an actual GET from `origin` gets Access-Control-Allow-Origin. */
function allows(s: CorsStage, origin: string): boolean {
  const exchange = request('GET', { origin })
  expect(s.onRequest(exchange)).toBeUndefined()
  return fields(exchange)['access-control-allow-origin'] === origin
}

describe('cors', () => {
  describe('on an actual request', () => {
    it('answers an allowed origin with itself, Vary: Origin and no credentials by default', () => {
      const exchange = request('GET', { origin: 'https://app.example.com' })
      expect(stage({}).onRequest(exchange)).toBeUndefined()
      expect(fields(exchange)).toEqual({
        vary: 'origin',
        'access-control-allow-origin': 'https://app.example.com',
      })
    })

    it('adds no CORS field for a refused origin, only Vary, and lets the request go on', () => {
      const exchange = request('GET', { origin: 'https://evil.example.net' })
      expect(stage({ credentials: true }).onRequest(exchange)).toBeUndefined()
      expect(fields(exchange)).toEqual({ vary: 'origin' })
    })

    it('adds Vary: Origin to a request without Origin', () => {
      const exchange = request('GET', {})
      expect(stage({}).onRequest(exchange)).toBeUndefined()
      expect(fields(exchange)).toEqual({ vary: 'origin' })
    })

    it('sends Access-Control-Allow-Credentials with credentials: true', () => {
      const exchange = request('POST', { origin: 'https://app.example.com' })
      stage({ credentials: true }).onRequest(exchange)
      expect(fields(exchange)['access-control-allow-credentials']).toBe('true')
      expect(fields(exchange)['access-control-allow-origin']).toBe('https://app.example.com')
    })

    it('answers * for any origin without credentials, never the origin reflected', () => {
      const exchange = request('GET', { origin: 'https://anyone.test' })
      stage({ origins: ['*'] }).onRequest(exchange)
      expect(fields(exchange)['access-control-allow-origin']).toBe('*')
      expect(fields(exchange)['access-control-allow-credentials']).toBeUndefined()
    })

    it('exposes expose_headers and the rate-limit fields of the route', () => {
      const exchange = request('GET', { origin: 'https://app.example.com' })
      stage({ expose_headers: ['X-Trace', 'RateLimit'] }, ['ratelimit', 'retry-after']).onRequest(
        exchange,
      )
      expect(fields(exchange)['access-control-expose-headers']).toBe(
        'x-trace, ratelimit, retry-after',
      )
    })

    it('treats OPTIONS without Access-Control-Request-Method as an actual request', () => {
      const exchange = request('OPTIONS', { origin: 'https://app.example.com' })
      expect(stage({}).onRequest(exchange)).toBeUndefined()
      expect(fields(exchange)['access-control-allow-origin']).toBe('https://app.example.com')
    })
  })

  describe('origins', () => {
    it('matches exact origins exactly: scheme, host and port', () => {
      const s = stage({ origins: ['https://app.example.com', 'http://localhost:3000'] })
      expect(
        [
          'https://app.example.com',
          'http://localhost:3000',
          'http://app.example.com',
          'https://app.example.com:8443',
          'https://app.example.com.evil.test',
          'https://xapp.example.com',
          'http://localhost:3001',
          'http://localhost',
          'null',
        ].map((o) => allows(s, o)),
      ).toEqual([true, true, false, false, false, false, false, false, false])
    })

    it('compares with the default port dropped and case folded, as browsers send origins', () => {
      const s = stage({ origins: ['HTTPS://App.Example.com:443', 'http://h.test:80'] })
      expect(allows(s, 'https://app.example.com')).toBe(true)
      expect(allows(s, 'http://h.test')).toBe(true)
    })

    it('matches a suffix pattern on one or more whole labels, same scheme and port', () => {
      const s = stage({ origins: ['https://*.example.com'] })
      expect(
        [
          'https://a.example.com',
          'https://a.b.example.com',
          'https://x-1.example.com',
          'https://example.com',
          'https://evil-example.com',
          'https://evilexample.com',
          'https://.example.com',
          'https://a..example.com',
          'http://a.example.com',
          'https://a.example.com:8443',
          'https://a.example.com.evil.test',
          'https://evil.test/.example.com',
          'https://evil.test:1.example.com',
          'https://user@a.example.com',
          'https://A.example.com',
        ].map((o) => allows(s, o)),
      ).toEqual([
        true,
        true,
        true,
        false,
        false,
        false,
        false,
        false,
        false,
        false,
        false,
        false,
        false,
        false,
        false,
      ])
    })

    it('matches a suffix pattern with a port only on that port', () => {
      const s = stage({ origins: ['http://*.dev.test:8080'] })
      expect(allows(s, 'http://a.dev.test:8080')).toBe(true)
      expect(allows(s, 'http://a.dev.test')).toBe(false)
      expect(allows(s, 'http://a.dev.test:80801')).toBe(false)
    })
  })

  describe('on a preflight', () => {
    const preflight = (headers: Record<string, string>) =>
      request('OPTIONS', { origin: 'https://app.example.com', ...headers })

    it('answers 204 with the origin, methods, headers, credentials, max age and Vary', () => {
      const exchange = preflight({
        'access-control-request-method': 'PUT',
        'access-control-request-headers': 'authorization,content-type',
      })
      const verdict = stage({
        methods: ['GET', 'PUT'],
        allow_headers: ['Authorization', 'Content-Type', 'X-Trace'],
        credentials: true,
        max_age: '1h',
      }).onRequest(exchange)
      expect(verdict?.status).toBe(204)
      expect(fields(exchange, verdict)).toEqual({
        'access-control-allow-methods': 'GET, PUT',
        'access-control-allow-headers': 'authorization, content-type, x-trace',
        'access-control-allow-credentials': 'true',
        'access-control-max-age': '3600',
        vary: 'origin, access-control-request-method, access-control-request-headers',
        'access-control-allow-origin': 'https://app.example.com',
      })
    })

    it('answers the method asked about when the policy lists none', () => {
      const exchange = preflight({ 'access-control-request-method': 'DELETE' })
      const verdict = stage({}).onRequest(exchange)
      expect(verdict?.status).toBe(204)
      expect(fields(exchange, verdict)['access-control-allow-methods']).toBe('DELETE')
    })

    it('refuses a refused origin with 403 and no CORS field', () => {
      const exchange = request('OPTIONS', {
        origin: 'https://evil-example.com',
        'access-control-request-method': 'GET',
      })
      const verdict = stage({ origins: ['https://*.example.com'] }).onRequest(exchange)
      expect(verdict).toBe(PREFLIGHT_REFUSED)
      expect(verdict).toMatchObject({ status: 403, code: 'forbidden' })
      expect(corsFields(exchange, verdict)).toEqual([])
    })

    it('refuses a method the policy does not list, and one that is not a token', () => {
      const s = stage({ methods: ['GET', 'POST'] })
      for (const method of ['DELETE', 'GET POST', '']) {
        const exchange = preflight({ 'access-control-request-method': method })
        expect(s.onRequest(exchange), method).toBe(PREFLIGHT_REFUSED)
        expect(corsFields(exchange)).toEqual([])
      }
    })

    it('refuses a preflight asking for a header not allowed, case-insensitively', () => {
      const s = stage({ allow_headers: ['Authorization'] })
      const ok = preflight({
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'AUTHORIZATION',
      })
      expect(s.onRequest(ok)?.status).toBe(204)
      const refused = preflight({
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization, x-other',
      })
      expect(s.onRequest(refused)).toBe(PREFLIGHT_REFUSED)
      expect(corsFields(refused)).toEqual([])
    })

    it('allows any header with allow_headers: [*], answering them by name', () => {
      const exchange = preflight({
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization,x-custom',
      })
      const verdict = stage({ allow_headers: ['*'] }).onRequest(exchange)
      expect(verdict?.status).toBe(204)
      expect(fields(exchange, verdict)['access-control-allow-headers']).toBe(
        'authorization,x-custom',
      )
    })

    it('refuses a header list with a name that is not a token, even with [*]', () => {
      const exchange = preflight({
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'x-a, x b',
      })
      expect(stage({ allow_headers: ['*'] }).onRequest(exchange)).toBe(PREFLIGHT_REFUSED)
    })

    it('answers * to any origin without credentials', () => {
      const exchange = request('OPTIONS', {
        origin: 'https://anyone.test',
        'access-control-request-method': 'GET',
      })
      const verdict = stage({ origins: ['*'] }).onRequest(exchange)
      expect(fields(exchange, verdict)['access-control-allow-origin']).toBe('*')
      expect(fields(exchange, verdict)['access-control-allow-credentials']).toBeUndefined()
    })
  })
})
