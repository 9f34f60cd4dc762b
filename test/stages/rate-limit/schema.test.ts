/**
 * The config rules of rate limiting: `rate_limits:` policies and routes' `rate_limit:`. Every
 * refusal names its path and reason.
 */
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import type { ConfigProblem } from '../../../src/errors.js'
import { configProblems, loadTestConfig } from '../../helpers/config.js'
import { parseRate } from '../../../src/rate-limit/rate.js'

let dir: string
let keyFile: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pcl-rate-limit-config-'))
  keyFile = join(dir, 'key.pem')
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  writeFileSync(keyFile, publicKey.export({ format: 'pem', type: 'spki' }))
})

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

function withIssuer(config: Record<string, unknown>): Record<string, unknown> {
  const issuers = [
    {
      name: 'idp',
      issuer: 'https://idp.test',
      keys: keyFile,
      audiences: ['api'],
      algorithms: ['ES256'],
    },
  ]
  return { issuers, ...config }
}

const load = (config: Record<string, unknown>) => loadTestConfig(withIssuer(config))
const problems = (config: Record<string, unknown>) => configProblems(withIssuer(config))

const paths = (found: ConfigProblem[]) => found.map((p) => p.path)

describe('rate-limit config', () => {
  it('accepts a policy and fills every default', () => {
    const { config, runtime } = load({
      rate_limits: { burst: { rate: '100/s' } },
      routes: [route({ rate_limit: 'burst' })],
    })
    expect(config.rate_limits['burst']).toEqual({
      key: 'consumer',
      algorithm: 'token_bucket',
      rate: '100/s',
      phase: 'post_auth',
      headers: { ietf: true, x_ratelimit: true },
      max_keys: 100_000,
    })
    expect(runtime.table.routeCount).toBe(1)
  })

  it('defaults rate_limits to no policy', () => {
    expect(load({ routes: [route()] }).config.rate_limits).toEqual({})
  })

  it('accepts several policies on a route, tiers, and every key kind', () => {
    const { runtime } = load({
      rate_limits: {
        'per-tier': {
          key: 'claim:tid',
          tier_from: 'claim:plan',
          default_tier: 'free',
          tiers: { free: { rate: '100/min', burst: 20 }, pro: { rate: '1000/min' } },
        },
        'per-ip': { key: 'ip', algorithm: 'sliding_window', rate: '5000/h' },
        'per-header': { key: 'header:X-Api-Client', algorithm: 'fixed_window', rate: '10/day' },
        'per-route': { key: 'route', rate: '1/second' },
        'per-credential': { key: 'credential', rate: '3/m' },
      },
      routes: [
        route({ rate_limit: ['per-tier', 'per-ip', 'per-credential'] }),
        route({
          name: 'public',
          match: { paths: ['/public'] },
          auth: 'none',
          jwt: undefined,
          rate_limit: ['per-ip', 'per-header', 'per-route'],
        }),
      ],
    })
    expect(runtime.table.routeCount).toBe(2)
  })

  it('accepts pre_auth policies keyed by what a request shows before authentication', () => {
    const { runtime } = load({
      rate_limits: {
        attempts: { key: 'ip', phase: 'pre_auth', rate: '10/min' },
        clients: { key: 'header:x-api-client', phase: 'pre_auth', rate: '100/min' },
        everyone: { key: 'route', phase: 'pre_auth', algorithm: 'fixed_window', rate: '1000/s' },
        calls: { key: 'consumer', phase: 'post_auth', rate: '100/min' },
      },
      routes: [
        route({ rate_limit: ['attempts', 'clients', 'everyone', 'calls'] }),
        route({
          name: 'public',
          match: { paths: ['/public'] },
          auth: 'none',
          jwt: undefined,
          rate_limit: 'attempts',
        }),
      ],
    })
    expect(runtime.table.routeCount).toBe(2)
  })

  describe('refuses, naming the path', () => {
    it('a pre_auth policy keyed by the identity, which does not exist yet', () => {
      for (const key of ['consumer', 'credential', 'claim:tid']) {
        const found = problems({
          rate_limits: { p: { key, phase: 'pre_auth', rate: '1/s' } },
          routes: [route({ rate_limit: 'p' })],
        })
        expect(found).toEqual([
          {
            path: 'rate_limits.p.phase',
            reason: `pre_auth counts before authentication, when no request has an identity yet, and key ${key} is read from the identity; key a pre_auth policy by ip, header:<name> or route, or make it post_auth`,
          },
        ])
      }
    })

    it('a pre_auth policy with tiers read from a claim', () => {
      const found = problems({
        rate_limits: {
          p: {
            key: 'ip',
            phase: 'pre_auth',
            tier_from: 'claim:plan',
            default_tier: 'free',
            tiers: { free: { rate: '1/s' } },
          },
        },
        routes: [route({ rate_limit: 'p' })],
      })
      expect(found).toEqual([
        { path: 'rate_limits.p.tier_from', reason: expect.stringContaining('no claim') },
      ])
    })

    it('a phase that is not pre_auth or post_auth', () => {
      const found = problems({
        rate_limits: { p: { key: 'ip', phase: 'before_auth', rate: '1/s' } },
        routes: [],
      })
      expect(found[0]).toMatchObject({
        path: 'rate_limits.p.phase',
        reason: expect.stringContaining('pre_auth'),
      })
    })

    it('an unknown key in a policy', () => {
      const found = problems({
        rate_limits: { p: { rate: '1/s', brust: 3 } },
        routes: [],
      })
      expect(found).toContainEqual(
        expect.objectContaining({
          path: 'rate_limits.p.brust',
          reason: expect.stringContaining('burst'),
        }),
      )
    })

    it('a rate that is not a count per unit', () => {
      for (const rate of ['100', '0/s', '10/week', '1.5/s', '100 / s']) {
        expect(paths(problems({ rate_limits: { p: { rate } }, routes: [] }))).toEqual([
          'rate_limits.p.rate',
        ])
      }
    })

    it('a key that is not one of the kinds', () => {
      for (const key of ['user', 'claim:', 'header:bad header', 'claim:a.b']) {
        expect(paths(problems({ rate_limits: { p: { key, rate: '1/s' } }, routes: [] }))).toEqual([
          'rate_limits.p.key',
        ])
      }
    })

    it('an unknown algorithm', () => {
      const found = problems({
        rate_limits: { p: { rate: '1/s', algorithm: 'leaky' } },
        routes: [],
      })
      expect(found[0]).toMatchObject({
        path: 'rate_limits.p.algorithm',
        reason: expect.stringContaining('token_bucket'),
      })
    })

    it('a policy without a rate', () => {
      expect(problems({ rate_limits: { p: { key: 'ip' } }, routes: [] })).toEqual([
        { path: 'rate_limits.p.rate', reason: expect.stringContaining('is required') },
      ])
    })

    it('tiers without tier_from, and tier_from without tiers', () => {
      expect(
        paths(
          problems({
            rate_limits: {
              'per-tier': { rate: '1/s', tiers: { pro: { rate: '2/s' } } },
              other: { rate: '1/s', tier_from: 'claim:plan' },
            },
            routes: [],
          }),
        ),
      ).toEqual(['rate_limits.per-tier.tier_from', 'rate_limits.other.tiers'])
    })

    it('a default tier that is not a tier', () => {
      const found = problems({
        rate_limits: {
          'per-tier': {
            tier_from: 'claim:plan',
            default_tier: 'gold',
            tiers: { free: { rate: '1/s' }, pro: { rate: '2/s' } },
          },
        },
        routes: [],
      })
      expect(found).toEqual([
        {
          path: 'rate_limits.per-tier.default_tier',
          reason: 'no tier named "gold" (defined: free, pro)',
        },
      ])
    })

    it('tiers with neither a policy rate nor a default tier', () => {
      const found = problems({
        rate_limits: { t: { tier_from: 'claim:plan', tiers: { pro: { rate: '2/s' } } } },
        routes: [],
      })
      expect(found).toEqual([
        { path: 'rate_limits.t.rate', reason: expect.stringContaining('default_tier') },
      ])
    })

    it('a burst on a window algorithm', () => {
      const found = problems({
        rate_limits: {
          w: {
            algorithm: 'fixed_window',
            rate: '10/s',
            burst: 5,
            tier_from: 'claim:plan',
            tiers: { pro: { rate: '20/s', burst: 10 } },
          },
        },
        routes: [],
      })
      expect(paths(found)).toEqual(['rate_limits.w.burst', 'rate_limits.w.tiers.pro.burst'])
      expect(found[0]!.reason).toContain('token_bucket only')
    })

    it('max_keys below one', () => {
      expect(
        paths(problems({ rate_limits: { p: { rate: '1/s', max_keys: 0 } }, routes: [] })),
      ).toEqual(['rate_limits.p.max_keys'])
    })

    it('a route naming a policy that does not exist', () => {
      const found = problems({
        rate_limits: { a: { rate: '1/s' } },
        routes: [
          route({ rate_limit: 'x' }),
          route({ name: 'b', match: { paths: ['/b/*'] }, rate_limit: ['a', 'y'] }),
        ],
      })
      expect(found).toEqual([
        { path: 'routes[0].rate_limit', reason: 'no policy named "x" (defined in rate_limits: a)' },
        {
          path: 'routes[1].rate_limit[1]',
          reason: 'no policy named "y" (defined in rate_limits: a)',
        },
      ])
    })

    it('a route naming one policy twice', () => {
      const found = problems({
        rate_limits: { a: { rate: '1/s' } },
        routes: [route({ rate_limit: ['a', 'a'] })],
      })
      expect(found[0]!.path).toBe('routes[0].rate_limit')
    })

    it('only the policy, not every route, when a named policy is invalid', () => {
      const found = problems({
        rate_limits: { a: { key: 'ip' } },
        routes: [route({ rate_limit: 'a' })],
      })
      expect(paths(found)).toEqual(['rate_limits.a.rate'])
    })

    it('a key from the identity on a public route', () => {
      for (const key of ['consumer', 'credential', 'claim:tid']) {
        const found = problems({
          rate_limits: { p: { key, rate: '1/s' } },
          routes: [route({ auth: 'none', jwt: undefined, rate_limit: ['p'] })],
        })
        expect(found).toEqual([
          {
            path: 'routes[0].rate_limit[0]',
            reason: `policy "p" is keyed by ${key}, which needs an authenticated route; this route is public (auth: none)`,
          },
        ])
      }
    })
  })

  describe('parseRate', () => {
    it('reads every unit', () => {
      expect(parseRate('100/s')).toEqual({ count: 100, windowMs: 1000 })
      expect(parseRate('1000/min')).toEqual({ count: 1000, windowMs: 60_000 })
      expect(parseRate('5000/h')).toEqual({ count: 5000, windowMs: 3_600_000 })
      expect(parseRate('100000/day')).toEqual({ count: 100_000, windowMs: 86_400_000 })
      expect(parseRate('7/fortnight')).toBeNull()
    })
  })
})
