/** Config schema of token issuers (`issuers:`): where their keys are and what their tokens must say. */
import { Type, type Static } from '@sinclair/typebox'
import { Duration, Name, Pattern, Size } from '../config/fragments.js'
import { JWS_ALGORITHMS } from './types.js'

export const JwksOptionsSchema = Type.Object(
  {
    timeout: Duration({
      description: 'Timeout of one JWKS fetch (connect to body).',
      default: '5s',
    }),
    refresh: Duration({
      description: 'Refresh interval when the response carries no Cache-Control max-age.',
      default: '5m',
    }),
    min_refresh: Duration({
      description:
        'Lower bound on a Cache-Control max-age (a provider saying max-age=0 is not polled in a loop).',
      default: '30s',
    }),
    max_refresh: Duration({
      description:
        'Upper bound on a Cache-Control max-age, so a removed key stops verifying in time.',
      default: '1h',
    }),
    cooldown: Duration({
      description:
        'Least time between two refreshes caused by unknown kids, so a flood of random kids ' +
        'cannot hammer the provider. A newly published key is accepted within this time.',
      default: '10s',
    }),
    stale_for: Duration({
      description:
        'When the endpoint fails or returns garbage, the last good keys keep serving this long.',
      default: '24h',
    }),
  },
  { additionalProperties: false, default: {} },
)

export const IssuerSchema = Type.Object(
  {
    name: Name({ description: 'Referenced by routes (jwt.issuers) and in the audit log.' }),
    issuer: Type.String({
      minLength: 1,
      description: 'The exact `iss` value of this issuer’s tokens (RFC 7519 §4.1.1).',
    }),
    jwks_uri: Type.Optional(
      Pattern('^https?://[^\\s]+$', 'must be an http:// or https:// URL without spaces', {
        description:
          'JWKS endpoint, fetched at startup and kept warm. One of jwks_uri, keys, secret.',
      }),
    ),
    keys: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'A file with the public key(s): PEM (SPKI or certificate), a JWK or a JWKS.',
      }),
    ),
    secret: Type.Optional(
      Type.String({
        minLength: 32,
        description: 'HMAC secret (at least 32 bytes; use ${ENV}). Only with HS256/384/512.',
      }),
    ),
    audiences: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description: 'Accepted `aud` values; a token is accepted when its aud names any of them.',
    }),
    algorithms: Type.Array(Type.Union(JWS_ALGORITHMS.map((a) => Type.Literal(a))), {
      minItems: 1,
      uniqueItems: true,
      description:
        'Algorithms accepted from this issuer (no default: RFC 8725 §3.1). The token header ' +
        'chooses among these, never outside them. `none` is never accepted.',
    }),
    clock_skew: Duration({ description: 'Leeway on exp, nbf and iat, both ways.', default: '60s' }),
    max_token_age: Type.Optional(
      Duration({ description: 'Refuse tokens whose iat is older than this; makes iat required.' }),
    ),
    required_claims: Type.Array(Type.String({ minLength: 1 }), {
      description: 'Claims a token must carry.',
      default: ['exp'],
    }),
    typ: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Required `typ` header, e.g. at+jwt (RFC 9068); compared case-insensitively, application/ optional.',
      }),
    ),
    scope_claim: Type.String({
      minLength: 1,
      description: 'Claim holding the scopes: a space-delimited string (scope) or an array (scp).',
      default: 'scope',
    }),
    consumer_claim: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Claim naming the consumer (consumers:) a verified token belongs to, e.g. sub or azp. ' +
          'A known consumer gives the request its groups, tier and metadata; a disabled one is ' +
          'refused (401); a name no consumer has leaves the token its issuer+subject identity. ' +
          'Unset: tokens of this issuer name no consumer.',
      }),
    ),
    max_token_size: Size({
      description:
        'Longer tokens naming this issuer are refused before any key work. A token longer than ' +
        'the limit of every issuer of its route is refused unread.',
      default: '8KiB',
    }),
    cache_size: Type.Integer({
      minimum: 0,
      description:
        'Verified tokens kept per worker, so a repeated token costs no signature check. 0 disables.',
      default: 10000,
    }),
    jwks: JwksOptionsSchema,
  },
  { additionalProperties: false },
)

export const IssuersSchema = Type.Array(IssuerSchema, {
  description: 'Token issuers routes may trust.',
  default: [],
})

export type IssuerConfig = Static<typeof IssuerSchema>
export type JwksOptions = Static<typeof JwksOptionsSchema>

export const RevocationSchema = Type.Object(
  {
    jtis: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
      description:
        'Revoked token ids (jti), refused on every route. With redis configured, revocations ' +
        'made with `portcullis revoke` reach every worker within a second as well.',
      default: [],
    }),
  },
  { additionalProperties: false, default: {} },
)

export type RevocationConfig = Static<typeof RevocationSchema>
