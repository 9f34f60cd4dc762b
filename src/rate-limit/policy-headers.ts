/**
 * Rate-limit response header fields. Two families, each switchable per policy (`headers:`):
 *
 * - IETF (draft-ietf-httpapi-ratelimit-headers-10, September 2025; structured fields, RFC 9651):
 *   `RateLimit-Policy: "burst";q=100;w=60` (quota q per window w seconds) and
 *   `RateLimit: "burst";r=42;t=17` (r remaining, t seconds until the quota is whole again).
 *   The policy item is an sf-string naming the rate_limits entry.
 * - The common `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (seconds from
 *   now, like the draft's t rather than an epoch time, so clients with a wrong clock still wait
 *   the right time).
 *
 * When a route applies several policies, the one with the least remaining is reported, as the
 * draft allows a server to do; across the two stages of a route (pre_auth, post_auth) too: a
 * response carries one set of fields (stages/rate-limit/headers.ts reports one).
 *
 * A refusal reports its Retry-After as the reset (t, X-RateLimit-Reset): that is when quota is
 * next available to the caller (the draft's t: "seconds until additional quota ... is made
 * available"), and the draft wants Retry-After no earlier than the reset. An algorithm's own
 * reset of a refused key (a bucket whole again, a window ended) can be later than the wait for
 * one unit, and a refusal by the share rule or a quota lease in flight has a wait of its own.
 *
 * @see https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/
 */
import type { Decision } from './algorithms/algorithm.js'
import type { RateLimitPolicyConfig } from './schema.js'

/** Where a policy writes its fields: the exchange's response, seen only this far. */
export interface ResponseHeaders {
  addResponseHeader(name: string, value: string): void
}

export const RATELIMIT_POLICY = 'ratelimit-policy'
export const RATELIMIT = 'ratelimit'
export const X_LIMIT = 'x-ratelimit-limit'
export const X_REMAINING = 'x-ratelimit-remaining'
export const X_RESET = 'x-ratelimit-reset'

/** What a policy writes, with the strings that do not change between requests built once. */
export class PolicyHeaders {
  readonly ietf: boolean
  readonly x: boolean
  /** `"name"`: the policy's sf-string item. */
  readonly #item: string
  /** Last RateLimit-Policy value per (quota, window): they change only with the tier or shareOf. */
  #policyQuota = -1
  #policyWindow = -1
  #policyValue = ''

  constructor(name: string, config: RateLimitPolicyConfig['headers']) {
    this.ietf = config.ietf
    this.x = config.x_ratelimit
    // Policy names match NAME_PATTERN: nothing in them needs escaping in an sf-string.
    this.#item = `"${name}"`
  }

  get enabled(): boolean {
    return this.ietf || this.x
  }

  /** Adds the fields describing `decision` to the exchange's response headers. */
  write(exchange: ResponseHeaders, decision: Decision): void {
    const reset = decision.admitted ? decision.resetSeconds : decision.retryAfterSeconds
    if (this.ietf) {
      exchange.addResponseHeader(RATELIMIT_POLICY, this.policyValue(decision))
      exchange.addResponseHeader(RATELIMIT, `${this.#item};r=${decision.remaining};t=${reset}`)
    }
    if (this.x) {
      exchange.addResponseHeader(X_LIMIT, String(decision.quota))
      exchange.addResponseHeader(X_REMAINING, String(decision.remaining))
      exchange.addResponseHeader(X_RESET, String(reset))
    }
  }

  policyValue(decision: Decision): string {
    if (decision.quota !== this.#policyQuota || decision.windowSeconds !== this.#policyWindow) {
      this.#policyQuota = decision.quota
      this.#policyWindow = decision.windowSeconds
      this.#policyValue = `${this.#item};q=${decision.quota};w=${decision.windowSeconds}`
    }
    return this.#policyValue
  }
}
