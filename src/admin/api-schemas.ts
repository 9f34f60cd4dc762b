/**
 * The admin API's bodies, in TypeBox: requests are validated with them (config/validate.ts, so a
 * problem reads as the config's do: a path and a reason) and the OpenAPI document is generated
 * from them (openapi.ts), so the two never disagree.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Duration, Name, Pattern } from '../config/fragments.js'
import { KEY_ID_PATTERN, KEY_ID_REASON } from '../consumers/schema.js'
import { HMAC_ALGORITHMS, SECRET_ENCODINGS } from '../hmac/keys.js'
import { RFC3339_PATTERN, RFC3339_REASON } from '../keys/time.js'

/** RFC 3339 §5.6 date-time, as the config's keys take it; key-routes.ts checks the calendar. */
const DateTime = (description: string) => Pattern(RFC3339_PATTERN, RFC3339_REASON, { description })
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

const Groups = Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
  maxItems: 256,
  uniqueItems: true,
  description: 'Groups, for routes[].allow_groups and deny_groups.',
})
const Tier = Nullable(
  Type.String({
    minLength: 1,
    maxLength: 64,
    description: 'Rate-limit tier (tier_from: consumer).',
  }),
)
const Metadata = Type.Record(
  Type.String({ minLength: 1, maxLength: 64 }),
  Type.String({ maxLength: 1024 }),
  {
    maxProperties: 64,
    description: 'Free fields, forwarded by headers.consumer.metadata (a tenant, a plan).',
  },
)
const Disabled = Type.Boolean({ description: 'A disabled consumer is refused on every route.' })
const IpList = (description: string) =>
  Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 1024, description })
const ConsumerIp = Nullable(
  Type.Object(
    {
      allow: Type.Optional(
        IpList('Addresses or CIDR blocks the consumer may call from; empty: any.'),
      ),
      deny: Type.Optional(IpList('Addresses or CIDR blocks the consumer is refused from.')),
    },
    {
      additionalProperties: false,
      description: 'Client address rules, checked once a credential names the consumer (403).',
    },
  ),
)

export const NewConsumerBody = Type.Object(
  {
    name: Name({ description: 'Unique; letters, digits, "_", "." or "-".' }),
    groups: Type.Optional(Groups),
    tier: Type.Optional(Tier),
    metadata: Type.Optional(Metadata),
    disabled: Type.Optional(Disabled),
    ip: Type.Optional(ConsumerIp),
  },
  { additionalProperties: false },
)

export const ConsumerChangeBody = Type.Object(
  {
    groups: Type.Optional(Groups),
    tier: Type.Optional(Tier),
    metadata: Type.Optional(Metadata),
    disabled: Type.Optional(Disabled),
    ip: Type.Optional(ConsumerIp),
  },
  { additionalProperties: false, minProperties: 1, description: 'The fields to change.' },
)

export const NewKeyBody = Type.Object(
  {
    prefix: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'One of api_keys.prefixes; default the first (pc_live).',
      }),
    ),
    label: Type.Optional(
      Nullable(Type.String({ maxLength: 128, description: 'A note: where the key is used.' })),
    ),
    scopes: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
        maxItems: 256,
        uniqueItems: true,
        description: "Scopes the key grants, checked by a route's scopes: like a token's.",
      }),
    ),
    not_before: Type.Optional(Nullable(DateTime('Refused before this time.'))),
    expires_at: Type.Optional(Nullable(DateTime('Refused from this time.'))),
    allow_ips: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        maxItems: 1024,
        description:
          'Addresses or CIDR blocks, IPv4 and IPv6, the key is accepted from; empty: any.',
      }),
    ),
    deny_ips: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        maxItems: 1024,
        description: 'Addresses or CIDR blocks the key is refused from, even inside allow_ips.',
      }),
    ),
  },
  { additionalProperties: false },
)

export const RotateBody = Type.Object(
  {
    grace: Duration({
      description: 'How long the replaced key stays valid (never longer than its own expiry).',
      default: '24h',
    }),
  },
  { additionalProperties: false, default: {} },
)

const HmacKeyId = (description: string) => Pattern(KEY_ID_PATTERN, KEY_ID_REASON, { description })
const HmacSecret = Type.String({
  minLength: 1,
  maxLength: 1024,
  description:
    'A secret of your own, at least 32 bytes once decoded; absent: the gateway generates one ' +
    'and answers it this once.',
})
const HmacSecretEncoding = Type.Union(
  SECRET_ENCODINGS.map((e) => Type.Literal(e)),
  { description: 'How `secret` is written (default utf8).' },
)

