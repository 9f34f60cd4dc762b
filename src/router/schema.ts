/** Config schema of a route's match and of the route itself. */
import { Type, type Static } from '@sinclair/typebox'
import { Duration, Name, Pattern, Size } from '../config/fragments.js'
import { AuthSchema, RouteJwtSchema } from '../stages/authenticate/schema.js'
import { ScopesSchema } from '../stages/authorize/schema.js'
import { ForwardSchema } from '../stages/forward/schema.js'
import { RouteRateLimitSchema } from '../stages/rate-limit/schema.js'
import { METHODS } from './methods.js'

export const MatchSchema = Type.Object(
  {
    hosts: Type.Optional(
      Type.Array(
        Pattern(
          '^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$',
          'must be a host name such as api.example.com (letters, digits and "-" in dot-separated ' +
            'labels, no port), or *.example.com for the names under it',
        ),
        {
          minItems: 1,
          description:
            'Host names (case-insensitive, port ignored); *.example.com matches one or more labels. Absent: any host.',
        },
      ),
    ),
    paths: Type.Array(
      Pattern('^/[^?#\\s]*$', 'must be a path starting with "/", without "?", "#" or spaces'),
      {
        minItems: 1,
        description:
          'Paths, case-sensitive. /api/users is exact; /api/* is a prefix of whole segments ' +
          '(/api, /api/, /api/x; never /apix). /* matches everything.',
      },
    ),
    methods: Type.Optional(
      Type.Array(Type.Union(METHODS.map((m) => Type.Literal(m))), {
        minItems: 1,
        uniqueItems: true,
        description: 'Methods, upper case. GET implies HEAD. Absent: every method.',
      }),
    ),
  },
  { additionalProperties: false },
)

export const RouteSchema = Type.Object(
  {
    name: Name({ description: 'Unique name, used in logs and metrics.' }),
    match: MatchSchema,
    upstream: Name({ description: 'Name of an entry of upstreams.' }),
    auth: AuthSchema,
    jwt: Type.Optional(RouteJwtSchema),
    scopes: Type.Optional(ScopesSchema),
    rate_limit: Type.Optional(RouteRateLimitSchema),
    forward: ForwardSchema,
    strip_path: Type.Boolean({
      description: 'Remove the matched prefix (of a /prefix/* path) before forwarding.',
      default: false,
    }),
    max_body: Type.Optional(
      Size({ description: 'Body limit of this route; default limits.max_body.' }),
    ),
    timeout: Type.Optional(
      Duration({ description: "Overrides the upstream's timeout for this route." }),
    ),
    websocket: Type.Boolean({
      description:
        'Forward Upgrade: websocket requests. Any other upgrade (h2c included) is refused.',
      default: false,
    }),
  },
  { additionalProperties: false },
)

export type RouteConfig = Static<typeof RouteSchema>
export type MatchConfig = Static<typeof MatchSchema>
