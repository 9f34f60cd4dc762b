/**
 * Config schema of consumers (`consumers:`) and API keys (`api_keys:`). Consumers declared here
 * are owned by the config: they win over the credential store on a name clash and the admin API
 * refuses to change them. Their keys are declared by hash, so no Redis is needed to use them.
 */
import { Type, type Static } from '@sinclair/typebox'
import { Duration, Name, NamedRecord, Pattern } from '../config/fragments.js'
import { HMAC_ALGORITHMS, SECRET_ENCODINGS } from '../hmac/keys.js'
import { API_KEY_PREFIX_PATTERN, API_KEY_PREFIX_REASON } from '../keys/format.js'
import { KEY_HASH_PATTERN, KEY_HASH_REASON } from '../keys/hash.js'
import { RFC3339_PATTERN, RFC3339_REASON } from '../keys/time.js'

/** Scopes as routes name them (authorize/schema.ts): one RFC 6749 §3.3 scope-token each. */
const SCOPE_PATTERN = '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$'
const SCOPE_REASON = 'must be a scope: printable ASCII characters without spaces, " or \\'

/** Metadata is forwarded in request headers: printable ASCII and spaces only, no line breaks. */
const METADATA_VALUE_PATTERN = '^[\\x20-\\x7e]{0,1024}$'
const METADATA_VALUE_REASON =
  'must be at most 1024 printable ASCII characters or spaces (it is sent as a header value)'

function DateTime(description: string) {
  return Type.Optional(Pattern(RFC3339_PATTERN, RFC3339_REASON, { description }))
}

export const ConsumerKeySchema = Type.Object(
  {
    hash: Pattern(KEY_HASH_PATTERN, KEY_HASH_REASON, {
      description:
        'The key’s hash, as `portcullis keys hash` prints it (with the same api_keys.pepper). ' +
        'The key itself never appears in the config.',
    }),
    label: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description: 'A note for people: what uses it.',
      }),
    ),
    scopes: Type.Array(Pattern(SCOPE_PATTERN, SCOPE_REASON), {
      description: 'Scopes the key grants, checked by a route’s `scopes:` as a token’s are.',
      default: [],
    }),
    not_before: DateTime('RFC 3339 date-time before which the key is refused; none: at once.'),
    expires_at: DateTime('RFC 3339 date-time from which the key is refused; none: never.'),
    allow_ips: Type.Array(Type.String({ minLength: 1 }), {
      description:
        'Addresses and CIDR blocks (IPv4, IPv6) the key may be used from; an IPv4-mapped IPv6 ' +
        'client is its IPv4 address. A client outside them: 403 forbidden. Empty: any address.',
      default: [],
    }),
    deny_ips: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          'Addresses and CIDR blocks the key is refused from (403 forbidden), even inside allow_ips.',
        default: [],
      }),
    ),
  },
  { additionalProperties: false },
)

/** RFC 9421 keyid: printable ASCII without spaces, `"` or `\`, so it is one sf-string as is. */
export const KEY_ID_PATTERN = '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,128}$'
export const KEY_ID_REASON = 'must be 1 to 128 printable ASCII characters without spaces, " or \\'

export const HmacCredentialSchema = Type.Object(
  {
    key_id: Pattern(KEY_ID_PATTERN, KEY_ID_REASON, {
      description:
        'The `keyid` a signed request names (RFC 9421 §2.3); unique across all consumers.',
    }),
    secret: Type.String({
      minLength: 1,
      description:
        'The shared secret, at least 32 bytes once decoded; give it by ${ENV}, never in the file.',
    }),
    secret_encoding: Type.Union(
      SECRET_ENCODINGS.map((e) => Type.Literal(e)),
      {
        description:
          'How `secret` is written: its UTF-8 bytes as they are, or base64, base64url, hex.',
        default: 'utf8',
      },
    ),
    algorithm: Type.Union(
      HMAC_ALGORITHMS.map((a) => Type.Literal(a)),
      {
        description:
          'The MAC a signature with this key must use; a signature naming another `alg` is refused.',
        // The one HMAC algorithm of the RFC 9421 §6.2 registry.
        default: 'hmac-sha256',
      },
    ),
    scopes: Type.Array(Pattern(SCOPE_PATTERN, SCOPE_REASON), {
      description: 'Scopes the key grants, checked by a route’s `scopes:` as a token’s are.',
      default: [],
    }),
    label: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description: 'A note for people: what uses it.',
      }),
    ),
  },
  { additionalProperties: false },
)

const AddressList = (description: string) =>
  Type.Array(
    Type.String({
      minLength: 1,
      description: 'An IPv4 or IPv6 address or CIDR block: 10.0.0.0/8, 192.0.2.7, 2001:db8::/32.',
    }),
    { description, default: [] },
  )