export const NewHmacBody = Type.Object(
  {
    key_id: Type.Optional(
      HmacKeyId(
        'The keyid clients name in Signature-Input (RFC 9421 §2.3); unique. Absent: generated (hk_…).',
      ),
    ),
    secret: Type.Optional(HmacSecret),
    secret_encoding: Type.Optional(HmacSecretEncoding),
    algorithm: Type.Optional(
      Type.Union(
        HMAC_ALGORITHMS.map((a) => Type.Literal(a)),
        { description: 'The MAC signatures with this key must use (default hmac-sha256).' },
      ),
    ),
    label: Type.Optional(
      Nullable(Type.String({ maxLength: 128, description: 'A note: where the secret is used.' })),
    ),
    scopes: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
        maxItems: 256,
        uniqueItems: true,
        description: "Scopes the credential grants, checked by a route's scopes: like a token's.",
      }),
    ),
    expires_at: Type.Optional(Nullable(DateTime('Refused from this time.'))),
  },
  { additionalProperties: false },
)

export const HmacRotateBody = Type.Object(
  {
    grace: Duration({
      description:
        'How long the replaced credential keeps verifying (never longer than its own expiry).',
      default: '24h',
    }),
    key_id: Type.Optional(HmacKeyId('The new keyid; absent: generated (hk_…).')),
    secret: Type.Optional(HmacSecret),
    secret_encoding: Type.Optional(HmacSecretEncoding),
  },
  { additionalProperties: false, default: {} },
)

export const RevocationBody = Type.Object(
  {
    jti: Type.String({ minLength: 1, maxLength: 1024, description: 'The token id to refuse.' }),
    exp: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: "The token's exp, unix seconds: the entry lives until then.",
      }),
    ),
    ttl: Type.Optional(Duration({ description: 'Instead of exp: how long the entry lives.' })),
  },
  { additionalProperties: false, description: 'exactly one of exp and ttl' },
)

export const ConsumerView = Type.Object(
  {
    name: Type.String(),
    groups: Type.Array(Type.String()),
    tier: Nullable(Type.String()),
    metadata: Type.Record(Type.String(), Type.String()),
    disabled: Type.Boolean(),
    ip: Nullable(
      Type.Object(
        { allow: Type.Array(Type.String()), deny: Type.Array(Type.String()) },
        { additionalProperties: false },
      ),
    ),
    source: Type.Union([Type.Literal('config'), Type.Literal('store')], {
      description: 'config: declared in the config file, read-only here.',
    }),
    created_at: Nullable(Type.String({ description: 'null for a config consumer' })),
    updated_at: Nullable(Type.String({ description: 'null for a config consumer' })),
  },
  { additionalProperties: false },
)

/** A key as the admin API shows it: never the key, nor its hash. */
export const KeyView = Type.Object(
  {
    id: Type.String(),
    consumer: Type.String(),
    prefix: Type.String(),
    last4: Type.String(),
    label: Nullable(Type.String()),
    scopes: Type.Array(Type.String()),
    not_before: Nullable(Type.String()),
    expires_at: Nullable(Type.String()),
    allow_ips: Type.Array(Type.String()),
    deny_ips: Type.Array(Type.String()),
    state: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
    created_at: Type.String(),
    revoked_at: Nullable(Type.String()),
    rotated_from: Nullable(Type.String()),
    rotated_to: Nullable(Type.String()),
  },
  { additionalProperties: false },
)

export const NewKeyView = Type.Object(
  {
    key: Type.String({ description: 'The key itself: shown this once, never stored.' }),
    record: KeyView,
  },
  { additionalProperties: false },
)

export const RotatedKeyView = Type.Object(
  {
    key: Type.String({ description: 'The new key: shown this once, never stored.' }),
    record: KeyView,
    previous: KeyView,
  },
  { additionalProperties: false },
)

/** An HMAC credential as the admin API shows it: never the secret, clear or encrypted. */
export const HmacView = Type.Object(
  {
    key_id: Type.String(),
    consumer: Type.String(),
    algorithm: Type.String(),
    scopes: Type.Array(Type.String()),
    label: Nullable(Type.String()),
    state: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
    expires_at: Nullable(Type.String()),
    encryption_key: Type.String({
      description: 'Id of the redis.encryption_keys entry its secret is encrypted with.',
    }),
    created_at: Type.String(),
    revoked_at: Nullable(Type.String()),
    rotated_from: Nullable(Type.String()),
    rotated_to: Nullable(Type.String()),
  },
  { additionalProperties: false },
)

