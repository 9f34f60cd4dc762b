/**
 * The rate-limit policies of a worker, across config generations (like IssuerRegistry): a policy
 * whose config did not change keeps its counter table over a reload, so a reload neither forgives
 * nor forgets anyone's consumption. It is also the worker's one {@link DeltaSource} and
 * {@link DeltaSink} for the gossip layer: it gathers and dispatches the deltas of every table.
 */
import type { ConfigProblem } from '../errors.js'
import type { ConsumptionDelta, DeltaSink, DeltaSource } from '../gossip/types.js'
import type { Algorithm, Decision } from './algorithms/algorithm.js'
import { fixedWindow } from './algorithms/fixed-window.js'
import { slidingWindow } from './algorithms/sliding-window.js'
import { tokenBucket } from './algorithms/token-bucket.js'
import { CounterTable, type Loan, type SyncDelta, type TierRate } from './counters.js'
import { PolicyHeaders } from './policy-headers.js'
import { meterOf, PolicyMeter } from '../observability/metrics/meter.js'
import type { HostOptions } from './host-shares.js'
import { checkQuotaPolicy, QuotaTable, type QuotaLeaseSource } from './quota.js'
import { parseRate } from './rate.js'
import type { AlgorithmName, RateLimitPolicyConfig, RateLimitsConfig } from './schema.js'

export const ALGORITHM_BY_NAME: Readonly<Record<AlgorithmName, Algorithm>> = {
  token_bucket: tokenBucket,
  sliding_window: slidingWindow,
  fixed_window: fixedWindow,
}

export enum KeyKind {
  Consumer,
  Credential,
  Ip,
  Route,
  Claim,
  Header,
}

/**
 * What the stage asks of a policy's counters: a CounterTable (rates) or a QuotaTable (quotas,
 * ./quota.ts).
 */
export interface Limiter {
  tierIndex(name: string): number
  consume(
    tier: number,
    fallback: boolean,
    key: string,
    nowMs: number,
    cost: number,
    out: Decision,
  ): number
  refund(slot: number, tier: number, cost: number): void
  /**
   * After `consume` set `Decision.borrow` (exact limits, ./host-shares.ts): asks this host's
   * other workers for budget; resolves once it came or the wait is over, true when the request
   * may now be admitted. Quotas never borrow.
   */
  borrow?(
    tier: number,
    fallback: boolean,
    key: string,
    cost: number,
    now: () => number,
  ): Promise<boolean>
}

/** A policy ready for the hot path. */
export class CompiledPolicy<Table extends Limiter = Limiter> {
  readonly name: string
  readonly keyKind: KeyKind
  /** The claim name, or the lowercase header name; '' for the other kinds. */
  readonly keyName: string
  /** The claim the tier is read from, or null when the policy has no tiers or reads the consumer's. */
  readonly tierClaim: string | null
  /** tier_from: consumer: the tier of the request's consumer. */
  readonly tierFromConsumer: boolean
  /** Tier index of requests without a (known) tier. */
  readonly defaultTier: number
  readonly table: Table
  readonly headers: PolicyHeaders
  /** phase: pre_auth: counted by the stage before authenticate (see pipeline/order.ts). */
  readonly preAuth: boolean

  /** Decisions under this policy's name, kept across the reloads that recompile it. */
  readonly meter: PolicyMeter

  constructor(
    name: string,
    config: RateLimitPolicyConfig,
    table: Table,
    meter: PolicyMeter = new PolicyMeter(),
  ) {
    this.name = name
    this.meter = meter
    const key = config.key
    const colon = key.indexOf(':')
    this.keyKind = keyKindOf(key)
    this.keyName = colon < 0 ? '' : key.slice(colon + 1)
    if (this.keyKind === KeyKind.Header) this.keyName = this.keyName.toLowerCase()
    this.tierFromConsumer = config.tier_from === 'consumer'
    this.tierClaim =
      config.tier_from === undefined || this.tierFromConsumer
        ? null
        : config.tier_from.slice('claim:'.length)
    this.defaultTier = config.default_tier === undefined ? 0 : table.tierIndex(config.default_tier)
    this.table = table
    this.headers = new PolicyHeaders(name, config.headers)
    this.preAuth = config.phase === 'pre_auth'
  }

  /** True when the key is read from the identity, which a public route never has. */
  get needsIdentity(): boolean {
    return kindNeedsIdentity(this.keyKind)
  }
}

