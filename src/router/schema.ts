/** Config schema of a route's match (the route itself: gateway/route-schema.ts). */
import { Type, type Static } from '@sinclair/typebox'
import { Pattern } from '../config/fragments.js'
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

export type MatchConfig = Static<typeof MatchSchema>
