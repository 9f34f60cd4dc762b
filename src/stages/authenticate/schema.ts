/** Config schema of a route's authentication: `auth:` (which methods) and `jwt:` (which issuers, where the token is). */
import { Type, type Static } from '@sinclair/typebox'
import { Name, Pattern } from '../../config/fragments.js'

/** Methods a route may name in `auth`; api_key, mtls, introspection and hmac join as they land. */
export const AUTH_METHODS = ['jwt'] as const
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
  ],
  {
    description:
      'Who may call this route. Required: a zero-trust gateway has no implicit public routes. ' +
      '"none" makes the route public; "jwt" or { any: [jwt, …] } require a credential.',
  },
)

/** RFC 6265 cookie-name and RFC 3986 query parameter names, kept to a safe token. */
const PARAMETER_NAME = "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"
const PARAMETER_NAME_REASON = "must be 1 to 64 letters, digits or ! # $ % & ' * + . ^ _ ` | ~ -"

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
    realm: Pattern(
      '^[\\x20\\x21\\x23-\\x5B\\x5D-\\x7E]{1,64}$',
      'must be 1 to 64 printable ASCII characters (spaces allowed) without " or \\',
      {
        description: 'realm of the WWW-Authenticate challenge (RFC 6750 §3).',
        default: 'portcullis',
      },
    ),
  },
  { additionalProperties: false },
)

export type AuthConfig = Static<typeof AuthSchema>
export type RouteJwtConfig = Static<typeof RouteJwtSchema>