function keyKindOf(key: string): KeyKind {
  const colon = key.indexOf(':')
  const kind = colon < 0 ? key : key.slice(0, colon)
  return kind === 'consumer'
    ? KeyKind.Consumer
    : kind === 'credential'
      ? KeyKind.Credential
      : kind === 'ip'
        ? KeyKind.Ip
        : kind === 'route'
          ? KeyKind.Route
          : kind === 'claim'
            ? KeyKind.Claim
            : KeyKind.Header
}

function kindNeedsIdentity(kind: KeyKind): boolean {
  return kind === KeyKind.Consumer || kind === KeyKind.Credential || kind === KeyKind.Claim
}

export interface RateLimitRegistryOptions {
  /** The clock, ms since the epoch; injected by tests. */
  readonly now?: () => number
  /** Members sharing every limit (see {@link RateLimitRegistry.shareOf}). Default 1. */
  readonly shareOf?: number
}

export class RateLimitRegistry implements DeltaSource, DeltaSink {
  readonly now: () => number
  #shareOf: number
  /** By name and config: a changed config is a new table. */
  /** Decisions by policy name, for /metrics; outlive the policies a reload replaces. */
  readonly meters = new Map<string, PolicyMeter>()
  #policies = new Map<string, CompiledPolicy<CounterTable>>()
  #used = new Set<string>()
  /** The policies of the generation in service, by name: where remote deltas go. */
  #live = new Map<string, CompiledPolicy<CounterTable>>()
  #pending = new Map<string, CompiledPolicy<CounterTable>>()
  #trackRedis = false
  /** Quota policies (quota:), by name and config like #policies; never gossiped. */
  #quotas = new Map<string, CompiledPolicy<QuotaTable>>()
  #liveQuotas = new Map<string, QuotaTable>()
  #pendingQuotas = new Map<string, QuotaTable>()
  #quotaSource: QuotaLeaseSource | null = null
  #host: HostOptions | null = null

  constructor(options: RateLimitRegistryOptions = {}) {
    this.now = options.now ?? Date.now
    this.#shareOf = options.shareOf ?? 1
  }

  #peers = 1

  /**
   * Members sharing every limit. With gossip working it is 1: each member sees the others'
   * consumption. With gossip cut off, set it to the number of members so each enforces its
   * share and together they still hold the configured limit.
   */
  get shareOf(): number {
    return this.#shareOf
  }

