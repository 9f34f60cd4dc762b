/**
 * The answers of a bearer-token route that refuses a request (RFC 6750 §3): built once per realm
 * at compile time, frozen, returned as they are on the hot path.
 *
 * - no token at all: 401 with a bare challenge, no error code (§3.1: "SHOULD NOT include an error
 *   code or other error information");
 * - a bad token: 401 `error="invalid_token"` with a description naming the rule it broke;
 * - several credentials, or a malformed Authorization field: 400 `error="invalid_request"`
 *   (§3.1: "uses more than one method for including an access token, or is otherwise malformed");
 * - missing scope: 403 `error="insufficient_scope"` with the `scope` the route needs.
 */
import { createRejection, type Rejection } from '../../errors.js'
import { JWT_FAILURES, type JwtFailure } from '../../jwt/types.js'

export interface Challenges {
  readonly missing: Rejection
  readonly multiple: Rejection
  readonly malformed: Rejection
  /** The keys of the issuer could not be loaded: the gateway's fault, not the token's. */
  readonly unavailable: Rejection
  invalid(failure: JwtFailure): Rejection
  insufficientScope(required: readonly string[]): Rejection
}

const cache = new Map<string, Challenges>()

export function challengesFor(realm: string): Challenges {
  let challenges = cache.get(realm)
  if (challenges === undefined) {
    challenges = createChallenges(realm)
    cache.set(realm, challenges)
  }
  return challenges
}

function createChallenges(realm: string): Challenges {
  const bearer = `Bearer realm="${realm}"`
  const invalid = new Map<JwtFailure, Rejection>()
  for (const [failure, description] of Object.entries(JWT_FAILURES) as [JwtFailure, string][]) {
    invalid.set(
      failure,
      createRejection(401, 'invalid_token', description, [
        'www-authenticate',
        `${bearer}, error="invalid_token", error_description="${description}"`,
      ]),
    )
  }
  const scopes = new Map<string, Rejection>()
  return {
    missing: createRejection(401, 'unauthorized', 'This route requires a bearer token.', [
      'www-authenticate',
      bearer,
    ]),
    multiple: createRejection(
      400,
      'invalid_request',
      'The request presents more than one credential.',
      [
        'www-authenticate',
        `${bearer}, error="invalid_request", error_description="more than one credential"`,
      ],
    ),
    malformed: createRejection(
      400,
      'invalid_request',
      'The Authorization header is malformed: one "Bearer <token>" is expected.',
      [
        'www-authenticate',
        `${bearer}, error="invalid_request", error_description="malformed Authorization header"`,
      ],
    ),
    unavailable: createRejection(
      503,
      'auth_unavailable',
      'The keys needed to verify the token are not available; try again later.',
      ['retry-after', '5'],
    ),
    invalid: (failure) => invalid.get(failure)!,
    insufficientScope(required) {
      const scope = required.join(' ')
      let rejection = scopes.get(scope)
      if (rejection === undefined) {
        rejection = createRejection(
          403,
          'insufficient_scope',
          `This request requires the scope: ${scope}.`,
          [
            'www-authenticate',
            `${bearer}, error="insufficient_scope", error_description="insufficient scope", scope="${scope}"`,
          ],
        )
        scopes.set(scope, rejection)
      }
      return rejection
    },
  }
}
