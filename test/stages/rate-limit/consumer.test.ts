/**
 * Rate limits by consumer: `key: consumer` counts a consumer's keys and tokens together, and
 * `tier_from: consumer` reads the consumer's tier.
 */
import { beforeEach, describe, expect, it } from 'vitest'
import { createConsumer, type Consumer } from '../../../src/consumers/consumer.js'
import type { ConfigProblem } from '../../../src/errors.js'
import type { RouteConfig } from '../../../src/gateway/route-schema.js'
import type { Identity } from '../../../src/identity.js'
import { RateLimitRegistry } from '../../../src/rate-limit/registry.js'
import type { RateLimitPolicyConfig } from '../../../src/rate-limit/schema.js'
import { compileRateLimit, type RateLimitStage } from '../../../src/stages/rate-limit/index.js'
import { FakeExchange } from '../../helpers/exchange.js'

const T0 = Date.UTC(2024, 0, 1)
let registry: RateLimitRegistry

beforeEach(() => {
  registry = new RateLimitRegistry({ now: () => T0 })
})

function stageOf(config: Partial<RateLimitPolicyConfig>): RateLimitStage {
  const problems: ConfigProblem[] = []
  const policy: RateLimitPolicyConfig = {
    key: 'consumer',
    algorithm: 'fixed_window',
    headers: { ietf: false, x_ratelimit: false },
    max_keys: 1000,
    ...config,
  }
  const compiled = registry.compile({ p: policy }, problems)
  const route = {
    name: 'api',
    match: { paths: ['/*'] },
    upstream: 'u',
    auth: { any: ['jwt', 'api_key'] },
    rate_limit: 'p',
  } as unknown as RouteConfig
  const stages = compileRateLimit(
    route,
    { name: 'api', path: 'routes[0]', problems },
    false,
    compiled,
    registry.now,
  )
  expect(problems).toEqual([])
  registry.sweep()
  return stages!.postAuth!
}

function identity(fields: Partial<Identity>): Identity {
  return {
    method: 'jwt',
    issuer: 'idp',
    subject: 'alice',
    consumer: null,
    credentialId: null,
    scopes: new Set(),
    claims: {},
    forwarded: null,
    ...fields,
  }
}

const acmeKey = (id: string) =>
  identity({
    method: 'api_key',
    issuer: 'api_key',
    subject: 'acme',
    consumer: 'acme',
    credentialId: id,
  })
const acmeToken = identity({ subject: 'svc-1', consumer: 'acme' })

function consumer(tier: string | null): Consumer {
  return createConsumer({ name: 'acme', groups: [], tier, metadata: {}, disabled: false }, 'config')
}

function send(stage: RateLimitStage, who: Identity, tier: string | null = null) {
  const exchange = new FakeExchange()
  exchange.method = 'GET'
  exchange.clientAddress = '192.0.2.1'
  exchange.identity = who
  exchange.consumer = who.consumer === null ? null : consumer(tier)
  return stage.onRequest(exchange)
}

describe('rate limits keyed by consumer', () => {
  it("counts a consumer's keys and tokens in one counter", () => {
    const stage = stageOf({ rate: '3/min' })
    expect(send(stage, acmeKey('key_a'))).toBeUndefined()
    expect(send(stage, acmeKey('key_b'))).toBeUndefined()
    expect(send(stage, acmeToken)).toBeUndefined()
    expect(send(stage, acmeKey('key_a'))).toMatchObject({ status: 429 })
    // Another caller, without a consumer, keeps its own issuer+subject counter.
    expect(send(stage, identity({ subject: 'acme' }))).toBeUndefined()
  })

  it('counts keys apart with key: credential', () => {
    const stage = stageOf({ key: 'credential', rate: '1/min' })
    expect(send(stage, acmeKey('key_a'))).toBeUndefined()
    expect(send(stage, acmeKey('key_b'))).toBeUndefined()
    expect(send(stage, acmeKey('key_a'))).toMatchObject({ status: 429 })
  })
})

describe('rate limits with tier_from: consumer', () => {
  const tiered = () =>
    stageOf({
      rate: '1/min',
      tier_from: 'consumer',
      tiers: { pro: { rate: '3/min' } },
    })

  it("applies the consumer's tier", () => {
    const stage = tiered()
    for (let i = 0; i < 3; i++) expect(send(stage, acmeKey('key_a'), 'pro')).toBeUndefined()
    expect(send(stage, acmeKey('key_a'), 'pro')).toMatchObject({ status: 429 })
  })

  it('applies the policy rate to a consumer without a tier, or one not listed', () => {
    for (const tier of [null, 'platinum']) {
      // A registry keeps an unchanged policy's counters: a fresh one per case.
      registry = new RateLimitRegistry({ now: () => T0 })
      const stage = tiered()
      expect(send(stage, acmeKey('key_a'), tier)).toBeUndefined()
      expect(send(stage, acmeKey('key_a'), tier)).toMatchObject({ status: 429 })
    }
  })

  it('is refused on a pre_auth policy, which runs before any consumer is known', () => {
    const problems: ConfigProblem[] = []
    registry.compile(
      {
        p: {
          key: 'ip',
          algorithm: 'fixed_window',
          headers: { ietf: false, x_ratelimit: false },
          max_keys: 1000,
          rate: '1/min',
          phase: 'pre_auth',
          tier_from: 'consumer',
          tiers: { pro: { rate: '3/min' } },
        },
      },
      problems,
    )
    expect(problems).toContainEqual({
      path: 'rate_limits.p.tier_from',
      reason: expect.stringContaining('consumer'),
    })
  })
})
