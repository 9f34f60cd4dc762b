/**
 * The introspector's cache, single flight, breaker and stale answers, with a clock and an
 * endpoint under the test's control (the endpoint's own HTTP behaviour is the integration
 * suite's: test/integration/introspection.test.ts).
 */
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { Answer } from '../../../src/introspection/answer.js'
import {
  Introspector,
  MAX_CACHE_TTL_MS,
  type IntrospectionCall,
  type IntrospectorSettings,
} from '../../../src/introspection/introspector.js'

type Reply = unknown | Error

/** An endpoint whose answers the test releases: each call waits until `answer` is called. */
class Endpoint implements IntrospectionCall {
  calls: string[] = []
  reply: (token: string) => Reply = () => ({ active: true, sub: 'u', scope: 'read' })
  #waiting: (() => void)[] = []
  held = false

  call(token: string): Promise<unknown> {
    this.calls.push(token)
    const answer = () => {
      const reply = this.reply(token)
      return reply instanceof Error ? Promise.reject(reply) : Promise.resolve(reply)
    }
    if (!this.held) return answer()
    return new Promise<void>((resolve) => this.#waiting.push(resolve)).then(answer)
  }

  release(): void {
    for (const resolve of this.#waiting.splice(0)) resolve()
  }

  close(): void {}
}

const SETTINGS: IntrospectorSettings = {
  policy: {
    name: 'as',
    issuer: 'https://as.test',
    audiences: new Set(['api']),
    scopeClaim: 'scope',
    consumerClaim: 'client_id',
  },
  cacheTtlMs: 60_000,
  negativeTtlMs: 10_000,
  staleForMs: 0,
  cacheSize: 100,
  breakerFailures: 2,
  breakerCooldownMs: 5_000,
}

function setup(settings: Partial<IntrospectorSettings> = {}) {
  const endpoint = new Endpoint()
  const clock = { now: 1_000_000 }
  const introspector = new Introspector(
    { ...SETTINGS, ...settings },
    endpoint,
    pino({ level: 'silent' }),
    () => clock.now,
  )
  return { endpoint, clock, introspector }
}

async function answerOf(result: Answer | Promise<Answer>): Promise<Answer> {
  return result
}

describe('Introspector', () => {
  describe('an active answer', () => {
    it('is cached: the same token again is answered synchronously, without a call', async () => {
      const { endpoint, introspector } = setup()
      const first = await answerOf(introspector.introspect('tok'))
      expect(first.failure).toBeNull()
      const again = introspector.introspect('tok')
      expect(again).not.toBeInstanceOf(Promise)
      expect(again).toBe(first)
      expect(endpoint.calls).toEqual(['tok'])
    })

    it('becomes an identity as a JWT does: sub, scopes, claims, consumer by its member', async () => {
      const { endpoint, introspector } = setup()
      endpoint.reply = () => ({ active: true, sub: 's', scope: 'a b', client_id: 'svc' })
      const { identity, unmapped } = await answerOf(introspector.introspect('tok'))
      expect(identity).toMatchObject({
        method: 'introspection',
        issuer: 'as',
        subject: 's',
        consumer: 'svc',
        claims: { client_id: 'svc', scope: 'a b' },
      })
      expect([...identity!.scopes]).toEqual(['a', 'b'])
      expect(unmapped).toMatchObject({ subject: 's', consumer: null })
    })

    it('is kept until cache_ttl when the token expires later', async () => {
      const { endpoint, clock, introspector } = setup()
      endpoint.reply = () => ({ active: true, exp: clock.now / 1000 + 3600 })
      await introspector.introspect('tok')
      clock.now += 59_999
      expect(introspector.introspect('tok')).not.toBeInstanceOf(Promise)
      clock.now += 1
      await introspector.introspect('tok')
      expect(endpoint.calls).toHaveLength(2)
    })

    it('is kept no longer than its exp', async () => {
      const { endpoint, clock, introspector } = setup()
      endpoint.reply = () => ({ active: true, exp: clock.now / 1000 + 5 })
      await introspector.introspect('tok')
      clock.now += 5_000
      await introspector.introspect('tok')
      expect(endpoint.calls).toHaveLength(2)
    })

    it('is kept no longer than the cap, whatever cache_ttl says', async () => {
      const { endpoint, clock, introspector } = setup({ cacheTtlMs: 10 * MAX_CACHE_TTL_MS })
      await introspector.introspect('tok')
      clock.now += MAX_CACHE_TTL_MS - 1
      expect(introspector.introspect('tok')).not.toBeInstanceOf(Promise)
      clock.now += 1
      await introspector.introspect('tok')
      expect(endpoint.calls).toHaveLength(2)
    })
  })

  describe('an inactive or refused answer', () => {
    it.each([
      ['inactive', { active: false }],
      ['wrong_issuer', { active: true, iss: 'https://other.test' }],
      ['wrong_audience', { active: true, aud: ['other'] }],
      ['expired', { active: true, exp: 1 }],
    ])('is %s, kept for negative_ttl', async (failure, body) => {
      const { endpoint, clock, introspector } = setup()
      endpoint.reply = () => body
      expect((await answerOf(introspector.introspect('tok'))).failure).toBe(failure)
      clock.now += 9_999
      expect(introspector.introspect('tok')).not.toBeInstanceOf(Promise)
      clock.now += 1
      await introspector.introspect('tok')
      expect(endpoint.calls).toHaveLength(2)
    })

    it('accepts an answer without iss or aud: only what the server says is checked', async () => {
      const { endpoint, introspector } = setup()
      endpoint.reply = () => ({ active: true })
      expect((await answerOf(introspector.introspect('tok'))).failure).toBeNull()
    })
  })

  describe('single flight', () => {
    it('makes one call for concurrent requests with the same uncached token', async () => {
      const { endpoint, introspector } = setup()
      endpoint.held = true
      const pending = [1, 2, 3].map(() => introspector.introspect('tok'))
      expect(introspector.inFlight).toBe(1)
      endpoint.release()
      const answers = await Promise.all(pending)
      expect(new Set(answers).size).toBe(1)
      expect(endpoint.calls).toEqual(['tok'])
      expect(introspector.inFlight).toBe(0)
    })

    it('makes one call per distinct token', async () => {
      const { endpoint, introspector } = setup()
      await Promise.all([introspector.introspect('a'), introspector.introspect('b')])
      expect(endpoint.calls).toEqual(['a', 'b'])
    })
  })

  describe('when the endpoint fails', () => {
    it('answers unavailable for a token never seen, and remembers it for negative_ttl', async () => {
      const { endpoint, clock, introspector } = setup({ breakerFailures: 100 })
      endpoint.reply = () => new Error('status 500')
      expect((await answerOf(introspector.introspect('tok'))).failure).toBe('unavailable')
      expect(introspector.introspect('tok')).not.toBeInstanceOf(Promise)
      clock.now += 10_000
      await introspector.introspect('tok')
      expect(endpoint.calls).toHaveLength(2)
    })

    it('counts a body that is no answer (active not a boolean) as a failure', async () => {
      const { endpoint, introspector } = setup()
      endpoint.reply = () => ({ active: 'true' })
      expect((await answerOf(introspector.introspect('tok'))).failure).toBe('unavailable')
    })

    it('keeps a stale active answer working for stale_for, then refuses', async () => {
      const { endpoint, clock, introspector } = setup({ staleForMs: 30_000, breakerFailures: 100 })
      const active = await answerOf(introspector.introspect('tok'))
      endpoint.reply = () => new Error('timeout')
      clock.now += 60_000
      expect(await answerOf(introspector.introspect('tok'))).toBe(active)
      clock.now += 29_999
      expect(await answerOf(introspector.introspect('tok'))).toBe(active)
      clock.now += 1
      expect((await answerOf(introspector.introspect('tok'))).failure).toBe('unavailable')
    })

    it('serves no stale answer when stale_for is off', async () => {
      const { endpoint, clock, introspector } = setup()
      await introspector.introspect('tok')
      endpoint.reply = () => new Error('timeout')
      clock.now += 60_000
      expect((await answerOf(introspector.introspect('tok'))).failure).toBe('unavailable')
    })

    it('stops calling once the breaker opens, answering at once, and probes after cooldown', async () => {
      const { endpoint, clock, introspector } = setup()
      endpoint.reply = () => new Error('refused')
      await introspector.introspect('a')
      await introspector.introspect('b')
      const fast = introspector.introspect('c')
      expect(fast).not.toBeInstanceOf(Promise)
      expect((fast as Answer).failure).toBe('unavailable')
      expect(endpoint.calls).toEqual(['a', 'b'])
      clock.now += 5_000
      endpoint.reply = () => ({ active: true })
      expect((await answerOf(introspector.introspect('d'))).failure).toBeNull()
      expect(endpoint.calls).toEqual(['a', 'b', 'd'])
    })

    it('serves a stale answer synchronously while the breaker is open', async () => {
      const { endpoint, clock, introspector } = setup({ staleForMs: 30_000, breakerFailures: 1 })
      const active = await answerOf(introspector.introspect('tok'))
      endpoint.reply = () => new Error('down')
      clock.now += 60_000
      await introspector.introspect('other')
      expect(introspector.introspect('tok')).toBe(active)
      expect(endpoint.calls).toEqual(['tok', 'other'])
    })
  })

  it('holds at most cache_size answers, the least recently used out first', async () => {
    const { endpoint, introspector } = setup({ cacheSize: 2 })
    await introspector.introspect('a')
    await introspector.introspect('b')
    introspector.introspect('a')
    await introspector.introspect('c')
    expect(introspector.cached).toBe(2)
    expect(introspector.introspect('a')).not.toBeInstanceOf(Promise)
    await introspector.introspect('b')
    expect(endpoint.calls).toEqual(['a', 'b', 'c', 'b'])
  })

  it('refuses an oversized token without a call', () => {
    const { endpoint, introspector } = setup()
    const answer = introspector.introspect('x'.repeat(8193))
    expect((answer as Answer).failure).toBe('too_large')
    expect(endpoint.calls).toEqual([])
  })
})

describe('Introspector.retryAfterSeconds', () => {
  it('is the longer of the breaker cooldown and negative_ttl, in whole seconds', () => {
    expect(
      setup({ breakerCooldownMs: 5_000, negativeTtlMs: 10_000 }).introspector.retryAfterSeconds,
    ).toBe(10)
    expect(
      setup({ breakerCooldownMs: 2_500, negativeTtlMs: 1_000 }).introspector.retryAfterSeconds,
    ).toBe(3)
  })
})
