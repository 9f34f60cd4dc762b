/**
 * The rate-limit stage on an in-memory exchange, with the clock in the test's hands: algorithm
 * semantics (refill, bursts, window edges, the sliding approximation), keys and tiers, several
 * policies on one route, the exact header values, the bound on keys, the gossip and Redis seams,
 * and shareOf.
 */
import { beforeEach, describe, expect, it } from 'vitest'
import type { ConfigProblem, Rejection } from '../../../src/errors.js'
import type { Identity } from '../../../src/identity.js'
import type { RouteConfig } from '../../../src/gateway/route-schema.js'
import {
  compileRateLimit,
  type RateLimitStage,
  type RateLimitStages,
} from '../../../src/stages/rate-limit/index.js'
import { RateLimitRegistry } from '../../../src/rate-limit/registry.js'
import type { RateLimitPolicyConfig } from '../../../src/rate-limit/schema.js'
import { FakeExchange } from '../../helpers/exchange.js'

/** 2024-01-01T00:00:00Z: a minute, hour and day boundary. */
const T0 = Date.UTC(2024, 0, 1)
let clock = T0
let registry: RateLimitRegistry

beforeEach(() => {
  clock = T0
  registry = new RateLimitRegistry({ now: () => clock })
})

function policy(extra: Partial<RateLimitPolicyConfig> = {}): RateLimitPolicyConfig {
  return {
    key: 'ip',
    algorithm: 'token_bucket',
    headers: { ietf: true, x_ratelimit: true },
    max_keys: 100_000,
    ...extra,
  }
}

function route(rateLimit: string | string[], auth: RouteConfig['auth'] = 'jwt'): RouteConfig {
  return {
    name: 'api',
    match: { paths: ['/*'] },
    upstream: 'u',
    auth,
    rate_limit: rateLimit as RouteConfig['rate_limit'],
    forward: { claims: {}, strip_credentials: true },
    strip_path: false,
    websocket: false,
  }
}

/** Compiles policies and one route using `use`; expects no problems. */
function stagesOf(
  policies: Record<string, RateLimitPolicyConfig>,
  use: string | string[] = Object.keys(policies),
  r: RateLimitRegistry = registry,
): RateLimitStages {
  const problems: ConfigProblem[] = []
  const compiled = r.compile(policies, problems)
  const site = { name: 'api', path: 'routes[0]', problems }
  const stages = compileRateLimit(route(use), site, false, compiled, r.now)
  expect(problems).toEqual([])
  r.sweep()
  return stages!
}

/** The one stage of a route whose policies are all of one phase. */
function stageOf(
  policies: Record<string, RateLimitPolicyConfig>,
  use: string | string[] = Object.keys(policies),
  r: RateLimitRegistry = registry,
): RateLimitStage {
  const { preAuth, postAuth } = stagesOf(policies, use, r)
  expect(preAuth === null || postAuth === null).toBe(true)
  return (postAuth ?? preAuth)!
}

function identity(claims: Record<string, unknown> = {}, subject = 'alice'): Identity {
  return {
    method: 'jwt',
    issuer: 'idp',
    subject,
    scopes: new Set(),
    claims: { sub: subject, ...claims },
    consumer: null,
    credentialId: null,
    forwarded: null,
  }
}

interface Request {
  ip?: string
  headers?: string[]
  identity?: Identity | null
}

function exchange(request: Request = {}): FakeExchange {
  const ex = new FakeExchange()
  ex.method = 'GET'
  ex.clientAddress = request.ip ?? '192.0.2.1'
  ex.headers = request.headers ?? []
  ex.identity = request.identity ?? null
  return ex
}

function send(stage: RateLimitStage, request: Request = {}) {
  return sendThrough([stage], request)
}

/** One request through `stages` in order, as the pipeline runs them: up to the first verdict. */
function sendThrough(stages: readonly RateLimitStage[], request: Request = {}) {
  const ex = exchange(request)
  let verdict: Rejection | undefined
  for (const stage of stages) {
    verdict = stage.onRequest(ex) as Rejection | undefined
    if (verdict !== undefined) break
  }
  const headers: Record<string, string> = {}
  const list = ex.responseHeaders ?? []
  for (let i = 0; i < list.length; i += 2) {
    // A field sent twice would hide here: the test sees it as a failure.
    if (headers[list[i]!] !== undefined) throw new Error(`${list[i]} written twice`)
    headers[list[i]!] = list[i + 1]!
  }
  return { verdict, headers, status: verdict?.status ?? 200, exchange: ex }
}

