/**
 * The budget exchange of exact limits between the workers of one host, over real gossip sockets
 * on loopback (signed): a spent share borrows from the other worker and the host admits exactly
 * the limit; a worker that does not answer in time leaves the request refused, and its share
 * cannot be taken; a borrow request from a member that is not a worker of this host is dropped.
 */
import { createSocket } from 'node:dgram'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { RateLimitSharing } from '../../../src/cluster/rate-limit-sharing.js'
import { GossipCodec } from '../../../src/gossip/codec.js'
import type { RateLimitStage } from '../../../src/stages/rate-limit/index.js'
import { RateLimitRegistry } from '../../../src/rate-limit/registry.js'
import { consecutivePorts } from '../../helpers/ports.js'
import { compileLoginStage, sendLogin } from '../../helpers/rate-limit-host.js'
import { waitUntil } from '../../helpers/wait.js'

const SECRET = Buffer.from('a-gossip-secret-of-at-least-32-bytes!')
const silent = pino({ level: 'silent' })

interface Worker {
  readonly sharing: RateLimitSharing
  readonly stage: RateLimitStage
}

const started: RateLimitSharing[] = []

afterEach(async () => {
  await Promise.all(started.splice(0).map((sharing) => sharing.close()))
})

/** Worker `index` of `workers` on gossip ports from `port`, serving a 2/min login limit. */
function worker(port: number, index: number, workers: number, borrowTimeoutMs = 1000): Worker {
  const registry = new RateLimitRegistry()
  const stage = compileLoginStage(registry, {
    algorithm: 'fixed_window',
    rate: '2/h',
    maxKeys: 100,
  })
  const sharing = new RateLimitSharing(
    registry,
    {
      bind: '127.0.0.1',
      port,
      seeds: [],
      secret: SECRET,
      intervalMs: 25,
      memberTimeoutMs: 1000,
      maxDatagramBytes: 1200,
      exactUpTo: 100,
      borrowTimeoutMs,
    },
    { workerIndex: index, workerCount: workers, redisHealthy: () => false },
    silent,
  )
  started.push(sharing)
  return { sharing, stage }
}

async function send(w: Worker): Promise<number> {
  return sendLogin(w.stage, '192.0.2.7')
}

describe('budget exchange', () => {
  it('lends a spent share the other worker’s budget, and the host admits exactly the limit', async () => {
    const port = await consecutivePorts(2)
    const a = worker(port, 0, 2)
    const b = worker(port, 1, 2)
    await Promise.all([a.sharing.start(), b.sharing.start()])
    // Each holds 1 of 2: b's second request borrows a's.
    expect(await send(b)).toBe(200)
    expect(await send(b)).toBe(200)
    // b consumed the whole limit itself: it knows the host is spent without asking.
    expect(await send(b)).toBe(429)
    // a lent its share: it asks b, which has nothing left.
    expect(await send(a)).toBe(429)
    expect(b.sharing.exchange!.stats).toMatchObject({ rounds: 1, timeouts: 0, borrowed: 1 })
    expect(a.sharing.exchange!.stats).toMatchObject({ rounds: 1, timeouts: 0, lent: 1 })
  })

  it('refuses when the other worker does not answer in time, and takes nothing from it', async () => {
    const port = await consecutivePorts(2)
    const b = worker(port, 1, 2, 50)
    await b.sharing.start()
    expect(await send(b)).toBe(200)
    const asked = Date.now()
    expect(await send(b)).toBe(429)
    expect(Date.now() - asked).toBeGreaterThanOrEqual(45)
    expect(b.sharing.exchange!.stats).toMatchObject({ rounds: 1, timeouts: 1, borrowed: 0 })
  })

  it('drops a borrow request from a member that is not a worker of this host', async () => {
    const port = await consecutivePorts(2)
    const a = worker(port, 0, 2)
    await a.sharing.start()
    expect(await send(a)).toBe(200)
    // Signed with the secret, but sent from a port outside this host's workers'.
    const stranger = createSocket('udp4')
    await new Promise<void>((resolve) => stranger.bind(0, '127.0.0.1', resolve))
    const answers: Buffer[] = []
    stranger.on('message', (message) => answers.push(message))
    const codec = new GossipCodec({
      secret: SECRET,
      maxDatagramBytes: 1200,
      port: stranger.address().port,
    })
    const borrow = codec.encodeBorrow(1, 'login||192.0.2.7', 1, 1, Date.now())
    stranger.send(borrow, port, '127.0.0.1')
    const member = a.sharing.member!
    await waitUntil(() => member.stats.dropped.foreign === 1, { timeoutMs: 2000, intervalMs: 5 })
    stranger.close()
    expect(answers).toEqual([])
    expect(a.sharing.exchange!.stats.lent).toBe(0)
  })
})
