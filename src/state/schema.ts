/**
 * Config schema of the optional Redis connection shared by revocation, rate limiting and the
 * credential store, and the keys that encrypt the store's HMAC secrets.
 */
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

/** Names an encryption key: stored beside each ciphertext, so it must stay short and plain. */
export const ENCRYPTION_KEY_ID_PATTERN = '^[A-Za-z0-9_.-]{1,64}$'

export const EncryptionKeySchema = Type.Object(
  {
    id: Pattern(ENCRYPTION_KEY_ID_PATTERN, 'must be 1 to 64 letters, digits, "_", "." or "-"', {
      description:
        'Names the key; stored beside every secret it encrypts, so keep it for as long as the ' +
        'key decrypts anything. Unique.',
    }),
    key: Type.String({
      minLength: 1,
      description:
        '32 random bytes in base64 or base64url (openssl rand -base64 32); give it by ${ENV}, ' +
        'never in the file.',
    }),
  },
  { additionalProperties: false },
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
    // Optional in the type so code that builds a RedisConfig need not name it; the loader fills [].
    encryption_keys: Type.Optional(
      Type.Array(EncryptionKeySchema, {
        description:
          'Keys that encrypt the HMAC secrets of the credential store at rest (AES-256-GCM). The ' +
          'first encrypts new and rotated secrets; every one decrypts, so a key is rotated by ' +
          'putting the new one first and removing the old one once nothing uses it. Needed before ' +
          'the admin API creates an HMAC credential, and before a gateway starts on a store that ' +
          'holds some. Empty: the store holds no HMAC credentials.',
        default: [],
      }),
    ),
  },
  { additionalProperties: false },
)

export type RedisConfig = Static<typeof RedisSchema>
export type EncryptionKeyConfig = Static<typeof EncryptionKeySchema>
export type RateLimitSyncConfig = Static<typeof RateLimitSyncSchema>
