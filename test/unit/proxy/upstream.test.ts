import { Value } from '@sinclair/typebox/value'
import { Pool } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { H1Pool } from '../../../src/proxy/h1/pool.js'
import { createUpstreamSockets } from '../../../src/proxy/h1/socket-choice.js'
import { UpstreamSchema, type UpstreamConfig } from '../../../src/proxy/schema.js'
import { QueueBoundPool } from '../../../src/proxy/queue-bound.js'
import { PoolCache, Upstream } from '../../../src/proxy/upstream.js'

function config(overrides: Partial<UpstreamConfig>): UpstreamConfig {
  return Value.Default(UpstreamSchema, { targets: [], ...overrides }) as UpstreamConfig
}

describe('upstream transports', () => {
  const pools = new PoolCache(createUpstreamSockets())
  afterEach(() => pools.closeAll())

  it('defaults to the native transport for http:// targets', () => {
    expect(config({ targets: ['http://a:1'] }).transport).toBe('native')
    const upstream = new Upstream('u', config({ targets: ['http://127.0.0.1:1/base'] }), pools)
    const target = upstream.targets[0]!
    expect(target.pool).toBeInstanceOf(H1Pool)
    expect(target.basePath).toBe('/base')
    // WebSocket handshakes need undici's upgrade support: a Pool of its own, made once.
    expect(target.upgradePool).toBeInstanceOf(Pool)
    expect(target.upgradePool).toBe(target.upgradePool)
  })

  it('uses undici for https:// targets and for transport: undici, its queue bounded', () => {
    const tls = new Upstream('t', config({ targets: ['https://127.0.0.1:2'] }), pools).targets[0]!
    // queue_timeout wraps the Pool; handshakes use the Pool itself, outside the bound.
    expect(tls.pool).toBeInstanceOf(QueueBoundPool)
    expect(tls.upgradePool).toBeInstanceOf(Pool)
    const opted = new Upstream(
      'o',
      config({ targets: ['http://127.0.0.1:3'], transport: 'undici', queue_timeout: '0s' }),
      pools,
    ).targets[0]!
    expect(opted.pool).toBeInstanceOf(Pool)
    expect(opted.upgradePool).toBe(opted.pool)
  })

  it('keeps a pool across generations while its origin and options stay the same', () => {
    const first = new Upstream('u', config({ targets: ['http://127.0.0.1:4'] }), pools)
    pools.beginGeneration()
    const same = new Upstream('u', config({ targets: ['http://127.0.0.1:4'] }), pools)
    const switched = new Upstream(
      'u',
      config({ targets: ['http://127.0.0.1:4'], transport: 'undici' }),
      pools,
    )
    pools.sweep()
    expect(same.targets[0]!.pool).toBe(first.targets[0]!.pool)
    expect(switched.targets[0]!.pool).not.toBe(first.targets[0]!.pool)
  })
})
