/** Config schema of the optional Redis connection shared by revocation and rate limiting. */
import { Type, type Static } from '@sinclair/typebox'
import { Duration, Pattern } from '../config/fragments.js'

export const RateLimitSyncSchema = Type.Object(
  {
    interval: Duration({
      description:
        'How often each worker publishes the rate-limit consumption of its requests to Redis ' +
        'and reads back the global counts, in one script call per batch of counters. The ' +
        'request path never waits on it; shorter means members without gossip agree sooner. ' +
        'With gossip cut, members together may overshoot a limit by what they admit in one ' +
        'interval, so 1s suits limits of a minute or more.',
      default: '1s',
    }),
    batch: Type.Integer({
      minimum: 1,
      maximum: 1000,
      description:
        'Counters per script call: a few hundred keep each call well under a millisecond of ' +
        'Redis time, so other clients are not held up.',
      default: 256,
    }),
    max_backlog: Type.Integer({
      minimum: 0,
      maximum: 10_000_000,
      description:
        'Counters whose consumption is kept to publish after a Redis outage; beyond it the ' +
        'rest is dropped (and counted). Consumption of a window that has ended is dropped anyway.',
      default: 100_000,
    }),
  },
  { additionalProperties: false, default: {} },
)

export const RedisSchema = Type.Object(
  {
    url: Pattern('^rediss?://', 'must be a URL starting with redis:// or rediss://', {
      description: 'redis://[user:password@]host:port[/db] (rediss:// for TLS); use ${REDIS_URL}.',
    }),
    key_prefix: Pattern(
      '^[A-Za-z0-9:_.-]{1,64}$',
      'must be 1 to 64 letters, digits, ":", "_", "." or "-"',
      {
        description:
          'Prefix of every key and channel portcullis uses, so gateways can share a Redis.',
        default: 'portcullis:',
      },
    ),
    rate_limit_sync: RateLimitSyncSchema,
  },
  { additionalProperties: false },
)

export type RedisConfig = Static<typeof RedisSchema>
export type RateLimitSyncConfig = Static<typeof RateLimitSyncSchema>
