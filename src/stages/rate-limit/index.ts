/**
 * rate-limit — how much a caller may still do. Applies the route's policies (`rate_limit:`, the
 * names of `rate_limits:` entries) in order: each counts the request against the key it is keyed
 * by, in the caller's tier. A request every policy admits goes on; one a policy refuses gets 429,
 * and consumes nothing from the policies that admitted it.
 *
 * Local and synchronous: the decision reads and writes this worker's counter tables (counters.ts)
 * and never waits on the network, except when a small limit held exactly on the host
 * (host-shares.ts) finds this worker's share spent: then the request awaits budget from the
 * host's other workers (a loopback exchange with a bounded wait) and is decided again. The
 * consumption of other members arrives in the background through RateLimitRegistry (gossip
 * deltas, Redis reconciliation; quota policies lease blocks from Redis, quota.ts). Deciding for a known key creates no object or array; the header values (and
 * the key text of a non-string claim) are the only strings a request builds.
 *
 * Keys: consumer (the consumer's name when the identity names one, so a consumer's keys and
 * tokens share one counter; else issuer + subject of the identity), credential (issuer + the token's jti, or
 * its sub, iat and exp without one), ip (client address), route, claim:<name>, header:<name>. A
 * request without the claim or header is counted by its client address, in counters apart from
 * those of claim or header values. Keys read from the identity are refused at config time on a
 * public route (auth: none), where no request could have them.
 *
 * Quotas (a policy with `quota:`, ./quota.ts) take the same path: their QuotaTable consumes from
 * the member's lease of the key, synchronously, and leases more from Redis in the background; an
 * empty lease is a 429 like a spent rate.
 *
 * Phases: a route's policies run in two stages of this one class. `post_auth` policies (the
 * default) run as `rate-limit`, after authorize, so only admitted callers spend them;
 * `pre_auth` policies run as `rate-limit-pre-auth`, before authenticate, so every attempt counts,
 * refused credentials included, and a flood of bad credentials is throttled before each is
 * verified. Their keys need no identity (ip, header, route), which the registry checks.
 *
 * Reads: identity, headers, clientAddress. Writes: responseHeaders (RateLimit-Policy, RateLimit,
 * X-RateLimit-*, and Retry-After on 429, whose value the reset repeats; one set per response,
 * headers.ts reportDecision), rateLimitRemaining/FieldsAt/FieldsEnd. The fields a pre_auth stage
 * writes stay on a 401 or 403 from the stages after it. Answers: 429 `rate_limited`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6585#section-4 429 Too Many Requests
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3 Retry-After
 * @see https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/ (draft 10)
 */
import { Type, type Static, type TObject } from '@sinclair/typebox'
import { createRejection } from '../../errors.js'
import type { Identity } from '../../identity.js'
import {
  routeProduct,
  type RouteSite,
  type Stage,
  type StageDefinition,
  type StageExchange,
  type Verdict,
} from '../../pipeline/stage.js'
import { AUTHENTICATION } from '../authenticate/index.js'
import { createDecision, type Decision } from '../../rate-limit/algorithms/algorithm.js'
import { reportDecision, reportedFields } from './headers.js'
import { KeyKind, type CompiledPolicy } from '../../rate-limit/registry.js'
import { RouteRateLimitSchema } from './schema.js'

export const RATE_LIMITED = createRejection(
  429,
  'rate_limited',
  'Too many requests: the rate limit of this route is spent; retry after Retry-After seconds.',
)

/** One request is one unit; a per-route `cost` may come later. */
const COST = 1
/**
 * Borrow rounds one request may wait for: a round's budget can go to another request of the same
 * worker first, or be with a worker still borrowing (then the next round finds it), and each
 * policy of the route may need one.
 */
const BORROW_ROUNDS = 4

/** The rate-limit stages of a route, by phase: null where it names no policy of that phase. */
export interface RateLimitStages {
  readonly preAuth: RateLimitStage | null
  readonly postAuth: RateLimitStage | null
}

/** The route keys this stage owns. */
const ROUTE_KEYS = { rate_limit: Type.Optional(RouteRateLimitSchema) }
export type RateLimitRouteConfig = Static<TObject<typeof ROUTE_KEYS>>

/** The shared services the stage asks for. */
export interface RateLimitDeps {
  /** The generation's `rate_limits:` compiled (null: invalid, reported under rate_limits). */
  readonly rateLimitPolicies: ReadonlyMap<string, CompiledPolicy | null>
  /** The clock of the counters (RateLimitRegistry.now). */
  readonly now: () => number
}

