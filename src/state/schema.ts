/** Config schema of the optional Redis connection shared by revocation (and, later, rate limiting). */
import { Type, type Static } from '@sinclair/typebox'

export const RedisSchema = Type.Object(
  {
    url: Type.String({
      pattern: '^rediss?://',
      description: 'redis://[user:password@]host:port[/db] (rediss:// for TLS); use ${REDIS_URL}.',
    }),
    key_prefix: Type.String({
      pattern: '^[A-Za-z0-9:_.-]{1,64}$',
      description:
        'Prefix of every key and channel portcullis uses, so gateways can share a Redis.',
      default: 'portcullis:',
    }),
  },
  { additionalProperties: false },
)

export type RedisConfig = Static<typeof RedisSchema>
