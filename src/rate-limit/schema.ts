/**
 * Config schema of rate limiting: the top-level `rate_limits:` map of named policies. A route
 * applies them by name (`rate_limit:`, in stages/rate-limit/schema.ts). Rates are in the user's
 * words (`100/s`, `1000/min`); rate.ts turns them into a count and a window.
 */
import { Type, type Static } from '@sinclair/typebox'
import { HEADER_NAME_PATTERN, Name, NamedRecord, Pattern } from '../config/fragments.js'

/** `100/s`, `1000/min`, `5000/h`, `100000/day`: a positive count per unit of time. */
export const RATE_PATTERN = '^[1-9][0-9]{0,9}/(s|sec|second|m|min|minute|h|hour|d|day)$'

const HEADER_TOKEN = HEADER_NAME_PATTERN.slice(1, -1)
/** A claim name: no dots (nested claims are not keys), no spaces. */
const CLAIM_NAME = '[^.\\s]{1,64}'

/** What a policy counts by; see {@link KeyConfig}. */
export const KEY_PATTERN = `^(consumer|credential|ip|route|claim:${CLAIM_NAME}|header:${HEADER_TOKEN})$`

export const ALGORITHMS = ['token_bucket', 'sliding_window', 'fixed_window'] as const
export type AlgorithmName = (typeof ALGORITHMS)[number]

/** Where in the pipeline a policy counts: before authenticate, or after authorize. */
export const PHASES = ['post_auth', 'pre_auth'] as const
export type Phase = (typeof PHASES)[number]

const Rate = (description: string) =>
  Pattern(
    RATE_PATTERN,
    'must be a rate: a whole count per unit of time, such as 100/s, 1000/min, 5000/h or ' +
      '100000/day (units: s, sec, second, m, min, minute, h, hour, d, day)',
    { description },
  )

const Burst = Type.Integer({
  minimum: 1,
  maximum: 1_000_000_000,
  description:
    'token_bucket only: the bucket capacity, i.e. how many requests may arrive at once after a ' +
    'quiet spell. Default: the count of the rate (1000/min bursts up to 1000).',
})

export const TierSchema = Type.Object(
  {
    rate: Rate('The rate of this tier, like the policy rate.'),
    burst: Type.Optional(Burst),
  },
  { additionalProperties: false },
)

/** Calendar periods of a quota, aligned to UTC: an hour from :00, a day from 00:00, a month from the 1st. */
export const QUOTA_PERIODS = ['hour', 'day', 'month'] as const
export type QuotaPeriod = (typeof QUOTA_PERIODS)[number]

export const QuotaSchema = Type.Object(
  {
    limit: Type.Integer({
      minimum: 1,
      maximum: 1_000_000_000_000,
      description:
        'Requests per period across the whole cluster, exactly: members lease blocks of it from ' +
        'Redis and never admit a request they hold no leased unit for.',
    }),
    period: Type.Union(
      QUOTA_PERIODS.map((p) => Type.Literal(p)),
      {
        description:
          'The calendar period the limit applies to, in UTC: hour (from :00), day (from 00:00 ' +
          'UTC), month (from the 1st, 00:00 UTC). The count starts again at each period.',
        // Daily quotas are the common plan shape (API products bill per day or per month).
        default: 'day',
      },
    ),
    block: Type.Union(
      [Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: 1_000_000_000 })],
      {
        description:
          'Units a member leases at once. auto starts at 1% of the limit (at least 1), doubles ' +
          'while leases last under a second and halves when one lasts over a minute, up to 5% ' +
          'of the limit. A fixed number trades Redis calls against units held idle by a member.',
        // Adapts to each counter's rate, so a quiet member does not hoard a busy caller's quota.
        default: 'auto',
      },
    ),
    on_redis_down: Type.Union([Type.Literal('deny'), Type.Literal('local_share')], {
      description:
        'When Redis cannot be reached and a member has spent its lease: deny refuses (the quota ' +
        'is never exceeded); local_share admits up to limit / members in the period on each ' +
        'member (the cluster may then exceed the limit, by at most the limit), and publishes ' +
        'what it admitted when Redis returns.',
      // Exact by default: a quota is usually a contract, and an outage should not give it away.
      default: 'deny',
    }),
  },
  { additionalProperties: false },
)

export const RateLimitHeadersSchema = Type.Object(
  {
    ietf: Type.Boolean({
      description:
        'Send RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers-10, ' +
        'structured fields) on every response of the route, admitted or refused.',
      default: true,
    }),
    x_ratelimit: Type.Boolean({
      description:
        'Send the common X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset ' +
        '(seconds from now) that many clients already read.',
      default: true,
    }),
  },
  { additionalProperties: false, default: {} },
)

