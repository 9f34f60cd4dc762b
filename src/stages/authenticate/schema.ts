/**
 * Config schema of a route's authentication: `auth:` (which methods), `jwt:` (which issuers, where
 * the token is), `api_key:` (where the key is) and `introspection:` (which endpoints).
 */
import { Type, type Static } from '@sinclair/typebox'
import {
  Duration,
  HEADER_NAME_PATTERN,
  HEADER_NAME_REASON,
  Name,
  Pattern,
} from '../../config/fragments.js'

/** Methods a route may name in `auth`. */
export const AUTH_METHODS = ['jwt', 'api_key', 'hmac', 'introspection', 'mtls'] as const
export type AuthMethodName = (typeof AUTH_METHODS)[number]

const Method = Type.Union(AUTH_METHODS.map((m) => Type.Literal(m)))

export const AuthSchema = Type.Union(
  [
    Type.Literal('none'),
    Method,
    Type.Object(
      {
        any: Type.Array(Method, {
          minItems: 1,
          uniqueItems: true,
          description: 'The request is admitted by the first method whose credential it carries.',
        }),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        all: Type.Array(Method, {
          minItems: 2,
          uniqueItems: true,
          description:
            'Every method must admit its credential; methods that name a consumer must name ' +
            'the same one (else 401). The identity of the last method stands.',
        }),
      },
      { additionalProperties: false },
    ),
  ],
  {
    description:
      'Who may call this route. Required: a zero-trust gateway has no implicit public routes. ' +
      '"none" makes the route public; a method name, { any: [...] } or { all: [...] } require ' +
      'credentials. With any, the method whose credential the request carries decides; a ' +
      'request carrying the credentials of two methods is refused (400). With all, every ' +
      'method is required.',
  },
)

/** RFC 6265 cookie-name and RFC 3986 query parameter names, kept to a safe token. */
const PARAMETER_NAME = "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"
const PARAMETER_NAME_REASON = "must be 1 to 64 letters, digits or ! # $ % & ' * + . ^ _ ` | ~ -"

function Realm(description: string) {
  return Pattern(
    '^[\\x20\\x21\\x23-\\x5B\\x5D-\\x7E]{1,64}$',
    'must be 1 to 64 printable ASCII characters (spaces allowed) without " or \\',
    { description, default: 'portcullis' },
  )
}

export const RouteJwtSchema = Type.Object(
  {
    issuers: Type.Array(Name(), {
      minItems: 1,
      uniqueItems: true,
      description: 'Names of entries of issuers whose tokens this route accepts.',
    }),
    header: Type.Boolean({
      description: 'Read the token from Authorization: Bearer (RFC 6750 §2.1).',
      default: true,
    }),
    cookie: Type.Optional(
      Pattern(PARAMETER_NAME, PARAMETER_NAME_REASON, {
        description: 'Also read the token from this cookie.',
      }),
    ),
    query: Type.Optional(
      Pattern(PARAMETER_NAME, PARAMETER_NAME_REASON, {
        description:
          'Also read the token from this query parameter (RFC 6750 §2.3). Off by default: URLs ' +
          'end up in logs and browser history.',
      }),
    ),
    realm: Realm('realm of the WWW-Authenticate challenge (RFC 6750 §3).'),
    require_bound_tokens: Type.Optional(
      Type.Boolean({
        description:
          'Admit only tokens bound to the client certificate (RFC 8705 §3: cnf["x5t#S256"]). A ' +
          'bound token is always checked against the certificate, whatever this says; this also ' +
          'refuses tokens without the binding.',
        // Off: most tokens are bearer tokens, and binding needs an mTLS listener and an issuer that binds.
        default: false,
      }),
    ),
  },
  { additionalProperties: false },
)

export const RouteApiKeySchema = Type.Object(
  {
    header: Pattern(HEADER_NAME_PATTERN, HEADER_NAME_REASON, {
      description: 'The request header that carries the key.',
      // The name most clients and gateways (Kong, AWS API Gateway) already send.
      default: 'x-api-key',
    }),
    authorization: Type.Boolean({
      description: 'Also read the key from Authorization: ApiKey <key>.',
      // Off: an Authorization field is usually meant for the upstream or a bearer route.
      default: false,
    }),
    query: Type.Optional(
      Pattern(PARAMETER_NAME, PARAMETER_NAME_REASON, {
        description:
          'Also read the key from this query parameter. Off by default: URLs end up in logs and ' +
          'browser history.',
      }),
    ),
    realm: Realm('realm of the WWW-Authenticate: ApiKey challenge.'),
  },
  {
    additionalProperties: false,
    description:
      'Where a route with auth api_key reads the key; the defaults apply when absent. The key is ' +
      'removed before forwarding, wherever it was read.',
  },
)