/**
 * The response fields a route's policies may write (lower case), for the stages that name them to
 * clients: cors exposes them to cross-origin pages.
 */
export const RATE_LIMIT_FIELDS = routeProduct<readonly string[]>('rate-limit-fields')

/** Both phases' stages: `rate-limit-pre-auth` and `rate-limit` (order.ts places each). */
export const rateLimit: StageDefinition<typeof ROUTE_KEYS, RateLimitDeps> = {
  name: 'rate-limit',
  schema: ROUTE_KEYS,
  compile(config, route, deps) {
    const isPublic = route.product(AUTHENTICATION)?.isPublic ?? true
    const stages = compileRateLimit(config, route, isPublic, deps.rateLimitPolicies, deps.now)
    if (stages === null) return null
    const list = [stages.preAuth, stages.postAuth].filter((stage) => stage !== null)
    route.provide(RATE_LIMIT_FIELDS, reportedFields(list.flatMap((stage) => stage.policies)))
    return list
  },
}

/**
 * Compiles the rate-limit stages of a route, or null when it names no policy. `isPublic`: the
 * route has no authentication, so no policy keyed by the identity can apply.
 */
export function compileRateLimit(
  route: RateLimitRouteConfig,
  site: RouteSite,
  isPublic: boolean,
  policies: ReadonlyMap<string, CompiledPolicy | null>,
  now: () => number,
): RateLimitStages | null {
  const { path, problems } = site
  const names = route.rate_limit
  if (names === undefined) return null
  const list = typeof names === 'string' ? [names] : names
  const compiled: CompiledPolicy[] = []
  list.forEach((name, i) => {
    const at = typeof names === 'string' ? `${path}.rate_limit` : `${path}.rate_limit[${i}]`
    const policy = policies.get(name)
    // undefined: an unknown name, reported by config/references.ts; null: the policy itself is
    // invalid, and already reported under rate_limits.
    if (policy === null || policy === undefined) return
    if (policy.needsIdentity && isPublic) {
      problems.push({
        path: at,
        reason: `policy "${name}" is keyed by ${keyText(policy)}, which needs an authenticated route; this route is public (auth: none)`,
      })
      return
    }
    compiled.push(policy)
  })
  if (compiled.length !== list.length) return null
  const pre = compiled.filter((policy) => policy.preAuth)
  const post = compiled.filter((policy) => !policy.preAuth)
  return {
    preAuth:
      pre.length === 0 ? null : new RateLimitStage('rate-limit-pre-auth', site.name, pre, now),
    postAuth: post.length === 0 ? null : new RateLimitStage('rate-limit', site.name, post, now),
  }
}

function keyText(policy: CompiledPolicy): string {
  if (policy.keyKind === KeyKind.Consumer) return 'consumer'
  if (policy.keyKind === KeyKind.Credential) return 'credential'
  return `claim:${policy.keyName}`
}

export class RateLimitStage implements Stage {
  readonly name: 'rate-limit' | 'rate-limit-pre-auth'
  readonly onResponse = null
  readonly onFinish = null
  readonly policies: readonly CompiledPolicy[]
  readonly #route: string
  readonly #now: () => number
  /** Scratch state of the request being decided: the stage runs synchronously, one at a time. */
  readonly #decision: Decision = createDecision()
  readonly #report: Decision = createDecision()
  readonly #slots: Int32Array
  readonly #tiers: Int32Array
  #fallback = false

  constructor(
    name: RateLimitStage['name'],
    route: string,
    policies: readonly CompiledPolicy[],
    now: () => number,
  ) {
    this.name = name
    this.#route = route
    this.policies = policies
    this.#now = now
    this.#slots = new Int32Array(policies.length)
    this.#tiers = new Int32Array(policies.length)
  }

  onRequest(exchange: StageExchange): Verdict | Promise<Verdict> {
    return this.#decide(exchange, 0)
  }

