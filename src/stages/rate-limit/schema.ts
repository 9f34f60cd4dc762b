/**
 * The route's `rate_limit:` key: the names of the `rate_limits:` policies it applies. The
 * policies themselves are the rate-limit domain's (src/rate-limit/schema.ts).
 */
import { Type, type Static } from '@sinclair/typebox'
import { Name } from '../../config/fragments.js'

export const RouteRateLimitSchema = Type.Union(
  [
    Name(),
    Type.Array(Name(), {
      minItems: 1,
      uniqueItems: true,
      description: 'Several policies: a request must be admitted by all of them.',
    }),
  ],
  {
    description:
      'Names of entries of rate_limits applied to this route (e.g. a per-second burst and a ' +
      'per-minute quota). A request refused by one policy consumes none of the others of its ' +
      'phase; pre_auth policies count it before post_auth ones run, whatever follows.',
  },
)

export type RouteRateLimitConfig = Static<typeof RouteRateLimitSchema>