const IssuedSecret = Nullable(
  Type.String({
    description:
      'The generated secret, 32 bytes in base64url: shown this once, stored only encrypted. ' +
      'null when the request gave the secret.',
  }),
)

export const NewHmacView = Type.Object(
  { secret: IssuedSecret, record: HmacView },
  { additionalProperties: false },
)

export const RotatedHmacView = Type.Object(
  { secret: IssuedSecret, record: HmacView, previous: HmacView },
  { additionalProperties: false },
)

export const ReencryptionView = Type.Object(
  {
    encryption_key: Type.String({ description: 'The key every active secret is sealed with now.' }),
    reencrypted: Type.Integer({ description: 'Secrets re-encrypted by this call.' }),
    failed: Type.Array(Type.String(), {
      description: 'Key ids whose secret does not decrypt with redis.encryption_keys.',
    }),
  },
  { additionalProperties: false },
)

export const UsageView = Type.Object(
  {
    id: Type.String(),
    admitted: Type.Integer(),
    refused: Type.Integer(),
    last_used_at: Nullable(Type.String()),
    last_address: Nullable(Type.String()),
  },
  { additionalProperties: false },
)

export const RevocationView = Type.Object(
  { jti: Type.String(), exp: Type.Integer(), expires_at: Type.String() },
  { additionalProperties: false },
)

const SyncState = Nullable(
  Type.Union([Type.Literal('starting'), Type.Literal('ok'), Type.Literal('redis_down')], {
    description: 'null: not running (no redis:, or nothing to keep in step)',
  }),
)

export const StatusView = Type.Object(
  {
    generation: Type.Integer({ description: 'Config generation: 0 at start, +1 per reload.' }),
    worker: Type.Object(
      { index: Type.Integer(), count: Type.Integer(), pid: Type.Integer() },
      { additionalProperties: false, description: 'The worker that answered.' },
    ),
    workers: Nullable(
      Type.Array(
        Type.Object(
          { index: Type.Integer(), pid: Nullable(Type.Integer()), listening: Type.Boolean() },
          { additionalProperties: false },
        ),
        { description: 'Every worker slot, from the primary; null when it did not answer.' },
      ),
    ),
    redis: Type.Object(
      {
        configured: Type.Boolean(),
        revocations: SyncState,
        credentials: SyncState,
        rate_limits: SyncState,
      },
      { additionalProperties: false },
    ),
    gossip: Type.Object(
      {
        enabled: Type.Boolean(),
        expected_members: Type.Integer({ description: 'Members this worker shares limits with.' }),
      },
      { additionalProperties: false },
    ),
    credentials: Type.Object(
      { consumers: Type.Integer(), keys: Type.Integer() },
      { additionalProperties: false, description: 'What this worker holds in memory.' },
    ),
  },
  { additionalProperties: false },
)

export const ErrorView = Type.Object(
  {
    error: Type.String({ description: 'A code of docs/errors.md.' }),
    message: Type.String(),
    request_id: Type.String(),
    problems: Type.Optional(
      Type.Array(
        Type.Object(
          { path: Type.String(), reason: Type.String() },
          { additionalProperties: false },
        ),
        { description: 'invalid_request: every problem of the request, with its path.' },
      ),
    ),
  },
  { additionalProperties: false },
)

export const Page = <T extends TSchema>(item: T) =>
  Type.Object(
    {
      items: Type.Array(item),
      next_cursor: Nullable(
        Type.String({ description: 'Pass as ?cursor= for the next page; null: the last page.' }),
      ),
    },
    { additionalProperties: false },
  )

export type NewConsumerInput = Static<typeof NewConsumerBody>
export type ConsumerChangeInput = Static<typeof ConsumerChangeBody>
export type NewKeyInput = Static<typeof NewKeyBody>
export type RotateInput = Static<typeof RotateBody>
export type RevocationInput = Static<typeof RevocationBody>
export type NewHmacInput = Static<typeof NewHmacBody>
export type HmacRotateInput = Static<typeof HmacRotateBody>
export type HmacViewOf = Static<typeof HmacView>
export type ConsumerViewOf = Static<typeof ConsumerView>
export type KeyViewOf = Static<typeof KeyView>
export type StatusViewOf = Static<typeof StatusView>
export type UsageViewOf = Static<typeof UsageView>