  #decide(exchange: StageExchange, borrowed: number): Verdict | Promise<Verdict> {
    const now = this.#now()
    const policies = this.policies
    const out = this.#decision
    const report = this.#report
    let reported = -1
    for (let i = 0; i < policies.length; i++) {
      const policy = policies[i]!
      const key = this.#keyOf(policy, exchange)
      const tier = tierOf(policy, exchange)
      out.borrow = false
      const slot = policy.table.consume(tier, this.#fallback, key, now, COST, out)
      if (!out.admitted) {
        // Admitted by the policies before: give their units back, this request is not served.
        for (let j = 0; j < i; j++)
          policies[j]!.table.refund(this.#slots[j]!, this.#tiers[j]!, COST)
        if (out.borrow && borrowed < BORROW_ROUNDS) {
          return this.#borrowThenDecide(exchange, policy, tier, this.#fallback, key, borrowed)
        }
        policy.meter.limited++
        reportDecision(exchange, policy.headers, out)
        return RATE_LIMITED
      }
      this.#slots[i] = slot
      this.#tiers[i] = tier
      if (reported < 0 || out.remaining < report.remaining) {
        reported = i
        copyDecision(out, report)
      }
    }
    // Counted once every policy admitted: a policy whose units were refunded decided nothing.
    for (let i = 0; i < policies.length; i++) policies[i]!.meter.admitted++
    reportDecision(exchange, policies[reported]!.headers, report)
    return undefined
  }

  /** Decides again once the host's other workers answered (or the wait is over). */
  async #borrowThenDecide(
    exchange: StageExchange,
    policy: CompiledPolicy,
    tier: number,
    fallback: boolean,
    key: string,
    borrowed: number,
  ): Promise<Verdict> {
    const paid = (await policy.table.borrow?.(tier, fallback, key, COST, this.#now)) ?? false
    // Nothing came (the host is spent, or a worker did not answer in time): decided without
    // asking again, which would only wait again.
    return this.#decide(exchange, paid ? borrowed + 1 : BORROW_ROUNDS)
  }

  /** The key of the request for `policy`; sets #fallback when it is the client address instead. */
  #keyOf(policy: CompiledPolicy, exchange: StageExchange): string {
    this.#fallback = false
    const identity = exchange.identity
    switch (policy.keyKind) {
      case KeyKind.Ip:
        return exchange.clientAddress
      case KeyKind.Route:
        return this.#route
      case KeyKind.Consumer:
        if (identity !== null) return consumerKey(identity)
        break
      case KeyKind.Credential:
        if (identity !== null) return credentialKey(identity)
        break
      case KeyKind.Claim: {
        const value = identity === null ? undefined : identity.claims[policy.keyName]
        if (typeof value === 'string' && value !== '') return value
        if (typeof value === 'number' || typeof value === 'boolean') return String(value)
        break
      }
      case KeyKind.Header: {
        const value = exchange.header(policy.keyName)
        if (value !== undefined && value !== '') return value
        break
      }
    }
    this.#fallback = true
    return exchange.clientAddress
  }
}

function tierOf(policy: CompiledPolicy, exchange: StageExchange): number {
  let value: unknown
  if (policy.tierFromConsumer) value = exchange.consumer?.tier
  else {
    const claim = policy.tierClaim
    const identity = exchange.identity
    if (claim === null || identity === null) return policy.defaultTier
    value = identity.claims[claim]
  }
  if (typeof value !== 'string') return policy.defaultTier
  const tier = policy.table.tierIndex(value)
  // Index 0 is the policy's own rate, which no tier name selects.
  return tier > 0 ? tier : policy.defaultTier
}

function copyDecision(from: Decision, to: Decision): void {
  to.admitted = from.admitted
  to.quota = from.quota
  to.windowSeconds = from.windowSeconds
  to.remaining = from.remaining
  to.resetSeconds = from.resetSeconds
  to.retryAfterSeconds = from.retryAfterSeconds
}

// Keys built from an identity, once per identity object: a cached token's requests share one.
const CONSUMER_KEYS = new WeakMap<Identity, string>()
const CREDENTIAL_KEYS = new WeakMap<Identity, string>()

function consumerKey(identity: Identity): string {
  // A known consumer (authenticate swaps in an identity without one when the name is unknown):
  // consumer names have no '|', so they never meet an issuer|subject key.
  if (identity.consumer !== null) return identity.consumer
  let key = CONSUMER_KEYS.get(identity)
  if (key === undefined) {
    key = `${identity.issuer}|${identity.subject ?? ''}`
    CONSUMER_KEYS.set(identity, key)
  }
  return key
}

function credentialKey(identity: Identity): string {
  let key = CREDENTIAL_KEYS.get(identity)
  if (key === undefined) {
    const { jti, sub, iat, exp } = identity.claims
    key =
      identity.credentialId !== null
        ? `${identity.issuer}|key:${identity.credentialId}`
        : typeof jti === 'string'
          ? `${identity.issuer}|jti:${jti}`
          : `${identity.issuer}|${String(sub)}|${String(iat)}|${String(exp)}`
    CREDENTIAL_KEYS.set(identity, key)
  }
  return key
}
