/**
 * Config schema of `cors:`: the top-level default and a route's own (`routes[].cors`), which
 * replaces the default whole; `cors: false` on a route turns the default off there. Origins are
 * checked when the policy compiles (./origins.ts), each bad entry named by its path.
 */
import { Type, type Static } from '@sinclair/typebox'
import {
  Duration,
  HEADER_NAME_PATTERN,
  HEADER_NAME_REASON,
  Pattern,
} from '../../config/fragments.js'
import { METHODS } from '../../router/methods.js'

const HeaderNames = (description: string) =>
  Type.Array(Pattern(HEADER_NAME_PATTERN, HEADER_NAME_REASON), {
    uniqueItems: true,
    description,
    default: [],
  })

export const CorsSchema = Type.Object(
  {
    origins: Type.Array(
      Type.String({
        description:
          'An origin as browsers send it: scheme://host[:port] (https://app.example.com, ' +
          'http://localhost:3000); scheme://*.domain[:port] for the origins of one or more labels ' +
          'under a domain of at least two labels (same scheme, same port); or *, every origin ' +
          '(only without credentials).',
      }),
      {
        minItems: 1,
        description:
          'The origins whose pages may call the route. Any other origin gets no CORS headers (its ' +
          'preflight a 403), so the browser keeps the answer from the page.',
      },
    ),
    methods: Type.Optional(
      Type.Array(Type.Union(METHODS.map((m) => Type.Literal(m))), {
        minItems: 1,
        uniqueItems: true,
        description:
          'Methods a cross-origin page may use; a preflight for another gets 403. Absent: every ' +
          'method the route takes.',
      }),
    ),
    allow_headers: HeaderNames(
      'Request headers a cross-origin page may send besides the CORS-safelisted ones ' +
        '(case-insensitive), e.g. [authorization, content-type]; a preflight asking for another ' +
        'gets 403. * allows any (only without credentials).',
    ),
    expose_headers: HeaderNames(
      'Response headers the page may read besides the CORS-safelisted ones; the rate-limit ' +
        'headers are added when the route has rate limits. * exposes all (only without ' +
        'credentials).',
    ),
    credentials: Type.Boolean({
      description:
        'Let pages send cookies and HTTP authentication (Access-Control-Allow-Credentials: true). ' +
        'Off by default: a credentialed cross-origin call acts with the user’s session.',
      default: false,
    }),
    max_age: Duration({
      description:
        'How long a browser may reuse a preflight answer (Access-Control-Max-Age); 10m saves a ' +
        'preflight per call while a config change reaches browsers within minutes (browsers cap ' +
        'the value at their own limit).',
      default: '10m',
    }),
  },
  {
    additionalProperties: false,
    description:
      'Cross-origin calls from browsers (Fetch standard, CORS protocol): the gateway answers ' +
      'preflights itself, before authentication, and owns the CORS headers of every answer.',
  },
)

export type CorsConfig = Static<typeof CorsSchema>

/** A route's `cors:`: its own policy, or false to turn the top-level default off. */
export const RouteCorsSchema = Type.Union([Type.Literal(false), CorsSchema], {
  description:
    'CORS of this route; replaces the top-level cors whole. false: no CORS on this route even ' +
    'with a top-level default.',
})

export type RouteCorsConfig = Static<typeof RouteCorsSchema>