  set shareOf(n: number) {
    if (!Number.isFinite(n) || n < 1) throw new RangeError(`shareOf must be at least 1 (got ${n})`)
    this.#shareOf = n
    for (const policy of this.#policies.values()) policy.table.shareOf = n
  }

  /** Members exchanging consumption by gossip right now, this one included (see CounterTable.peers). */
  get peers(): number {
    return this.#peers
  }

  set peers(n: number) {
    this.#peers = n >= 1 ? n : 1
    for (const policy of this.#policies.values()) policy.table.peers = this.#peers
  }

  /**
   * How this worker holds small limits exactly with its host's other workers
   * (./host-shares.ts), or null; set once, before traffic, for every table now and to come.
   */
  get host(): HostOptions | null {
    return this.#host
  }

  set host(options: HostOptions | null) {
    this.#host = options
    for (const policy of this.#policies.values()) policy.table.host = options
  }

  /**
   * Compiles `rate_limits:`; problems are pushed with their config path. A name maps to null when
   * its policy is invalid (already reported), so routes naming it add no second problem.
   */
  compile(
    configs: RateLimitsConfig,
    problems: ConfigProblem[],
  ): Map<string, CompiledPolicy | null> {
    this.#used = new Set()
    this.#pending = new Map()
    this.#pendingQuotas = new Map()
    const byName = new Map<string, CompiledPolicy | null>()
    for (const [name, config] of Object.entries(configs)) {
      const phaseOk = checkPhase(config, `rate_limits.${name}`, problems)
      if (config.quota !== undefined) {
        const quota = this.#compileQuota(name, config, problems)
        byName.set(name, phaseOk ? quota : null)
        continue
      }
      const tiers = checkPolicy(name, config, `rate_limits.${name}`, problems)
      if (tiers === null || !phaseOk) {
        byName.set(name, null)
        continue
      }
      const id = `${name}\n${JSON.stringify(config)}`
      this.#used.add(id)
      let policy = this.#policies.get(id)
      if (policy === undefined) {
        const table = new CounterTable({
          policy: name,
          algorithm: ALGORITHM_BY_NAME[config.algorithm],
          tiers,
          maxKeys: config.max_keys,
          shareOf: this.#shareOf,
        })
        table.trackRedis = this.#trackRedis
        table.peers = this.#peers
        table.host = this.#host
        policy = new CompiledPolicy(name, config, table, meterOf(this.meters, name, newPolicyMeter))
        this.#policies.set(id, policy)
      }
      byName.set(name, policy)
      this.#pending.set(name, policy)
    }
    return byName
  }

  #compileQuota(
    name: string,
    config: RateLimitPolicyConfig,
    problems: ConfigProblem[],
  ): CompiledPolicy<QuotaTable> | null {
    const before = problems.length
    checkQuotaPolicy(config, `rate_limits.${name}`, problems)
    if (problems.length > before) return null
    const id = `${name}\n${JSON.stringify(config)}`
    this.#used.add(id)
    let policy = this.#quotas.get(id)
    if (policy === undefined) {
      const table = new QuotaTable({
        policy: name,
        config: config.quota!,
        maxKeys: config.max_keys,
      })
      table.source = this.#quotaSource
      policy = new CompiledPolicy(name, config, table, meterOf(this.meters, name, newPolicyMeter))
      this.#quotas.set(id, policy)
    }
    this.#pendingQuotas.set(name, policy.table)
    return policy
  }

  /** Puts the last compile in service, and drops the tables it did not use. */
  sweep(): void {
    for (const id of this.#policies.keys()) if (!this.#used.has(id)) this.#policies.delete(id)
    for (const [id, policy] of this.#quotas) {
      if (this.#used.has(id)) continue
      // A quota dropped or changed by a reload: its leases go back to the cluster.
      policy.table.releaseAll(this.now())
      this.#quotas.delete(id)
    }
    this.#live = this.#pending
    this.#liveQuotas = this.#pendingQuotas
  }

  /**
   * The worker's quota leaser (src/state/quota-lease.ts), or null: without one every quota
   * behaves as with Redis down.
   */
  get quotaSource(): QuotaLeaseSource | null {
    return this.#quotaSource
  }

  set quotaSource(source: QuotaLeaseSource | null) {
    this.#quotaSource = source
    for (const policy of this.#quotas.values()) policy.table.source = source
  }

  /** The quota tables in service, by policy name. */
  quotaTables(): ReadonlyMap<string, QuotaTable> {
    return this.#liveQuotas
  }

  /** Every quota table kept, in service or not yet swept: what a closing leaser releases. */
  allQuotaTables(): QuotaTable[] {
    return [...this.#quotas.values()].map((policy) => policy.table)
  }

  takeLocalDeltas(): ConsumptionDelta[] {
    const out: ConsumptionDelta[] = []
    for (const policy of this.#live.values()) {
      for (const delta of policy.table.takeLocalDeltas()) out.push(delta)
    }
    return out
  }

  applyRemote(deltas: readonly ConsumptionDelta[], nowMs: number, fromThisHost = false): void {
    for (const delta of deltas) {
      // A peer with another config may name a policy this member lacks: ignored.
      this.#tableOf(delta.counter)?.applyDelta(delta, nowMs, fromThisHost)
    }
  }

  /** Another worker of this host asks for budget of `counter` (see CounterTable.lend). */
  lend(counter: string, need: number, give: boolean, nowMs: number): Loan {
    const loan: Loan = { granted: 0, left: 0 }
    this.#tableOf(counter)?.lend(counter, need, give, nowMs, loan)
    return loan
  }

  /** Budget of `counter` another worker of this host granted (see CounterTable.credit). */
  credit(counter: string, amount: number, nowMs: number): void {
    this.#tableOf(counter)?.credit(counter, amount, nowMs)
  }

  #tableOf(counter: string): CounterTable | undefined {
    const bar = counter.indexOf('|')
    return bar < 0 ? undefined : this.#live.get(counter.slice(0, bar))?.table
  }

  /**
   * True while a Redis reconciliation (src/state/rate-limit-sync.ts) runs: every table then keeps
   * the second accumulator that {@link takeRedisDeltas} drains, apart from the gossip one.
   */
  get trackRedis(): boolean {
    return this.#trackRedis
  }

  set trackRedis(on: boolean) {
    this.#trackRedis = on
    for (const policy of this.#policies.values()) policy.table.trackRedis = on
  }

  /** Local consumption (and keys used) since the last call, for Redis; see CounterTable. */
  takeRedisDeltas(): SyncDelta[] {
    const out: SyncDelta[] = []
    for (const policy of this.#live.values()) {
      for (const delta of policy.table.takeRedisDeltas()) out.push(delta)
    }
    return out
  }

  /** Merges the global state Redis reported for one counter (see CounterTable.applyGlobal). */
  applyGlobal(counter: string, window: number, global: number, nowMs: number): void {
    const bar = counter.indexOf('|')
    if (bar < 0) return
    this.#live.get(counter.slice(0, bar))?.table.applyGlobal(counter, window, global, nowMs)
  }

  /** Forgets idle keys of every table (new keys reclaim them anyway; this frees memory sooner). */
  sweepIdle(nowMs: number = this.now()): number {
    let freed = 0
    for (const policy of this.#live.values()) freed += policy.table.sweepIdle(nowMs)
    return freed
  }

  /** The tables in service, by policy name: for metrics and tests. */
  tables(): ReadonlyMap<string, CounterTable> {
    return new Map([...this.#live].map(([name, policy]) => [name, policy.table]))
  }
}

/**
 * A pre_auth policy counts before authenticate, where no request has an identity yet: its key
 * and its tier must not come from one. False (with the problems pushed) when they do.
 */
function checkPhase(
  config: RateLimitPolicyConfig,
  path: string,
  problems: ConfigProblem[],
): boolean {
  if (config.phase !== 'pre_auth') return true
  const before = problems.length
  if (kindNeedsIdentity(keyKindOf(config.key))) {
    problems.push({
      path: `${path}.phase`,
      reason:
        `pre_auth counts before authentication, when no request has an identity yet, and key ` +
        `${config.key} is read from the identity; key a pre_auth policy by ip, header:<name> or ` +
        `route, or make it post_auth`,
    })
  }
  // A quota refuses tier_from on its own (checkQuotaPolicy).
  if (config.tier_from !== undefined && config.quota === undefined) {
    problems.push({
      path: `${path}.tier_from`,
      reason:
        'a pre_auth policy counts before authentication, when there is no claim or consumer to ' +
        'read a tier from; give it a rate, or make it post_auth',
    })
  }
  return problems.length === before
}

/** The cross-field rules of one policy; its tier rates (index 0: its own rate), or null. */
function checkPolicy(
  name: string,
  config: RateLimitPolicyConfig,
  path: string,
  problems: ConfigProblem[],
): (TierRate | null)[] | null {
  const before = problems.length
  const bucket = config.algorithm === 'token_bucket'
  const windowBurst = (at: string) =>
    problems.push({
      path: at,
      reason: `burst applies to token_bucket only; a ${config.algorithm} admits its whole rate at once`,
    })
  const rateOf = (rate: string, burst: number | undefined, tier: string): TierRate => {
    // The schema pattern makes the parse total.
    const { count, windowMs } = parseRate(rate)!
    return { name: tier, count, windowMs, burst: bucket ? (burst ?? count) : count }
  }
  if (!bucket && config.burst !== undefined) windowBurst(`${path}.burst`)
  const tiers: (TierRate | null)[] = [
    config.rate === undefined ? null : rateOf(config.rate, config.burst, ''),
  ]
  const tierNames = Object.keys(config.tiers ?? {})
  for (const [tier, tierConfig] of Object.entries(config.tiers ?? {})) {
    if (!bucket && tierConfig.burst !== undefined) windowBurst(`${path}.tiers.${tier}.burst`)
    tiers.push(rateOf(tierConfig.rate, tierConfig.burst, tier))
  }
  if (config.tiers !== undefined && config.tier_from === undefined) {
    problems.push({
      path: `${path}.tier_from`,
      reason: 'tiers need tier_from: where a request’s tier is read (claim:<name> or consumer)',
    })
  }
  if (config.tiers === undefined && config.tier_from !== undefined) {
    problems.push({
      path: `${path}.tiers`,
      reason: 'tier_from needs tiers: the rate of each tier',
    })
  }
  if (config.default_tier !== undefined && !tierNames.includes(config.default_tier)) {
    problems.push({
      path: `${path}.default_tier`,
      reason: `no tier named "${config.default_tier}" (defined: ${tierNames.length === 0 ? 'none' : tierNames.join(', ')})`,
    })
  }
  if (config.rate === undefined && config.default_tier === undefined) {
    problems.push({
      path: `${path}.rate`,
      reason:
        config.tiers === undefined
          ? `is required: the rate of policy "${name}" (e.g. 100/s, 1000/min)`
          : 'is required unless default_tier names the tier of requests without a known tier',
    })
  }
  return problems.length > before ? null : tiers
}

function newPolicyMeter(): PolicyMeter {
  return new PolicyMeter()
}
