import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadGatewayConfig } from '../../../src/config/gateway-config.js'
import { PortcullisError, type ConfigProblem } from '../../../src/errors.js'

let dir: string
const silent = pino({ level: 'silent' })

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-gateway-config-'))
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

function problemsOf(config: unknown): ConfigProblem[] {
  const file = join(dir, 'gateway.json')
  writeFileSync(file, JSON.stringify(config))
  try {
    loadGatewayConfig(file, silent, {})
  } catch (error) {
    if (error instanceof PortcullisError) return [...error.problems]
    throw error
  }
  throw new Error('expected the config to be refused')
}

const ISSUER = {
  name: 'idp',
  issuer: 'https://idp.example.com',
  secret: 'x'.repeat(32),
  audiences: ['api'],
  algorithms: ['HS256'],
}

describe('loadGatewayConfig', () => {
  describe('when a config breaks the schema and its references at once', () => {
    it('lists schema errors, unknown references and overlapping routes together', () => {
      const problems = problemsOf({
        issuers: [ISSUER],
        upstreams: { svc: { targets: ['http://127.0.0.1:9'], timeout: '5 parsecs' } },
        rate_limits: { burst: { key: 'ip', rate: '10/s' } },
        routes: [
          { name: 'a', match: { paths: ['/a/*'] }, upstream: 'svc', auth: 'none', bogus: 1 },
          { name: 'b', match: { paths: ['/a/*'] }, upstream: 'nope', auth: 'none' },
          {
            name: 'c',
            match: { paths: ['/c'] },
            upstream: 'svc',
            auth: 'jwt',
            jwt: { issuers: ['ghost'] },
            rate_limit: ['burst', 'missing'],
          },
          { name: 'a', match: { paths: ['/d'] }, upstream: 'svc', auth: 'none' },
        ],
      })
      expect(problems).toEqual(
        expect.arrayContaining([
          { path: 'routes[0].bogus', reason: expect.stringMatching(/^unknown key/) },
          { path: 'upstreams.svc.timeout', reason: expect.stringMatching(/^must be a duration/) },
          { path: 'routes[1].upstream', reason: 'no upstream named "nope" (defined: svc)' },
          { path: 'routes[2].jwt.issuers[0]', reason: 'no issuer named "ghost" (defined: idp)' },
          {
            path: 'routes[2].rate_limit[1]',
            reason: 'no policy named "missing" (defined in rate_limits: burst)',
          },
          { path: 'routes[3].name', reason: '"a" is already the name of routes[0]' },
          {
            path: 'routes[1].match',
            reason: expect.stringContaining('overlaps route "a" (routes[0]) on path /a/*'),
          },
        ]),
      )
      expect(problems).toHaveLength(7)
    })
  })

  describe('when only references are wrong', () => {
    it('lists unknown references and overlaps in one refusal', () => {
      const problems = problemsOf({
        upstreams: { svc: { targets: ['http://127.0.0.1:9'] } },
        routes: [
          { name: 'a', match: { paths: ['/a'] }, upstream: 'svc', auth: 'none' },
          { name: 'b', match: { paths: ['/a'] }, upstream: 'svc', auth: 'none' },
          { name: 'c', match: { paths: ['/c'] }, upstream: 'other', auth: 'none' },
        ],
      })
      expect(problems.map((p) => p.path).sort()).toEqual(['routes[1].match', 'routes[2].upstream'])
    })
  })

  describe('when a value breaks a pattern', () => {
    it.each([
      [
        'a target that is not a URL',
        { upstreams: { svc: { targets: ['10.0.0.1:80'] } } },
        'upstreams.svc.targets[0]',
      ],
      [
        'a path without its slash',
        { routes: [{ name: 'r', match: { paths: ['api'] }, upstream: 'svc', auth: 'none' }] },
        'routes[0].match.paths[0]',
      ],
      [
        'a host with a port',
        {
          routes: [
            {
              name: 'r',
              match: { hosts: ['a.com:80'], paths: ['/'] },
              upstream: 'svc',
              auth: 'none',
            },
          ],
        },
        'routes[0].match.hosts[0]',
      ],
      [
        'a rate without its unit',
        { rate_limits: { p: { key: 'ip', rate: '100' } } },
        'rate_limits.p.rate',
      ],
      [
        'an unknown limit key',
        { rate_limits: { p: { key: 'user', rate: '1/s' } } },
        'rate_limits.p.key',
      ],
      ['a redis URL of another scheme', { redis: { url: 'http://localhost' } }, 'redis.url'],
      ['a gossip bind that is a name', { gossip: { bind: 'localhost' } }, 'gossip.bind'],
      [
        'an upstream name with a space',
        { upstreams: { 'my svc': { targets: ['http://a'] } } },
        'upstreams["my svc"]',
      ],
    ])('says the rule in words for %s, never the expression', (_, extra, path) => {
      const problems = problemsOf({
        upstreams: { svc: { targets: ['http://127.0.0.1:9'] } },
        routes: [],
        ...extra,
      })
      const problem = problems.find((p) => p.path === path)
      expect(problem?.reason).toMatch(/must be/)
      // No character that only a regular expression would show.
      expect(problem?.reason).not.toMatch(/\^|\$|\\[sd]|\[\^|\]\{|\)\*|\)\?/)
    })
  })
})