export const RateLimitPolicySchema = Type.Object(
  {
    key: Pattern(
      KEY_PATTERN,
      'must be consumer, credential, ip, route, claim:<name> (a claim name without dots or ' +
        'spaces) or header:<name> (a header name)',
      {
        description:
          'What is counted separately: consumer (the consumer the credential names, so its keys ' +
          'and tokens share a counter; else the verified identity: issuer and subject), ' +
          'credential (the token: issuer and jti; an API key: its id), ip (the client address), ' +
          'route (one counter ' +
          'for the whole route), claim:<name> (a claim of the identity, e.g. claim:tid), ' +
          'header:<name> (a request header, e.g. header:x-api-client). A request without the ' +
          'claim or header is counted by its client address instead.',
        // Per caller by default: in a zero-trust gateway every limited route knows its caller.
        default: 'consumer',
      },
    ),
    algorithm: Type.Union(
      ALGORITHMS.map((a) => Type.Literal(a)),
      {
        description:
          'token_bucket: smooth refill with bursts; sliding_window: weighted two-window ' +
          'count; fixed_window: a counter per calendar window (cheapest, allows 2x at edges).',
        // Kong and Envoy default to buckets too: they admit bursts while holding the average.
        default: 'token_bucket',
      },
    ),
    rate: Type.Optional(
      Rate(
        'Requests per unit of time: 100/s, 1000/min, 5000/h, 100000/day. Required unless ' +
          'tiers and default_tier give every request a rate, or the policy is a quota.',
      ),
    ),
    burst: Type.Optional(Burst),
    tiers: Type.Optional(
      NamedRecord(TierSchema, {
        minProperties: 1,
        description:
          'Rates per tier (free, pro, enterprise…); the tier of a request comes from tier_from.',
      }),
    ),
    tier_from: Type.Optional(
      Pattern(
        `^(claim:${CLAIM_NAME}|consumer)$`,
        'must be claim:<name> (a claim name without dots or spaces) or consumer',
        {
          description:
            'Where the tier of a request is read: claim:<name>, or consumer (the tier of the ' +
            'consumer the credential names). A request without it (or with a tier not listed) ' +
            'gets default_tier, or the policy rate when there is no default_tier.',
        },
      ),
    ),
    default_tier: Type.Optional(
      Name({ description: 'The tier of requests whose tier is missing or unknown.' }),
    ),
    quota: Type.Optional(
      Type.Object(QuotaSchema.properties, {
        additionalProperties: false,
        description:
          'Makes this policy an exact quota per calendar period (per day, per month), held in ' +
          'Redis and leased in blocks, instead of a rate: rate, burst, algorithm and tiers do not ' +
          'apply. Needs redis:.',
      }),
    ),
    // Optional in the type only (the loader fills the default): policies built in code without
    // a phase are post_auth, as every policy was before phases.
    phase: Type.Optional(
      Type.Union(
        PHASES.map((p) => Type.Literal(p)),
        {
          description:
            'When the policy counts a request. post_auth: after authenticate and authorize, so ' +
            'only admitted callers spend it. pre_auth: before authenticate, so every attempt ' +
            'counts, refused credentials included (throttles brute force of credentials); its key ' +
            'must need no identity (ip, header:<name>, route) and it takes no tiers.',
          // Limits are usually per caller, which only post_auth knows.
          default: 'post_auth',
        },
      ),
    ),
    headers: RateLimitHeadersSchema,
    max_keys: Type.Integer({
      minimum: 1,
      maximum: 10_000_000,
      description:
        'Most keys one worker tracks for this policy. Past it the least recently used key is ' +
        'forgotten (and starts afresh), so a flood of distinct keys cannot grow memory.',
      // At most about 15 MB per policy per worker (slots, map entries, key strings), and more
      // distinct callers than most APIs see within one window.
      default: 100_000,
    }),
  },
  { additionalProperties: false },
)

export const RateLimitsSchema = NamedRecord(RateLimitPolicySchema, {
  description: 'Named rate-limit policies, applied by routes (rate_limit: name | [names]).',
  default: {},
})

export type RateLimitPolicyConfig = Static<typeof RateLimitPolicySchema>
export type RateLimitsConfig = Static<typeof RateLimitsSchema>
export type TierConfig = Static<typeof TierSchema>
export type QuotaConfig = Static<typeof QuotaSchema>
