/**
 * The budget exchange of exact limits (src/cluster/budget-exchange.ts) under the orders a loaded
 * host delivers its datagrams in: the workers' real registries, stages and exchanges in one
 * process, joined by a network that holds every borrow and grant until the test delivers it, in
 * a seeded random order interleaved with the requests of a concurrent burst. Late grants, a
 * lender that is itself borrowing and budget on its way all happen; the host still admits
 * exactly the limit, whatever the order.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { BudgetExchange, type BudgetSender } from '../../../src/cluster/budget-exchange.js'
import { RateLimitRegistry } from '../../../src/rate-limit/registry.js'
import type { AlgorithmName } from '../../../src/rate-limit/schema.js'
import type { RateLimitStage } from '../../../src/stages/rate-limit/index.js'
import { compileLoginStage, sendLogin } from '../../helpers/rate-limit-host.js'

/** A minute boundary; the clock stands still, so nothing refills or slides during a burst. */
const T0 = Date.UTC(2024, 0, 1)
const ALGORITHMS: readonly AlgorithmName[] = ['fixed_window', 'sliding_window', 'token_bucket']
/** Orders per case: some of the first 600 strand budget without the in-transit rule. */
const SEEDS = 600

type Datagram =
  | { kind: 'borrow'; to: number; from: number; id: number; counter: string; need: number }
  | {
      kind: 'grant'
      to: number
      from: number
      id: number
      counter: string
      amount: number
      left: number
    }

/** A seeded generator (a linear congruential one; the high bits, as the low ones cycle). */
function random(seed: number): (n: number) => number {
  let x = seed
  return (n) => {
    x = (x * 1103515245 + 12345) % 2 ** 31
    return (x >>> 8) % n
  }
}

const exchanges: BudgetExchange[] = []

afterEach(() => {
  for (const exchange of exchanges.splice(0)) exchange.close()
})

/** The workers of one host, and the datagrams in flight between them. */
class Host {
  readonly stages: RateLimitStage[] = []
  readonly exchanges: BudgetExchange[] = []
  readonly inFlight: Datagram[] = []

  constructor(workers: number, algorithm: AlgorithmName, rate: string) {
    for (let index = 0; index < workers; index++) {
      const registry = new RateLimitRegistry({ now: () => T0 })
      const sender: BudgetSender = {
        requestBudget: (id, counter, need) => {
          for (let to = 0; to < workers; to++) {
            if (to !== index)
              this.inFlight.push({ kind: 'borrow', to, from: index, id, counter, need })
          }
          return workers - 1
        },
      }
      // No round waits out its time here: every datagram is delivered in the end.
      const exchange = new BudgetExchange(registry, sender, {
        workerIndex: index,
        timeoutMs: 60_000,
      })
      registry.host = { workerIndex: index, workers, upTo: 100, broker: exchange }
      this.stages.push(compileLoginStage(registry, { algorithm, rate, maxKeys: 100 }))
      this.exchanges.push(exchange)
      exchanges.push(exchange)
    }
  }

  /**
   * Delivers the datagram at `at` of those in flight, or the one sent before it between the same
   * two workers (a socket's datagrams to another arrive in order on loopback; between different
   * pairs, any order). A borrow is answered by a grant.
   */
  deliver(at: number): void {
    const picked = this.inFlight[at]!
    const first = this.inFlight.findIndex((d) => d.to === picked.to && d.from === picked.from)
    const [datagram] = this.inFlight.splice(first, 1)
    if (datagram === undefined) return
    const exchange = this.exchanges[datagram.to]!
    if (datagram.kind === 'grant') {
      exchange.granted(datagram.id, datagram.counter, datagram.amount, datagram.left, T0)
      return
    }
    const loan = exchange.lend(datagram.counter, datagram.need, datagram.from, T0)
    this.inFlight.push({
      kind: 'grant',
      to: datagram.from,
      from: datagram.to,
      id: datagram.id,
      counter: datagram.counter,
      amount: loan.granted,
      left: loan.left,
    })
  }
}

/** Settles what the last delivery set going (the stages' continuations are promise jobs). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * A burst of `requests` over `workers` workers, arriving one by one between deliveries of the
 * datagrams in flight, both in the order `seed` draws: how many were admitted.
 */
async function burst(
  workers: number,
  limit: number,
  requests: number,
  algorithm: AlgorithmName,
  seed: number,
): Promise<number> {
  const host = new Host(workers, algorithm, `${limit}/min`)
  const draw = random(seed)
  const statuses: (Promise<number> | number)[] = []
  let sent = 0
  while (sent < requests || host.inFlight.length > 0) {
    // Half the time a request arrives (while some are left), else a datagram gets through.
    if (sent < requests && (host.inFlight.length === 0 || draw(2) === 0)) {
      statuses.push(sendLogin(host.stages[draw(workers)]!))
      sent++
    } else {
      host.deliver(draw(host.inFlight.length))
    }
    await settle()
  }
  const done = await Promise.all(statuses)
  expect(done.filter((s) => s !== 200 && s !== 429)).toEqual([])
  return done.filter((s) => s === 200).length
}

describe.each(ALGORITHMS)(
  'a host holding %s limits exactly, datagrams in any order',
  (algorithm) => {
    it.each([
      [2, 5],
      [3, 10],
      [4, 10],
    ])(
      'admits exactly the limit on %i workers at %i a minute in a concurrent burst',
      async (workers, limit) => {
        const short: string[] = []
        for (let seed = 1; seed <= SEEDS; seed++) {
          const admitted = await burst(workers, limit, 2 * limit + 3, algorithm, seed)
          if (admitted !== limit) short.push(`seed ${seed}: ${admitted}`)
        }
        expect(short).toEqual([])
      },
    )
  },
)