/**
 * An RFC 9421 component a route may require: a derived component of a request (§2.2) or a
 * lower-case field name (§2.1).
 */
const COMPONENT_PATTERN =
  "^(@method|@target-uri|@authority|@scheme|@request-target|@path|@query|[a-z0-9!#$%&'*+.^_`|~-]+)$"
const COMPONENT_REASON =
  'must be @method, @target-uri, @authority, @scheme, @request-target, @path, @query or a ' +
  'lower-case header field name'

export const RouteHmacSchema = Type.Object(
  {
    components: Type.Array(Pattern(COMPONENT_PATTERN, COMPONENT_REASON), {
      minItems: 1,
      uniqueItems: true,
      description:
        'Components every signature must cover (RFC 9421 §2); more may be covered. ' +
        '@target-uri binds method-independent parts: scheme, Host, raw path and query.',
      // The request line and where it goes: without them a signature could be replayed on any
      // route or with any method.
      default: ['@method', '@target-uri'],
    }),
    content_digest: Type.Boolean({
      description:
        'A request with a body must cover content-digest, and its Content-Digest (RFC 9530, ' +
        'sha-256 or sha-512) must match the body, which is then received whole (up to max_body) ' +
        'before it is forwarded.',
      // On: a signature that leaves the body out lets anyone who sees one request change its body.
      default: true,
    }),
    max_age: Duration({
      description:
        'How old `created` may be; signatures accepted are remembered this long to refuse replays.',
      default: '300s',
    }),
    replay: Type.Boolean({
      description:
        'Refuse a signature this worker already accepted within max_age. Off only for routes ' +
        'where a repeated request is harmless (a client that retries resends the same signature).',
      // On: a captured request must not be playable again.
      default: true,
    }),
    clock_skew: Duration({
      description: 'How far in the future `created` may be, and past `expires` a signature holds.',
      // Clients' clocks drift a little; more would stretch every signature's life.
      default: '5s',
    }),
    realm: Realm('realm of the WWW-Authenticate: Signature challenge.'),
  },
  {
    additionalProperties: false,
    description:
      'What a route with auth hmac requires of a signature (RFC 9421); the defaults apply when ' +
      'absent.',
  },
)

export const RouteIntrospectionSchema = Type.Object(
  {
    introspectors: Type.Array(Name(), {
      minItems: 1,
      uniqueItems: true,
      description:
        "Names of entries of introspectors asked about this route's bearer tokens, in order; " +
        'the first active answer admits the token.',
    }),
    realm: Realm('realm of the WWW-Authenticate challenge (RFC 6750 §3).'),
  },
  {
    additionalProperties: false,
    description:
      "Which introspection endpoints judge a route's opaque bearer tokens (auth: introspection). " +
      'The token is read where jwt reads it on a route that takes both, else from ' +
      'Authorization: Bearer.',
  },
)

export const RouteMtlsSchema = Type.Object(
  {
    allow_unmapped: Type.Boolean({
      description:
        'Admit a valid certificate that maps to no consumer (consumers[].certificates): any ' +
        "certificate of the listener's client CA then passes, with no consumer and its SAN URI " +
        'or CN as the subject.',
      // Off: a CA often signs more certificates than the callers of one route.
      default: false,
    }),
  },
  {
    additionalProperties: false,
    description:
      'How a route with auth mtls treats client certificates; the defaults apply when absent.',
  },
)

export type AuthConfig = Static<typeof AuthSchema>
export type RouteHmacConfig = Static<typeof RouteHmacSchema>
export type RouteJwtConfig = Static<typeof RouteJwtSchema>
export type RouteApiKeyConfig = Static<typeof RouteApiKeySchema>
export type RouteIntrospectionConfig = Static<typeof RouteIntrospectionSchema>
export type RouteMtlsConfig = Static<typeof RouteMtlsSchema>
