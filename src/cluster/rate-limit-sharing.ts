/**
 * How the workers of one or several hosts share every rate limit. Each worker is a gossip member
 * when limiting is shared at all (several workers, or seeds of other hosts): the member moves the
 * counters' consumption deltas between members every `gossip.interval`, so each local decision
 * sees nearly the global consumption.
 *
 * When members the worker expects are silent (gossip cut) and no Redis reconciliation is healthy
 * to stand in, the worker enforces only its share of each limit (limit / expected members), so
 * the sum over members still holds the limit (issue 5, "Both gone").
 *
 * Small limits (at most `gossip.exact_up_to` per window) are held exactly among the workers of
 * this host instead: each worker holds a share of every key and borrows from the others through
 * a {@link BudgetExchange} on the same sockets (src/rate-limit/host-shares.ts). Gossip
 * still carries their consumption to other hosts.
 */
import type { Logger } from 'pino'
import { GossipMember } from '../gossip/member.js'
import { BudgetExchange } from './budget-exchange.js'
import type { GossipSettings } from '../gossip/schema.js'
import type { RateLimitRegistry } from '../rate-limit/registry.js'

/** How often membership is looked at to choose the share. */
const SHARE_CHECK_MS = 250

export interface SharingOptions {
  readonly workerIndex: number
  readonly workerCount: number
  /** True while a Redis reconciliation keeps the global view (false without Redis). */
  readonly redisHealthy: () => boolean
}

export class RateLimitSharing {
  readonly #registry: RateLimitRegistry
  readonly #member: GossipMember | null
  readonly #exchange: BudgetExchange | null
  readonly #options: SharingOptions
  readonly #logger: Logger
  #timer: NodeJS.Timeout | null = null
  /** The most members ever seen alive at once, this worker included. */
  #expected: number

  constructor(
    registry: RateLimitRegistry,
    settings: GossipSettings,
    options: SharingOptions,
    logger: Logger,
  ) {
    this.#registry = registry
    this.#options = options
    this.#logger = logger
    this.#expected = options.workerCount
    const shared = options.workerCount > 1 || settings.seeds.length > 0
    this.#member = shared
      ? new GossipMember(
          { ...settings, index: options.workerIndex, localPeers: options.workerCount },
          registry,
          registry,
          logger,
        )
      : null
    this.#exchange =
      this.#member !== null && options.workerCount > 1 && settings.exactUpTo > 0
        ? new BudgetExchange(registry, this.#member, {
            workerIndex: options.workerIndex,
            timeoutMs: settings.borrowTimeoutMs,
          })
        : null
    if (this.#exchange !== null) {
      this.#member!.budget = this.#exchange
      registry.host = {
        workerIndex: options.workerIndex,
        workers: options.workerCount,
        upTo: settings.exactUpTo,
        broker: this.#exchange,
      }
    }
  }

  /** The budget exchange of exact limits, or null (one worker, or exact_up_to 0). */
  get exchange(): BudgetExchange | null {
    return this.#exchange
  }

  get member(): GossipMember | null {
    return this.#member
  }

  /**
   * The members every limit is shared among: the most seen alive at once, this worker included,
   * and never fewer than this host's workers. Members gone silent still count: each of them may
   * still admit its own share (gossip cut, Redis down), so the shares must not grow back.
   */
  get expected(): number {
    const alive = this.#member === null ? 1 : this.#member.size + 1
    return Math.max(this.#expected, alive)
  }

  async start(): Promise<void> {
    if (this.#member === null) return
    await this.#member.start()
    this.#timer = setInterval(() => this.#chooseShare(), SHARE_CHECK_MS)
    this.#timer.unref()
  }

  async close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.#exchange?.close()
    await this.#member?.close()
  }

  #chooseShare(): void {
    const alive = this.#member!.size + 1
    if (alive > this.#expected) this.#expected = alive
    // Each member admits at most its share of what is left between two gossip sends.
    if (this.#registry.peers !== alive) this.#registry.peers = alive
    const cut = alive < this.#expected && !this.#options.redisHealthy()
    const share = cut ? this.#expected : 1
    if (share !== this.#registry.shareOf) {
      this.#registry.shareOf = share
      if (cut) {
        this.#logger.warn(
          { alive, expected: this.#expected },
          'rate limits: gossip members silent and no Redis; each member enforces its share',
        )
      } else {
        this.#logger.info({ alive }, 'rate limits: members in touch again; shared limits restored')
      }
    }
  }
}
