/** Config schema of a route's `forward:`: identity headers for the upstream, credentials kept or not. */
import { Type, type Static } from '@sinclair/typebox'
import { HEADER_NAME_PATTERN, HEADER_NAME_REASON, Pattern } from '../../config/fragments.js'

export { HEADER_NAME_PATTERN, HEADER_NAME_REASON }

export const ForwardSchema = Type.Object(
  {
    claims: Type.Record(
      Type.String({ pattern: '^[^.\\s]+(\\.[^.\\s]+)*$' }),
      Pattern(HEADER_NAME_PATTERN, HEADER_NAME_REASON),
      {
        keyReason:
          'must be a claim name, or names joined by "." for a nested claim (realm_access.roles), ' +
          'without spaces or empty names',
        description:
          'Claim → header (sub: X-User-Id). A dotted name reads a nested claim ' +
          '(realm_access.roles). Arrays are joined with spaces; a value with CR, LF or ' +
          'non-ASCII characters refuses the request rather than being forwarded raw.',
        default: {},
      },
    ),
    strip_credentials: Type.Boolean({
      description:
        'Remove the credential the request was authenticated with (Authorization header, ' +
        'token cookie or query parameter) before forwarding: upstreams get the identity headers.',
      default: true,
    }),
  },
  { additionalProperties: false, default: {} },
)

export type ForwardConfig = Static<typeof ForwardSchema>
