/** Config schema of the admin API's credentials (`admin:`); its listener is `listeners.admin`. */
import { Type, type Static } from '@sinclair/typebox'
import { Pattern } from '../config/fragments.js'

/** A SHA-256 digest in lowercase hex, as `sha256sum` and `openssl dgst -sha256` print it. */
export const TOKEN_DIGEST_PATTERN = '^[0-9a-f]{64}$'

export const AdminSchema = Type.Object(
  {
    tokens: Type.Array(
      Pattern(
        TOKEN_DIGEST_PATTERN,
        'must be the SHA-256 of a token as 64 lowercase hex digits (printf %s "$TOKEN" | sha256sum)',
      ),
      {
        description:
          'SHA-256 digests (lowercase hex) of the bearer tokens the admin API accepts: the config ' +
          'never holds a token itself. Several, so a token can be rotated without a moment ' +
          'when none works. Applies on reload.',
        default: [],
      },
    ),
  },
  { additionalProperties: false, default: {} },
)

export type AdminConfig = Static<typeof AdminSchema>
