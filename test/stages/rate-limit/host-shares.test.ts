/**
 * Small limits held exactly across the workers of one host (host-shares.ts), with the workers'
 * registries and stages in one process and an in-memory broker standing for the loopback
 * exchange: the shares add up to the limit, a spent share borrows, the host admits exactly the
 * limit in any order of requests over the workers, for every algorithm, right from a fresh
 * start; the host spent is remembered until budget can come back; shares outlive windows; this
 * host's gossip is ignored and other hosts' gossip is charged once.
 */
import { beforeEach, describe, expect, it } from 'vitest'
import { evenShare, lendable, type BudgetBroker } from '../../../src/rate-limit/host-shares.js'
import type { RateLimitStage } from '../../../src/stages/rate-limit/index.js'
import { RateLimitRegistry } from '../../../src/rate-limit/registry.js'
import type { AlgorithmName } from '../../../src/rate-limit/schema.js'
import { compileLoginStage, sendLogin } from '../../helpers/rate-limit-host.js'

/** 2024-01-01T00:00:00Z: a minute boundary. */
const T0 = Date.UTC(2024, 0, 1)
const ALGORITHMS: readonly AlgorithmName[] = ['fixed_window', 'sliding_window', 'token_bucket']
let clock = T0

/** The workers of one host: a registry and a stage each, and a broker between them. */
class Host {
  readonly registries: RateLimitRegistry[] = []
  readonly stages: RateLimitStage[] = []
  /** Borrow rounds asked, per worker. */
  readonly rounds: number[] = []

  constructor(workers: number, algorithm: AlgorithmName, rate: string, upTo = 100) {
    for (let index = 0; index < workers; index++) {
      const registry = new RateLimitRegistry({ now: () => clock })
      registry.host = { workerIndex: index, workers, upTo, broker: this.#broker(index) }
      this.stages.push(compileLoginStage(registry, { algorithm, rate, maxKeys: 1000 }))
      this.registries.push(registry)
      this.rounds.push(0)
    }
  }

  /** Sends one request to `worker`; resolves with its status. */
  async send(worker: number, ip = '192.0.2.1'): Promise<number> {
    return sendLogin(this.stages[worker]!, ip)
  }

  /** Admitted requests of `order` (worker indexes), sent one after the other. */
  async admitted(order: readonly number[]): Promise<number> {
    let admitted = 0
    for (const worker of order) if ((await this.send(worker)) === 200) admitted++
    return admitted
  }

  #broker(index: number): BudgetBroker {
    return {
      borrowing: () => false,
      borrow: (counter, need) => {
        this.rounds[index]!++
        let left = 0
        this.registries.forEach((other, j) => {
          if (j === index) return
          const loan = other.lend(counter, need, true, clock)
          if (loan.granted > 0) this.registries[index]!.credit(counter, loan.granted, clock)
          left += loan.left
        })
        return Promise.resolve(left)
      },
    }
  }
}

/** A reproducible spread of `count` requests over `workers` (a linear congruential generator). */
function spread(count: number, workers: number, seed: number): number[] {
  let x = seed
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31
    // The high bits: the low ones of this generator cycle with a short period.
    return (x >>> 16) % workers
  })
}

beforeEach(() => {
  clock = T0
})

describe('shares', () => {
  it('split a limit into whole shares that add up to it, the remainder to the first workers', () => {
    for (const workers of [2, 3, 4, 8]) {
      for (const whole of [1, 2, 5, 10, 17]) {
        const shares = Array.from({ length: workers }, (_, i) => evenShare(whole, workers, i))
        expect(shares.reduce((a, b) => a + b, 0)).toBe(whole)
        expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1)
      }
    }
    expect(evenShare(1, 4, 0)).toBe(1)
    expect(evenShare(1, 4, 3)).toBe(0)
  })

  it('lend what is asked, or half of a larger spare, never more than the spare', () => {
    expect(lendable(0, 1)).toBe(0)
    expect(lendable(1, 1)).toBe(1)
    expect(lendable(5, 1)).toBe(3)
    expect(lendable(5, 4)).toBe(4)
    expect(lendable(2, 7)).toBe(2)
    expect(lendable(0.5, 1)).toBe(0.5)
  })
})

