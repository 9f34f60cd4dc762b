/**
 * Reports a request's rate-limit decision on its response: the policy's fields (their format is
 * the domain's, src/rate-limit/policy-headers.ts) and, for a refusal, Retry-After.
 */
import type { StageExchange } from '../../pipeline/stage.js'
import type { Decision } from '../../rate-limit/algorithms/algorithm.js'
import {
  RATELIMIT,
  RATELIMIT_POLICY,
  X_LIMIT,
  X_REMAINING,
  X_RESET,
  type PolicyHeaders,
} from '../../rate-limit/policy-headers.js'
import type { CompiledPolicy } from '../../rate-limit/registry.js'

const RETRY_AFTER = 'retry-after'

/**
 * Reports one policy's decision for this request: its fields (when `headers` enables them) and,
 * for a refusal, Retry-After. A route counts a request in up to two stages (pre_auth, then
 * post_auth), and a response carries one set of fields: an admitted decision replaces the
 * earlier stage's report only when less remains, as among the policies of one stage; a refusal
 * always replaces it. The earlier report stays on a 401 or 403 between the two stages, so a
 * caller refused for its credentials still learns how many attempts it has left.
 */
export function reportDecision(
  exchange: StageExchange,
  headers: PolicyHeaders,
  decision: Decision,
): void {
  const earlier = exchange.rateLimitRemaining
  if (earlier >= 0) {
    if (decision.admitted && earlier <= decision.remaining) return
    const at = exchange.rateLimitFieldsAt
    // Nothing to take back when the earlier policy sends no fields.
    if (exchange.rateLimitFieldsEnd > at) {
      exchange.responseHeaders!.splice(at, exchange.rateLimitFieldsEnd - at)
    }
  }
  exchange.rateLimitRemaining = decision.remaining
  exchange.rateLimitFieldsAt = exchange.responseHeaders?.length ?? 0
  if (headers.enabled) headers.write(exchange, decision)
  if (!decision.admitted) {
    exchange.addResponseHeader(RETRY_AFTER, String(decision.retryAfterSeconds))
  }
  exchange.rateLimitFieldsEnd = exchange.responseHeaders?.length ?? 0
}

/** The names of every field `policies` may write on a response, Retry-After included. */
export function reportedFields(policies: readonly CompiledPolicy[]): string[] {
  const names = new Set<string>()
  for (const policy of policies) {
    if (policy.headers.ietf) names.add(RATELIMIT).add(RATELIMIT_POLICY)
    if (policy.headers.x) names.add(X_LIMIT).add(X_REMAINING).add(X_RESET)
  }
  return [...names.add(RETRY_AFTER)]
}
