/**
 * The one place that orders stages. Every route's pipeline is sorted by this list, whatever
 * order its config names them in. Each entry says why it stands where it does.
 */
export const STAGE_ORDER = [
  // Cheapest checks first: a banned address costs no parsing at all.
  'ip-restriction',
  // Size limits before anything reads the body or spends CPU on credentials.
  'limits',
  // CORS preflights carry no credentials (Fetch standard), so they must be answered before auth.
  'cors',
  // The route's pre_auth rate-limit policies (keys that need no identity: ip, header, route):
  // every attempt counts before credentials are checked, so a flood of bad credentials is
  // throttled instead of verified one by one. After cors: preflights carry no credentials.
  'rate-limit-pre-auth',
  // Who is calling: mtls, api_key, jwt, introspection, hmac (any-of).
  'authenticate',
  // What the identity may do: scopes, groups. Needs the identity.
  'authorize',
  // The post_auth policies: limits are per consumer, so they need the identity; after authorize
  // so that forbidden requests do not consume a caller's quota.
  'rate-limit',
  // Body validation is the most expensive check, so only admitted requests pay for it.
  'validate',
  // Last: identity headers in, credentials and spoofed identity headers out, just before proxying.
  'forward',
] as const

export type StageName = (typeof STAGE_ORDER)[number]

const RANK: ReadonlyMap<StageName, number> = new Map(STAGE_ORDER.map((name, i) => [name, i]))

export function stageRank(name: StageName): number {
  return RANK.get(name) ?? Number.MAX_SAFE_INTEGER
}