describe.each(ALGORITHMS)('a host holding %s limits exactly', (algorithm) => {
  it.each([
    [2, 1],
    [2, 5],
    [4, 1],
    [4, 2],
    [4, 5],
    [4, 10],
  ])(
    'admits exactly the limit on %i workers at %i a minute, in any order',
    async (workers, limit) => {
      const orders = [
        Array.from({ length: 3 * limit + 4 }, () => workers - 1),
        Array.from({ length: 3 * limit + 4 }, (_, i) => i % workers),
        spread(3 * limit + 4, workers, 7),
        spread(3 * limit + 4, workers, 1234),
      ]
      for (const order of orders) {
        clock = T0
        const host = new Host(workers, algorithm, `${limit}/min`)
        expect(await host.admitted(order)).toBe(limit)
      }
    },
  )

  it('admits the limit when the requests of a burst all arrive at once', async () => {
    const host = new Host(4, algorithm, '10/min')
    const statuses = await Promise.all(spread(30, 4, 99).map((worker) => host.send(worker)))
    expect(statuses.filter((s) => s === 200)).toHaveLength(10)
  })

  it('asks the others nothing while the share in hand pays', async () => {
    const host = new Host(2, algorithm, '10/min')
    expect(await host.admitted([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])).toBe(10)
    expect(host.rounds).toEqual([0, 0])
  })

  it('keeps limits above exact_up_to on the gossip path', async () => {
    const host = new Host(2, algorithm, '10/min', 5)
    expect(host.registries[0]!.tables().get('login')!.isExact(0)).toBe(false)
    // Each worker alone, as gossip leaves them until the deltas arrive.
    expect(await host.admitted(Array.from({ length: 30 }, (_, i) => i % 2))).toBe(20)
    expect(host.rounds).toEqual([0, 0])
  })
})

describe('a spent host', () => {
  it('is not asked again before the fixed window ends, and is whole in the next', async () => {
    const host = new Host(2, 'fixed_window', '2/min')
    expect(await host.admitted([0, 0, 0])).toBe(2)
    expect(host.rounds[0]).toBe(1)
    expect(await host.admitted([0, 0, 0])).toBe(0)
    expect(host.rounds[0]).toBe(1)
    clock = T0 + 60_000
    expect(await host.admitted([1, 1, 1])).toBe(2)
  })

  it('refills a token bucket at the whole rate, wherever the tokens are', async () => {
    const host = new Host(4, 'token_bucket', '4/min')
    expect(await host.admitted([0, 0, 0, 0, 0])).toBe(4)
    clock += 15_000
    // One token's worth came back over the host, a quarter at each worker.
    expect(await host.admitted([3, 2, 1])).toBe(1)
    clock += 30_000
    expect(await host.admitted([1, 1, 1])).toBe(2)
  })
})

describe('shares over time', () => {
  it('outlive a sliding window, so the previous window still weighs on the whole host', async () => {
    const host = new Host(2, 'sliding_window', '4/min')
    clock = T0 + 59_000
    // Worker 1 takes the whole limit, borrowing worker 0's share.
    expect(await host.admitted([1, 1, 1, 1])).toBe(4)
    clock = T0 + 61_000
    // The previous window still counts nearly 4 in the host's estimate: nothing anywhere.
    expect(await host.admitted([0, 0, 1, 1])).toBe(0)
    clock = T0 + 90_000
    // Half slid out: 2 again, wherever they arrive.
    expect(await host.admitted([0, 0, 0])).toBe(2)
  })

  it('keep an idle key whose share moved, so the host never counts it twice', async () => {
    const host = new Host(2, 'fixed_window', '2/min')
    expect(await host.admitted([1, 1])).toBe(2)
    clock = T0 + 10 * 60_000
    host.registries[0]!.sweepIdle(clock)
    host.registries[1]!.sweepIdle(clock)
    const table = host.registries[0]!.tables().get('login')!
    expect(table.size).toBe(1)
    expect(await host.admitted([0, 0, 1, 1, 0, 1])).toBe(2)
  })
})

describe('gossip of an exact limit', () => {
  const delta = { counter: 'login||192.0.2.1', window: T0, count: 2 }

  it('ignores this host’s workers: their consumption is in the shares already', async () => {
    const host = new Host(2, 'fixed_window', '4/min')
    const local = { ...delta, count: 3 }
    host.registries[0]!.applyRemote([local], clock, true)
    host.registries[1]!.applyRemote([local], clock, true)
    expect(await host.admitted([0, 1, 0, 1, 0, 1])).toBe(4)
  })

  it('charges another host’s consumption once over the host, by share', async () => {
    const host = new Host(2, 'fixed_window', '4/min')
    // Every worker hears the other host's delta: together they lose 2, not 4.
    host.registries[0]!.applyRemote([delta], clock, false)
    host.registries[1]!.applyRemote([delta], clock, false)
    expect(await host.admitted([0, 1, 0, 1, 0, 1])).toBe(2)
  })
})
