/**
 * What rate-limit counters and the gossip layer exchange: consumption deltas. A member batches
 * what its own requests consumed since its last send; every other member adds those counts to its
 * copy of the same counter, so each member's local decision sees (nearly) the global consumption.
 */

/** Consumption of one counter since the sender's previous batch. */
export interface ConsumptionDelta {
  /**
   * The counter's identity, the same on every member whose config has the same policy:
   * `<policy name>|<tier or ''>|<key value>` (key values are what the policy keys by: a consumer,
   * a claim, an address…).
   */
  readonly counter: string
  /**
   * Start of the window the consumption belongs to, in ms since the epoch (fixed and sliding
   * windows); 0 for token buckets, whose consumption is not windowed.
   */
  readonly window: number
  /** Requests (or cost units) consumed. */
  readonly count: number
}

/**
 * The seam between the counters and the gossip layer. (Redis reconciliation reads and merges
 * counters through RateLimitRegistry.takeRedisDeltas / applyGlobal instead.)
 */
export interface DeltaSink {
  /**
   * Deltas received from another member; `fromThisHost` when it is a worker of this host (limits
   * held exactly on the host ignore those: their budget is split between the workers instead).
   */
  applyRemote(deltas: readonly ConsumptionDelta[], nowMs: number, fromThisHost: boolean): void
}

/**
 * The budget exchange between the workers of one host (src/cluster/budget-exchange.ts): what a
 * member does with the borrow requests and grants it receives. Only this host's workers are
 * heard: another host could otherwise drain a worker's shares.
 */
export interface BudgetHandler {
  /** Worker `from` asks for `need` of `counter`: what is granted, and what is left after. */
  lend(
    counter: string,
    need: number,
    from: number,
    nowMs: number,
  ): { readonly granted: number; readonly left: number }
  /** The answer to this worker's request `id`. */
  granted(id: number, counter: string, amount: number, left: number, nowMs: number): void
}

export interface DeltaSource {
  /** Hands over (and forgets) the local consumption since the last call. */
  takeLocalDeltas(): ConsumptionDelta[]
}
