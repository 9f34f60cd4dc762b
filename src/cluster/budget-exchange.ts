/**
 * The budget exchange of limits held exactly on one host (src/rate-limit/host-shares.ts):
 * a worker whose share of a key is spent asks the host's other workers for some of theirs, over
 * the gossip sockets they already have (loopback, signed like every gossip datagram), and awaits
 * the answers for at most `gossip.borrow_timeout`. A round ends as soon as the grants cover what
 * was asked, or every worker answered, or the wait is over: then the request is decided again,
 * and refused if the budget is still missing, never admitted on a guess. A grant that arrives
 * after its round ended is credited all the same, so no budget is lost to a slow answer.
 *
 * Rounds are per key: requests of the same worker for a key whose round is in flight wait for
 * that round. Two workers borrowing the same key at once would hand their crumbs to each other
 * and both come short, so a worker that is itself borrowing lends only to a worker of a lower
 * index.
 *
 * A grant on its way is in no worker's share, so a round that read every share meanwhile could
 * find the host spent while its budget is only moving. A worker therefore reports as left, on
 * top of its spare, what it lent of the key to other workers than the asker within the last
 * `timeoutMs` (to the asker itself, the grant arrived first: one socket's datagrams to another
 * arrive in order on loopback), and the asker asks again rather than refusing.
 */
import type { GossipMember } from '../gossip/member.js'
import type { BudgetHandler } from '../gossip/types.js'
import type { BudgetBroker } from '../rate-limit/host-shares.js'
import type { RateLimitRegistry } from '../rate-limit/registry.js'

/** What the exchange sends through: the worker's gossip member. */
export type BudgetSender = Pick<GossipMember, 'requestBudget'>

export interface BudgetExchangeOptions {
  readonly workerIndex: number
  /** How long a round waits for the other workers' answers. */
  readonly timeoutMs: number
}

/** Budget of a key lent lately to one worker. */
interface Lent {
  amount: number
  /** Date.now() of the last grant: datagrams travel in real time. */
  at: number
}

interface Round {
  readonly id: number
  readonly counter: string
  readonly need: number
  /** Workers asked that have not answered. */
  waiting: number
  granted: number
  left: number
  readonly timer: NodeJS.Timeout
  readonly done: Promise<number>
  resolve(left: number): void
}

export class BudgetExchange implements BudgetBroker, BudgetHandler {
  readonly #registry: RateLimitRegistry
  readonly #member: BudgetSender
  readonly #options: BudgetExchangeOptions
  /** Rounds in flight, by counter and by id. */
  readonly #byCounter = new Map<string, Round>()
  readonly #byId = new Map<number, Round>()
  #nextId = 0
  /** Per key, per worker index: what this worker lent it lately. */
  readonly #lent = new Map<string, (Lent | undefined)[]>()
  #sweptAt = 0
  /** Rounds asked, rounds the wait ended, budget lent and borrowed: for tests and metrics. */
  readonly stats = { rounds: 0, timeouts: 0, lent: 0, borrowed: 0 }

  constructor(registry: RateLimitRegistry, member: BudgetSender, options: BudgetExchangeOptions) {
    this.#registry = registry
    this.#member = member
    this.#options = options
  }

  borrowing(counter: string): boolean {
    return this.#byCounter.has(counter)
  }

  borrow(counter: string, need: number): Promise<number> {
    const current = this.#byCounter.get(counter)
    if (current !== undefined) return current.done
    const id = this.#nextId
    this.#nextId = id >= Number.MAX_SAFE_INTEGER ? 0 : id + 1
    const asked = this.#member.requestBudget(id, counter, need)
    // Nobody to ask (socket not bound yet, or closed): nothing can come.
    if (asked === 0) return Promise.resolve(0)
    this.stats.rounds++
    let resolve!: (left: number) => void
    const done = new Promise<number>((r) => (resolve = r))
    const round: Round = {
      id,
      counter,
      need,
      waiting: asked,
      granted: 0,
      left: 0,
      timer: setTimeout(() => this.#timeout(round), this.#options.timeoutMs).unref(),
      done,
      resolve,
    }
    this.#byCounter.set(counter, round)
    this.#byId.set(id, round)
    return done
  }

  lend(
    counter: string,
    need: number,
    from: number,
    nowMs: number,
  ): { granted: number; left: number } {
    const give = from < this.#options.workerIndex || !this.#byCounter.has(counter)
    const loan = this.#registry.lend(counter, need, give, nowMs)
    this.stats.lent += loan.granted
    const now = Date.now()
    const moving = this.#moving(counter, from, now)
    if (loan.granted > 0) this.#lending(counter, from, loan.granted, now)
    return moving > 0 ? { granted: loan.granted, left: loan.left + moving } : loan
  }

  granted(id: number, counter: string, amount: number, left: number, nowMs: number): void {
    if (amount > 0) {
      this.#registry.credit(counter, amount, nowMs)
      this.stats.borrowed += amount
    }
    const round = this.#byId.get(id)
    if (round === undefined || round.counter !== counter) return
    round.waiting--
    round.granted += amount
    round.left += left
    // What the others hold is known only once every one of them answered.
    if (round.waiting === 0) this.#end(round, round.left)
    else if (round.granted >= round.need) this.#end(round, Infinity)
  }

  /** Ends every round in flight (their requests are refused unless budget already came). */
  close(): void {
    for (const round of [...this.#byId.values()]) this.#end(round, Infinity)
  }

  /** What this worker lent of `counter` within the last `timeoutMs` to workers other than `asker`. */
  #moving(counter: string, asker: number, now: number): number {
    const lent = this.#lent.get(counter)
    if (lent === undefined) return 0
    let moving = 0
    for (let to = 0; to < lent.length; to++) {
      const grant = lent[to]
      if (to !== asker && grant !== undefined && now - grant.at < this.#options.timeoutMs) {
        moving += grant.amount
      }
    }
    return moving
  }

  #lending(counter: string, to: number, amount: number, now: number): void {
    const timeoutMs = this.#options.timeoutMs
    if (now - this.#sweptAt >= timeoutMs) {
      // At most once a wait: forgets keys lent to nobody lately.
      this.#sweptAt = now
      for (const [key, lent] of this.#lent) {
        if (lent.every((grant) => grant === undefined || now - grant.at >= timeoutMs)) {
          this.#lent.delete(key)
        }
      }
    }
    let lent = this.#lent.get(counter)
    if (lent === undefined) this.#lent.set(counter, (lent = []))
    const grant = lent[to]
    if (grant === undefined || now - grant.at >= timeoutMs) lent[to] = { amount, at: now }
    else {
      grant.amount += amount
      grant.at = now
    }
  }

  #timeout(round: Round): void {
    if (this.#byId.get(round.id) !== round) return
    this.stats.timeouts++
    // Some workers did not answer: what they hold is unknown.
    this.#end(round, Infinity)
  }

  #end(round: Round, left: number): void {
    clearTimeout(round.timer)
    this.#byId.delete(round.id)
    if (this.#byCounter.get(round.counter) === round) this.#byCounter.delete(round.counter)
    round.resolve(left)
  }
}