export const ConsumerIpSchema = Type.Object(
  {
    allow: Type.Optional(
      AddressList(
        'Only from these blocks may the consumer call, whichever credential names it; from ' +
          'elsewhere: 403 forbidden. [] or unset: every address.',
      ),
    ),
    deny: Type.Optional(
      AddressList('The consumer is refused from these blocks (403 forbidden), even inside allow.'),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Client address rules of the consumer, checked once a credential has named it (deny ' +
      'wins). An IPv4-mapped IPv6 client is its IPv4 address.',
  },
)

/** A SHA-256 fingerprint: 64 hex digits, or 32 colon-separated pairs as `openssl x509 -fingerprint` prints them. */
const FINGERPRINT_PATTERN = '^([0-9A-Fa-f]{64}|([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2})$'
const FINGERPRINT_REASON =
  'must be a SHA-256 fingerprint: 64 hex digits, or 32 hex pairs joined by ":"'
/** A SAN URI or DNS name as node:tls reports it: visible ASCII, no spaces. */
const SAN_PATTERN = '^[\\x21-\\x7e]{1,2048}$'
const SAN_REASON = 'must be 1 to 2048 visible ASCII characters (no spaces)'

export const ConsumerCertificateSchema = Type.Object(
  {
    uri: Type.Optional(
      Pattern(SAN_PATTERN, SAN_REASON, {
        description:
          'A SAN of type URI, compared exactly (a SPIFFE ID: spiffe://example.org/ns/payments/sa/api).',
      }),
    ),
    dns: Type.Optional(
      Pattern(SAN_PATTERN, SAN_REASON, {
        description:
          'A SAN of type DNS, compared without letter case; a wildcard SAN matches only the same ' +
          'wildcard written here.',
      }),
    ),
    cn: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description: 'The subject common name (CN), compared exactly.',
      }),
    ),
    sha256: Type.Optional(
      Pattern(FINGERPRINT_PATTERN, FINGERPRINT_REASON, {
        description: 'The SHA-256 fingerprint of the DER certificate, in any letter case.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'One rule mapping a client certificate to this consumer: exactly one of uri, dns, cn or ' +
      'sha256.',
  },
)

export const ConsumerSchema = Type.Object(
  {
    name: Name({
      description: 'Unique name: the identity’s subject, X-Consumer-Id, rate-limit key.',
    }),
    groups: Type.Array(Name(), {
      uniqueItems: true,
      description: 'Groups for routes’ allow_groups / deny_groups, sent in X-Consumer-Groups.',
      default: [],
    }),
    tier: Type.Optional(
      Name({ description: 'Tier for rate limits with `tier_from: consumer`; none: the default.' }),
    ),
    metadata: NamedRecord(Pattern(METADATA_VALUE_PATTERN, METADATA_VALUE_REASON), {
      description: 'Free fields (tenant…) forwarded by `headers.consumer.metadata`.',
      default: {},
    }),
    disabled: Type.Boolean({
      description: 'A disabled consumer’s keys and certificates are refused; it stays listed.',
      default: false,
    }),
    ip: Type.Optional(ConsumerIpSchema),
    keys: Type.Array(ConsumerKeySchema, {
      description: 'API keys declared by hash: usable without Redis, reloaded with the config.',
      default: [],
    }),
    hmac_credentials: Type.Array(HmacCredentialSchema, {
      description:
        'Shared secrets for requests signed per RFC 9421 (`auth: hmac`), by key id; reloaded ' +
        'with the config.',
      default: [],
    }),
    certificates: Type.Optional(
      Type.Array(ConsumerCertificateSchema, {
        description:
          'Client certificates (routes with auth mtls) that identify this consumer. A rule names ' +
          'one consumer; when a certificate matches rules of two consumers, sha256 wins over uri, ' +
          'uri over dns, dns over cn.',
        default: [],
      }),
    ),
  },
  { additionalProperties: false },
)

export const ConsumersSchema = Type.Array(ConsumerSchema, {
  description:
    'Consumers owned by the config; they win over consumers of the same name in the store.',
  default: [],
})

export const ApiKeysSchema = Type.Object(
  {
    prefixes: Type.Array(Pattern(API_KEY_PREFIX_PATTERN, API_KEY_PREFIX_REASON), {
      minItems: 1,
      uniqueItems: true,
      description:
        'Prefixes of the keys the gateway accepts; new keys get the first. A key under any ' +
        'other prefix is refused without a lookup.',
      default: ['pc_live'],
    }),
    pepper: Type.Optional(
      Type.String({
        minLength: 32,
        description:
          'Secret prefixed to every key before it is hashed (SHA-256), at least 32 bytes; give it by ' +
          '${ENV}, never in the file. Changing it invalidates every key. None: SHA-256.',
      }),
    ),
    usage_flush: Duration({
      description:
        'How often each worker writes its keys’ usage counts to Redis (at least 1s); the ' +
        'request path never waits on it.',
      default: '1s',
    }),
  },
  { additionalProperties: false, default: {} },
)

export type ConsumerCertificateConfig = Static<typeof ConsumerCertificateSchema>
export type ConsumerKeyConfig = Static<typeof ConsumerKeySchema>
export type HmacCredentialConfig = Static<typeof HmacCredentialSchema>
export type ConsumerConfig = Static<typeof ConsumerSchema>
export type ConsumersConfig = Static<typeof ConsumersSchema>
export type ApiKeysConfig = Static<typeof ApiKeysSchema>
