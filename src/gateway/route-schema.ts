/**
 * Config schema of a route: its own keys (name, match, upstream, limits, timeout) and the keys of
 * every stage of the registry, each owned by its stage folder.
 */
import { Type, type Static } from '@sinclair/typebox'
import { Duration, Name, Size } from '../config/fragments.js'
import { MatchSchema } from '../router/schema.js'
import { stageRouteKeys } from './stage-registry.js'
import { HstsSchema } from '../tls/hsts.js'

export const RouteSchema = Type.Object(
  {
    name: Name({ description: 'Unique name, used in logs and metrics.' }),
    match: MatchSchema,
    upstream: Name({ description: 'Name of an entry of upstreams.' }),
    ...stageRouteKeys(),
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
    hsts: Type.Optional(HstsSchema),
    websocket: Type.Boolean({
      description:
        'Forward Upgrade: websocket requests. Any other upgrade (h2c included) is refused.',
      default: false,
    }),
  },
  { additionalProperties: false },
)

export type RouteConfig = Static<typeof RouteSchema>
