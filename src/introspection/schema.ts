/**
 * Config schema of OAuth 2.0 introspection endpoints (`introspectors:`): where each one is, how
 * the gateway authenticates to it, what its answers must say, and how long they are kept.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7662 OAuth 2.0 Token Introspection
 */
import { Type, type Static } from '@sinclair/typebox'
import { Duration, Name, Pattern } from '../config/fragments.js'
import { ASYMMETRIC_ALGORITHMS } from '../jwt/types.js'

/** RFC 7662 §2.1: the protected resource authenticates to the endpoint as an OAuth client. */
export const CLIENT_AUTH_METHODS = [
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
] as const
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number]

/** RFC 7518 §3.1 algorithms a private_key_jwt assertion may be signed with: the asymmetric ones. */
export const ASSERTION_ALGORITHMS = ASYMMETRIC_ALGORITHMS

export const BreakerSchema = Type.Object(
  {
    failures: Type.Integer({
      minimum: 1,
      description:
        'Failed calls in a row (error status, garbage, timeout, refused connection) that open ' +
        'the breaker: no call is made for `cooldown`, then one probe goes through.',
      // A few failures in a row are an outage, not bad luck; one would trip on a single blip.
      default: 5,
    }),
    cooldown: Duration({
      description:
        'How long an open breaker makes no call before letting one probe through. A 503 asks ' +
        'the client to retry after the longer of this and negative_ttl.',
      default: '10s',
    }),
  },
  { additionalProperties: false, default: {} },
)

export const IntrospectorSchema = Type.Object(
  {
    name: Name({ description: 'Referenced by routes (introspection.introspectors) and in logs.' }),
    endpoint: Pattern('^https?://[^\\s]+$', 'must be an http:// or https:// URL without spaces', {
      description: 'The introspection endpoint (RFC 7662 §2): the gateway POSTs tokens to it.',
    }),
    client_id: Type.String({
      minLength: 1,
      description: 'The gateway’s client id at the authorization server.',
    }),
    client_auth: Type.Union(
      CLIENT_AUTH_METHODS.map((m) => Type.Literal(m)),
      {
        description:
          'How the gateway authenticates to the endpoint: client_secret_basic (RFC 6749 §2.3.1, ' +
          'HTTP Basic), client_secret_post (the secret in the form body) or private_key_jwt ' +
          '(RFC 7523 §2.2, an assertion signed with private_key).',
        default: 'client_secret_basic',
      },
    ),
    client_secret: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'The client secret, for client_secret_basic and client_secret_post (use ${ENV}).',
      }),
    ),
    private_key: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'A PEM file with the private key that signs private_key_jwt assertions.',
      }),
    ),
    key_id: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'The `kid` header of private_key_jwt assertions, when the server needs one.',
      }),
    ),
    assertion_algorithm: Type.Union(
      ASSERTION_ALGORITHMS.map((a) => Type.Literal(a)),
      {
        description:
          'The algorithm private_key_jwt assertions are signed with; it must fit the key.',
        default: 'RS256',
      },
    ),
    assertion_audience: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'The `aud` of private_key_jwt assertions (RFC 7523 §3). Unset: the endpoint URL.',
      }),
    ),
    timeout: Duration({
      description:
        'Timeout of one call, connect to body. A token never seen before waits this long at most.',
      default: '2s',
    }),
    issuer: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'The `iss` an answer must carry when it carries one; an answer naming another issuer ' +
          'is refused. Unset: not checked.',
      }),
    ),
    audiences: Type.Array(Type.String({ minLength: 1 }), {
      description: 'When the answer carries `aud`, it must name one of these; empty: not checked.',
      default: [],
    }),
    scope_claim: Type.String({
      minLength: 1,
      description:
        'The answer member holding the scopes: a space-delimited string (RFC 7662 `scope`) or ' +
        'an array.',
      default: 'scope',
    }),
    consumer_claim: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'The answer member naming the consumer (consumers:) of the token, e.g. client_id or ' +
          'sub. A known consumer gives the request its groups, tier and metadata; a disabled one ' +
          'is refused (401); an unknown name leaves the token its introspector+subject identity.',
      }),
    ),
    cache_ttl: Duration({
      description:
        'How long an active answer is kept (never past the token’s exp, never past one hour). ' +
        'A token revoked at the server is refused at most this long after.',
      default: '60s',
    }),
    negative_ttl: Duration({
      description:
        'How long an inactive answer, or a failed call, is kept: a replayed bad token costs no ' +
        'call within it.',
      // Long enough to absorb a replay flood, short enough that a token just issued elsewhere
      // is not refused for long.
      default: '10s',
    }),
    cache_size: Type.Integer({
      minimum: 0,
      description: 'Answers kept per worker (least recently used first out). 0 disables the cache.',
      default: 10000,
    }),
    stale_for: Duration({
      description:
        'When the endpoint fails or times out, a token whose active answer has aged past ' +
        'cache_ttl keeps working this long (never past its exp). 0s: off, a failing endpoint ' +
        'refuses every token it cannot answer for.',
      // Off: serving an answer the server can no longer confirm is the operator's call.
      default: '0s',
    }),
    breaker: BreakerSchema,
  },
  { additionalProperties: false },
)

export const IntrospectorsSchema = Type.Array(IntrospectorSchema, {
  description: 'OAuth 2.0 token introspection endpoints (RFC 7662) routes may trust.',
  default: [],
})

export type IntrospectorConfig = Static<typeof IntrospectorSchema>