/** Statuses of `n` requests sent at the current clock. */
function burst(stage: RateLimitStage, n: number, request: Request = {}): number[] {
  return Array.from({ length: n }, () => send(stage, request).status)
}

const admitted = (statuses: number[]) => statuses.filter((s) => s === 200).length

describe('rate-limit', () => {
  describe('token bucket', () => {
    it('admits a full burst at once, then refuses with 429 rate_limited', () => {
      const stage = stageOf({ b: policy({ rate: '10/s', burst: 5 }) })
      expect(burst(stage, 5)).toEqual([200, 200, 200, 200, 200])
      const refused = send(stage)
      expect(refused.verdict).toMatchObject({ status: 429, code: 'rate_limited' })
    })

    it('refills at the rate: one token every 100 ms at 10/s', () => {
      const stage = stageOf({ b: policy({ rate: '10/s', burst: 5 }) })
      burst(stage, 5)
      clock += 99
      expect(send(stage).status).toBe(429)
      clock += 1
      expect(send(stage).status).toBe(200)
      expect(send(stage).status).toBe(429)
      clock += 1000
      // Refilled to the burst, never past it.
      expect(admitted(burst(stage, 20))).toBe(5)
    })

    it('defaults the burst to the count of the rate', () => {
      const stage = stageOf({ b: policy({ rate: '1000/min' }) })
      expect(admitted(burst(stage, 1100))).toBe(1000)
    })

    it('answers Retry-After with the seconds until a token is back, rounded up', () => {
      const stage = stageOf({ b: policy({ rate: '6/min', burst: 1 }) })
      send(stage)
      clock += 3500
      const refused = send(stage)
      expect(refused.headers['retry-after']).toBe('7')
      clock += 6500
      expect(send(stage).status).toBe(200)
    })

    it('writes the exact IETF and X-RateLimit fields', () => {
      const stage = stageOf({ burst: policy({ rate: '100/min', burst: 100 }) })
      const first = send(stage)
      // 99 tokens left; one token is back in 0.6 s: whole again in 1 s (rounded up).
      expect(first.headers).toEqual({
        'ratelimit-policy': '"burst";q=100;w=60',
        ratelimit: '"burst";r=99;t=1',
        'x-ratelimit-limit': '100',
        'x-ratelimit-remaining': '99',
        'x-ratelimit-reset': '1',
      })
      burst(stage, 99)
      // Empty: whole again in 60 s, but a token is back in 0.6 s, which the refusal reports.
      const refused = send(stage)
      expect(refused.headers).toEqual({
        'ratelimit-policy': '"burst";q=100;w=60',
        ratelimit: '"burst";r=0;t=1',
        'x-ratelimit-limit': '100',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': '1',
        'retry-after': '1',
      })
    })

    it('reports a smaller burst with the time it takes to fill as the window', () => {
      const stage = stageOf({ b: policy({ rate: '1000/min', burst: 100 }) })
      expect(send(stage).headers['ratelimit-policy']).toBe('"b";q=100;w=6')
    })

    it('sends only the families the policy enables, and Retry-After always', () => {
      const stage = stageOf({
        quiet: policy({ rate: '1/min', headers: { ietf: false, x_ratelimit: false } }),
      })
      expect(send(stage).headers).toEqual({})
      expect(send(stage).headers).toEqual({ 'retry-after': '60' })
      const ietfOnly = stageOf({
        i: policy({ rate: '1/min', headers: { ietf: true, x_ratelimit: false } }),
      })
      expect(Object.keys(send(ietfOnly).headers)).toEqual(['ratelimit-policy', 'ratelimit'])
    })
  })

  describe('fixed window', () => {
    it('admits the quota per calendar window and resets at the edge', () => {
      const stage = stageOf({ f: policy({ algorithm: 'fixed_window', rate: '3/min' }) })
      clock = T0 + 59_000
      expect(burst(stage, 4)).toEqual([200, 200, 200, 429])
      expect(send(stage).headers['retry-after']).toBe('1')
      clock = T0 + 60_000
      // Twice the rate across the edge: the known weakness of fixed windows.
      expect(burst(stage, 4)).toEqual([200, 200, 200, 429])
    })

    it('writes remaining and the seconds to the window end', () => {
      const stage = stageOf({ f: policy({ algorithm: 'fixed_window', rate: '10/min' }) })
      clock = T0 + 15_500
      expect(send(stage).headers).toMatchObject({
        'ratelimit-policy': '"f";q=10;w=60',
        ratelimit: '"f";r=9;t=45',
      })
    })
  })

  describe('sliding window', () => {
    it('weighs the previous window by the part the sliding window still covers', () => {
      const stage = stageOf({ s: policy({ algorithm: 'sliding_window', rate: '10/min' }) })
      expect(admitted(burst(stage, 10))).toBe(10)
      // A quarter into the next window, 75% of the previous 10 still count: 2 more fit.
      clock = T0 + 75_000
      expect(burst(stage, 3)).toEqual([200, 200, 429])
      // Half-way: 5 of the previous count, plus the 2 of this window: 3 more.
      clock = T0 + 90_000
      expect(admitted(burst(stage, 5))).toBe(3)
    })

    it('forgets a window older than the previous one', () => {
      const stage = stageOf({ s: policy({ algorithm: 'sliding_window', rate: '10/min' }) })
      burst(stage, 10)
      clock = T0 + 120_000
      expect(admitted(burst(stage, 11))).toBe(10)
    })

    it('answers Retry-After with the time until the weighted count leaves room', () => {
      const stage = stageOf({ s: policy({ algorithm: 'sliding_window', rate: '10/min' }) })
      burst(stage, 10)
      clock = T0 + 75_000
      burst(stage, 2)
      // 10 × (1 − e/60) + 2 ≤ 9 when e ≥ 18 s: 3 s from now.
      const refused = send(stage)
      expect(refused.status).toBe(429)
      expect(refused.headers['retry-after']).toBe('3')
      clock = T0 + 78_000
      expect(send(stage).status).toBe(200)
    })

    it('waits into the next window when this one is full on its own', () => {
      const stage = stageOf({ s: policy({ algorithm: 'sliding_window', rate: '4/min' }) })
      clock = T0 + 30_000
      burst(stage, 4)
      // In the next window the 4 weigh 4 × (1 − e/60) ≤ 3 when e ≥ 15 s: 30 + 15 s from now.
      expect(send(stage).headers['retry-after']).toBe('45')
    })
  })

  describe('keys', () => {
    it('counts client addresses apart', () => {
      const stage = stageOf({ p: policy({ rate: '1/min' }) })
      expect(send(stage, { ip: '192.0.2.1' }).status).toBe(200)
      expect(send(stage, { ip: '192.0.2.2' }).status).toBe(200)
      expect(send(stage, { ip: '192.0.2.1' }).status).toBe(429)
    })

    it('counts by a claim, and by the client address when the claim is missing', () => {
      const stage = stageOf({ p: policy({ key: 'claim:tid', rate: '1/min' }) })
      expect(send(stage, { identity: identity({ tid: 't1' }) }).status).toBe(200)
      expect(send(stage, { identity: identity({ tid: 't1' }, 'bob') }).status).toBe(429)
      expect(send(stage, { identity: identity({ tid: 't2' }) }).status).toBe(200)
      expect(send(stage, { identity: identity({}) }).status).toBe(200)
      expect(send(stage, { identity: identity({}, 'bob') }).status).toBe(429)
      // The address fallback never shares a counter with a claim equal to the address.
      expect(send(stage, { identity: identity({ tid: '192.0.2.1' }) }).status).toBe(200)
    })

    it('counts by a header, case-insensitively named', () => {
      const stage = stageOf({ p: policy({ key: 'header:X-API-Client', rate: '1/min' }) })
      expect(send(stage, { headers: ['x-api-client', 'a'] }).status).toBe(200)
      expect(send(stage, { headers: ['x-api-client', 'a'], ip: '192.0.2.9' }).status).toBe(429)
      expect(send(stage, { headers: ['x-api-client', 'b'] }).status).toBe(200)
    })

    it('counts by consumer: issuer and subject', () => {
      const stage = stageOf({ p: policy({ key: 'consumer', rate: '1/min' }) })
      expect(send(stage, { identity: identity({}, 'alice') }).status).toBe(200)
      expect(send(stage, { identity: identity({}, 'alice'), ip: '192.0.2.7' }).status).toBe(429)
      expect(send(stage, { identity: identity({}, 'bob') }).status).toBe(200)
    })

    it('counts by credential: the token’s jti', () => {
      const stage = stageOf({ p: policy({ key: 'credential', rate: '1/min' }) })
      expect(send(stage, { identity: identity({ jti: 'j1' }) }).status).toBe(200)
      expect(send(stage, { identity: identity({ jti: 'j2' }) }).status).toBe(200)
      expect(send(stage, { identity: identity({ jti: 'j1' }) }).status).toBe(429)
    })

    it('counts the whole route as one key', () => {
      const stage = stageOf({ p: policy({ key: 'route', rate: '2/min' }) })
      expect(send(stage, { ip: '192.0.2.1' }).status).toBe(200)
      expect(send(stage, { ip: '192.0.2.2' }).status).toBe(200)
      expect(send(stage, { ip: '192.0.2.3' }).status).toBe(429)
    })
  })

  describe('tiers', () => {
    const tiered = () =>
      stageOf({
        'per-tier': policy({
          key: 'consumer',
          tier_from: 'claim:plan',
          default_tier: 'free',
          tiers: {
            free: { rate: '2/min' },
            pro: { rate: '5/min' },
          },
        }),
      })

    it('gives each tier its rate, read from the claim', () => {
      const stage = tiered()
      expect(admitted(burst(stage, 10, { identity: identity({ plan: 'pro' }, 'p') }))).toBe(5)
      expect(admitted(burst(stage, 10, { identity: identity({ plan: 'free' }, 'f') }))).toBe(2)
    })

    it('gives the default tier to a missing or unknown tier', () => {
      const stage = tiered()
      expect(admitted(burst(stage, 10, { identity: identity({}, 'a') }))).toBe(2)
      expect(admitted(burst(stage, 10, { identity: identity({ plan: 'gold' }, 'b') }))).toBe(2)
    })

    it('reports the tier’s quota in the headers', () => {
      const stage = tiered()
      expect(send(stage, { identity: identity({ plan: 'pro' }) }).headers).toMatchObject({
        'ratelimit-policy': '"per-tier";q=5;w=60',
        'x-ratelimit-limit': '5',
      })
    })

    it('falls back to the policy rate when there is no default tier', () => {
      const stage = stageOf({
        p: policy({
          key: 'consumer',
          rate: '1/min',
          tier_from: 'claim:plan',
          tiers: { pro: { rate: '3/min' } },
        }),
      })
      expect(admitted(burst(stage, 5, { identity: identity({}, 'x') }))).toBe(1)
      expect(admitted(burst(stage, 5, { identity: identity({ plan: 'pro' }, 'y') }))).toBe(3)
    })
  })

  describe('several policies on one route', () => {
    const both = () =>
      stageOf({
        second: policy({ rate: '3/s' }),
        minute: policy({ algorithm: 'fixed_window', rate: '5/min' }),
      })

    it('admits only what every policy admits', () => {
      const stage = both()
      expect(burst(stage, 4)).toEqual([200, 200, 200, 429])
      clock += 1000
      expect(burst(stage, 4)).toEqual([200, 200, 429, 429])
    })

    it('reports the policy with the least remaining', () => {
      const stage = both()
      // second: 2 of 3 left; minute: 4 of 5.
      expect(send(stage).headers['ratelimit']).toBe('"second";r=2;t=1')
      send(stage)
      send(stage)
      clock += 1000
      // second: refilled, 2 of 3 left; minute: 1 of 5 left until the window ends.
      expect(send(stage).headers['ratelimit']).toBe('"minute";r=1;t=59')
    })

    it('consumes nothing from the others when one refuses', () => {
      const stage = both()
      burst(stage, 3)
      // Refused by "second": "minute" must still have 2 of its 5.
      burst(stage, 10)
      clock += 1000
      expect(burst(stage, 3)).toEqual([200, 200, 429])
    })
  })

  describe('Retry-After and the reset of a refusal', () => {
    /** The reset a refused response reports, in both families, and its Retry-After. */
    const resets = (refused: ReturnType<typeof send>) => {
      expect(refused.status).toBe(429)
      return {
        t: /;t=(\d+)$/.exec(refused.headers['ratelimit']!)![1],
        x: refused.headers['x-ratelimit-reset'],
        retryAfter: refused.headers['retry-after'],
      }
    }

    it('agree for a token bucket, whose refill of one token comes before it is whole', () => {
      const stage = stageOf({ b: policy({ rate: '10/min' }) })
      burst(stage, 10)
      clock += 1500
      // 0.25 of a token back: the next one in 4.5 s, the whole bucket in 58.5 s.
      expect(resets(send(stage))).toEqual({ t: '5', x: '5', retryAfter: '5' })
    })

    it('agree for a sliding window, whose room comes back before both windows slide out', () => {
      const stage = stageOf({ s: policy({ algorithm: 'sliding_window', rate: '10/min' }) })
      clock = T0 + 15_000
      burst(stage, 10)
      // Room for one once this window's 10, sliding out of view, weigh 9: at 66 s, in 51 s.
      expect(resets(send(stage))).toEqual({ t: '51', x: '51', retryAfter: '51' })
    })

    it('agree for a fixed window, at its end', () => {
      const stage = stageOf({ f: policy({ algorithm: 'fixed_window', rate: '10/min' }) })
      clock = T0 + 15_000
      burst(stage, 10)
      expect(resets(send(stage))).toEqual({ t: '45', x: '45', retryAfter: '45' })
    })

    it('agree for a fixed window refused by the share rule, which waits for the peers', () => {
      const stage = stageOf({ f: policy({ algorithm: 'fixed_window', rate: '100/min' }) })
      registry.peers = 4
      try {
        burst(stage, 25)
        expect(resets(send(stage))).toEqual({ t: '1', x: '1', retryAfter: '1' })
      } finally {
        registry.peers = 1
      }
    })

    it('agree for a quota whose first lease is still in flight', () => {
      // No lease source here: as with Redis down, the key holds no unit yet.
      const stage = stageOf({
        q: policy({ quota: { limit: 100, period: 'day', block: 'auto', on_redis_down: 'deny' } }),
      })
      expect(resets(send(stage))).toEqual({ t: '1', x: '1', retryAfter: '1' })
    })

    it('leaves an admitted response its reset: when the quota is whole again', () => {
      const stage = stageOf({ b: policy({ rate: '10/min' }) })
      burst(stage, 9)
      expect(send(stage).headers['ratelimit']).toBe('"b";r=0;t=60')
    })
  })

  describe('phases', () => {
    const pre = (extra: Partial<RateLimitPolicyConfig> = {}) =>
      policy({ phase: 'pre_auth', ...extra })

    it('puts pre_auth policies in a stage of their own, ranked before authenticate', () => {
      const { preAuth, postAuth } = stagesOf({
        attempts: pre({ rate: '10/min' }),
        calls: policy({ key: 'consumer', rate: '100/min' }),
        clients: pre({ key: 'header:x-client', rate: '20/min' }),
      })
      expect(preAuth!.name).toBe('rate-limit-pre-auth')
      expect(preAuth!.policies.map((p) => p.name)).toEqual(['attempts', 'clients'])
      expect(postAuth!.name).toBe('rate-limit')
      expect(postAuth!.policies.map((p) => p.name)).toEqual(['calls'])
    })

    it('has no post_auth stage when every policy is pre_auth', () => {
      const { preAuth, postAuth } = stagesOf({ attempts: pre({ rate: '10/min' }) })
      expect(preAuth).not.toBeNull()
      expect(postAuth).toBeNull()
    })

    it('counts a request that has no identity yet, by its address', () => {
      const stage = stageOf({ attempts: pre({ rate: '3/min' }) })
      expect(burst(stage, 4)).toEqual([200, 200, 200, 429])
      expect(send(stage, { ip: '192.0.2.9' }).status).toBe(200)
    })

    it('leaves its fields on the exchange, for a refusal by authenticate to carry', () => {
      const stage = stageOf({ attempts: pre({ rate: '3/min' }) })
      const { exchange: ex } = send(stage)
      expect(ex.responseHeaders).toEqual([
        'ratelimit-policy',
        '"attempts";q=3;w=60',
        'ratelimit',
        '"attempts";r=2;t=20',
        'x-ratelimit-limit',
        '3',
        'x-ratelimit-remaining',
        '2',
        'x-ratelimit-reset',
        '20',
      ])
    })

    describe('when both phases count a request, it carries one set of fields', () => {
      const both = () => {
        const { preAuth, postAuth } = stagesOf({
          attempts: pre({ algorithm: 'fixed_window', rate: '5/min' }),
          calls: policy({ key: 'consumer', algorithm: 'fixed_window', rate: '3/min' }),
        })
        return [preAuth!, postAuth!]
      }
      const alice = { identity: identity() }

      it('the post_auth policy’s when less remains there', () => {
        const stages = both()
        // attempts: 4 of 5 left; calls: 2 of 3.
        expect(sendThrough(stages, alice).headers).toEqual({
          'ratelimit-policy': '"calls";q=3;w=60',
          ratelimit: '"calls";r=2;t=60',
          'x-ratelimit-limit': '3',
          'x-ratelimit-remaining': '2',
          'x-ratelimit-reset': '60',
        })
      })

      it('the pre_auth policy’s when less remains there', () => {
        const stages = both()
        // Three attempts by another consumer from the same address.
        sendThrough(stages, { identity: identity({}, 'bob') })
        sendThrough(stages, { identity: identity({}, 'bob') })
        sendThrough(stages, { identity: identity({}, 'bob') })
        // attempts: 1 of 5 left; calls (alice): 2 of 3.
        expect(sendThrough(stages, alice).headers['ratelimit']).toBe('"attempts";r=1;t=60')
      })

      it('the refusing policy’s, with Retry-After, when post_auth refuses', () => {
        const stages = both()
        sendThrough(stages, alice)
        sendThrough(stages, alice)
        sendThrough(stages, alice)
        const refused = sendThrough(stages, alice)
        expect(refused.status).toBe(429)
        expect(refused.headers).toEqual({
          'ratelimit-policy': '"calls";q=3;w=60',
          ratelimit: '"calls";r=0;t=60',
          'x-ratelimit-limit': '3',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': '60',
          'retry-after': '60',
        })
        // The refused attempt still counted: pre_auth policies count whatever follows.
        const next = sendThrough(stages, { identity: identity({}, 'bob') })
        expect(next.headers['ratelimit']).toBe('"attempts";r=0;t=60')
      })

      it('the post_auth policy’s when the pre_auth one has its fields off', () => {
        const { preAuth, postAuth } = stagesOf({
          attempts: pre({ rate: '5/min', headers: { ietf: false, x_ratelimit: false } }),
          calls: policy({ key: 'consumer', algorithm: 'fixed_window', rate: '1/min' }),
        })
        const stages = [preAuth!, postAuth!]
        // attempts: 4 of 5 left, reported without fields; calls: 0 of 1.
        expect(sendThrough(stages, alice).headers).toEqual({
          'ratelimit-policy': '"calls";q=1;w=60',
          ratelimit: '"calls";r=0;t=60',
          'x-ratelimit-limit': '1',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': '60',
        })
        expect(sendThrough(stages, alice).headers['retry-after']).toBe('60')
      })

      it('only the refusing policy’s when post_auth refuses with its fields off', () => {
        const { preAuth, postAuth } = stagesOf({
          attempts: pre({ rate: '5/min' }),
          calls: policy({
            key: 'consumer',
            rate: '1/min',
            headers: { ietf: false, x_ratelimit: false },
          }),
        })
        sendThrough([preAuth!, postAuth!], alice)
        expect(sendThrough([preAuth!, postAuth!], alice).headers).toEqual({ 'retry-after': '60' })
      })
    })
  })

  describe('memory', () => {
    it('stays within max_keys under a flood of distinct keys', () => {
      const stage = stageOf({ p: policy({ rate: '1/min', max_keys: 500 }) })
      for (let i = 0; i < 5000; i++) send(stage, { ip: `10.0.${i >> 8}.${i & 255}` })
      const table = registry.tables().get('p')!
      expect(table.size).toBe(500)
      expect(table.evictions).toBe(4500)
    })

    it('keeps a key used between passes of the CLOCK hand over a flood', () => {
      const stage = stageOf({ p: policy({ rate: '1/min', max_keys: 100 }) })
      expect(send(stage, { ip: 'hot' }).status).toBe(200)
      for (let i = 0; i < 1000; i++) {
        send(stage, { ip: `flood-${i}` })
        if (i % 50 === 0) expect(send(stage, { ip: 'hot' }).status).toBe(429)
      }
    })

    it('reclaims idle keys, whose state equals a fresh one', () => {
      const stage = stageOf({ p: policy({ rate: '10/s', max_keys: 100 }) })
      for (let i = 0; i < 100; i++) send(stage, { ip: `a-${i}` })
      clock += 1000
      expect(registry.sweepIdle()).toBe(100)
      expect(registry.tables().get('p')!.size).toBe(0)
      for (let i = 0; i < 100; i++) send(stage, { ip: `b-${i}` })
      expect(registry.tables().get('p')!.evictions).toBe(0)
    })
  })

  describe('gossip seam', () => {
    it('hands over local consumption once, with counter ids and windows', () => {
      const stage = stageOf({ f: policy({ algorithm: 'fixed_window', rate: '10/min' }) })
      burst(stage, 3, { ip: '192.0.2.1' })
      send(stage, { ip: '192.0.2.2' })
      expect(registry.takeLocalDeltas()).toEqual([
        { counter: 'f||192.0.2.1', window: T0, count: 3 },
        { counter: 'f||192.0.2.2', window: T0, count: 1 },
      ])
      expect(registry.takeLocalDeltas()).toEqual([])
    })

    it('never counts refused requests as consumption', () => {
      const stage = stageOf({ b: policy({ rate: '2/min' }) })
      burst(stage, 5)
      expect(registry.takeLocalDeltas()).toEqual([{ counter: 'b||192.0.2.1', window: 0, count: 2 }])
    })

    it('keeps the consumption of the previous sliding window when the key moves on', () => {
      const stage = stageOf({ s: policy({ algorithm: 'sliding_window', rate: '10/min' }) })
      burst(stage, 2)
      clock += 60_000
      send(stage)
      expect(registry.takeLocalDeltas()).toEqual([
        { counter: 's||192.0.2.1', window: T0, count: 2 },
        { counter: 's||192.0.2.1', window: T0 + 60_000, count: 1 },
      ])
    })

    it('round-trips between two members: each admits only what the other left', () => {
      const other = new RateLimitRegistry({ now: () => clock })
      const config = { w: policy({ algorithm: 'fixed_window', rate: '10/min', key: 'claim:tid' }) }
      const a = stageOf(config)
      const b = stageOf(config, 'w', other)
      const who = { identity: identity({ tid: 'acme' }) }
      expect(admitted(burst(a, 6, who))).toBe(6)
      other.applyRemote(registry.takeLocalDeltas(), clock)
      expect(burst(b, 5, who)).toEqual([200, 200, 200, 200, 429])
      registry.applyRemote(other.takeLocalDeltas(), clock)
      expect(send(a, who).status).toBe(429)
    })

    it('removes remote consumption from a token bucket, into a debt of at most one bucket', () => {
      const stage = stageOf({ b: policy({ rate: '10/min', key: 'header:x-k' }) })
      const k = { headers: ['x-k', 'k1'] }
      registry.applyRemote([{ counter: 'b||k1', window: 0, count: 7 }], clock)
      expect(admitted(burst(stage, 10, k))).toBe(3)
      // 50 more consumed elsewhere: the debt stops at one bucket (10 tokens), not 50.
      registry.applyRemote([{ counter: 'b||k1', window: 0, count: 50 }], clock)
      clock += 6000 // one token back: still 9 in debt
      expect(send(stage, k).status).toBe(429)
      clock += 60_000 // 11 tokens back in all: one to spend
      expect(send(stage, k).status).toBe(200)
      expect(send(stage, k).status).toBe(429)
    })

    it('admits between two gossip sends at most its share of what is left (fixed window)', () => {
      const stage = stageOf({ f: policy({ algorithm: 'fixed_window', rate: '100/min' }) })
      registry.peers = 4
      try {
        // 100 left: this member's share before its next send is a quarter of it.
        expect(admitted(burst(stage, 100))).toBe(25)
        // Its deltas go out (gossip takes them): a new share of the 75 left.
        registry.takeLocalDeltas()
        expect(admitted(burst(stage, 100))).toBe(18) // floor(75 ÷ 4)
      } finally {
        registry.peers = 1
      }
    })

    it('adds remote consumption of the previous window to the sliding estimate', () => {
      const stage = stageOf({ s: policy({ algorithm: 'sliding_window', rate: '10/min' }) })
      clock = T0 + 30_000
      registry.applyRemote([{ counter: 's||192.0.2.1', window: T0 - 60_000, count: 10 }], clock)
      // Half of the previous 10 still weighs: 5 left.
      expect(admitted(burst(stage, 10))).toBe(5)
    })

    it('applies remote consumption of address fallbacks and tiers to the right counter', () => {
      const stage = stageOf({
        t: policy({
          key: 'claim:tid',
          algorithm: 'fixed_window',
          tier_from: 'claim:plan',
          default_tier: 'free',
          tiers: { free: { rate: '2/min' }, pro: { rate: '4/min' } },
        }),
      })
      registry.applyRemote(
        [
          { counter: 't|free|\nip:192.0.2.1', window: T0, count: 2 },
          { counter: 't|pro|acme', window: T0, count: 3 },
          { counter: 'unknown|pro|acme', window: T0, count: 3 },
        ],
        clock,
      )
      expect(send(stage, { identity: identity({}) }).status).toBe(429)
      expect(burst(stage, 2, { identity: identity({ tid: 'acme', plan: 'pro' }) })).toEqual([
        200, 429,
      ])
    })

    it('ignores remote consumption of a window that has passed (fixed window)', () => {
      const stage = stageOf({ f: policy({ algorithm: 'fixed_window', rate: '2/min' }) })
      clock = T0 + 60_000
      registry.applyRemote([{ counter: 'f||192.0.2.1', window: T0, count: 2 }], clock)
      expect(admitted(burst(stage, 3))).toBe(2)
    })
  })

  describe('redis seam', () => {
    it('reports a key refused by the share rule, so its global count is read back', () => {
      const stage = stageOf({ f: policy({ algorithm: 'fixed_window', rate: '100/min' }) })
      registry.trackRedis = true
      registry.peers = 4
      try {
        expect(admitted(burst(stage, 25))).toBe(25)
        expect(registry.takeRedisDeltas()).toMatchObject([
          { counter: 'f||192.0.2.1', window: T0, count: 25 },
        ])
        // Over this member's share until gossip sends: refused, yet still a key in use.
        expect(send(stage).status).toBe(429)
        expect(registry.takeRedisDeltas()).toMatchObject([
          { counter: 'f||192.0.2.1', window: T0, count: 0 },
        ])
      } finally {
        registry.peers = 1
        registry.trackRedis = false
      }
    })
  })

  describe('shareOf', () => {
    it('makes each member enforce its share of every limit', () => {
      const stage = stageOf({ b: policy({ rate: '10/min' }), f: policy({ rate: '9/min' }) }, 'b')
      registry.shareOf = 3
      expect(admitted(burst(stage, 10))).toBe(3)
      // 10/3 a minute, rounded down to a bucket of 3 that fills in 54 s.
      expect(send(stage).headers['ratelimit-policy']).toBe('"b";q=3;w=54')
      registry.shareOf = 1
      clock += 60_000
      expect(admitted(burst(stage, 20))).toBe(10)
    })

    it('applies to tables compiled later, and never goes below one request', () => {
      registry = new RateLimitRegistry({ now: () => clock, shareOf: 4 })
      const stage = stageOf({ f: policy({ algorithm: 'fixed_window', rate: '2/min' }) })
      expect(admitted(burst(stage, 5))).toBe(1)
      expect(() => (registry.shareOf = 0)).toThrow(RangeError)
    })
  })

  describe('across reloads', () => {
    it('keeps the counters of an unchanged policy and starts a changed one afresh', () => {
      const first = stageOf({ p: policy({ rate: '2/min' }) })
      burst(first, 2)
      const same = stageOf({ p: policy({ rate: '2/min' }) })
      expect(send(same).status).toBe(429)
      const changed = stageOf({ p: policy({ rate: '3/min' }) })
      expect(send(changed).status).toBe(200)
    })
  })

  it('decides synchronously, without a promise', () => {
    const stage = stageOf({ p: policy({ rate: '1/min' }) })
    expect(stage.onRequest(exchange())).toBeUndefined()
    expect(stage.onRequest(exchange())).toMatchObject({ status: 429 })
  })
})
