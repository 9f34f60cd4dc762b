/**
 * The answers of an authenticated route that refuses a request (RFC 6750 §3 for bearer tokens,
 * the same shape for API keys): built once per list of schemes at compile time, frozen, returned as
 * they are on the hot path. A route that takes several methods challenges with each of their
 * schemes (RFC 9110 §11.6.1: one WWW-Authenticate field per challenge).
 *
 * - no credential at all: 401 with a bare challenge, no error code (§3.1: "SHOULD NOT include an
 *   error code or other error information");
 * - a bad token: 401 `error="invalid_token"` with a description naming the rule it broke;
 * - a bad API key, whatever is wrong with it: 401 `invalid_token`, one body for every reason, so
 *   a caller cannot probe which keys exist (the reason goes to the audit line);
 * - several credentials, or a malformed Authorization field: 400 `error="invalid_request"`
 *   (§3.1: "uses more than one method for including an access token, or is otherwise malformed");
 * - a refused RFC 9421 signature or signed body, whatever the reason: 401 `invalid_signature`,
 *   one body, the `Signature` challenge and Accept-Signature (RFC 9421 §5.1) naming the
 *   components the route requires;
 * - missing scope: 403 `error="insufficient_scope"` with the `scope` the route needs;
 * - a client certificate that maps to no consumer, or to a disabled one: 401 `unauthorized`, one
 *   body for every reason (like keys). TLS client authentication has no HTTP auth scheme, so an
 *   mtls-only route's 401 carries no WWW-Authenticate; the TLS handshake is its challenge.
 */
import { createRejection, type Rejection } from '../../errors.js'
import { JWT_FAILURES, type JwtFailure } from '../../jwt/types.js'

export interface Challenges {
  readonly missing: Rejection
  readonly multiple: Rejection
  readonly malformed: Rejection
  /** The keys of the issuer could not be loaded: the gateway's fault, not the token's. */
  readonly unavailable: Rejection
  /** Any refusal of a present API key. */
  readonly invalidKey: Rejection
  /** Any refusal of a signed request (RFC 9421), with the Accept-Signature hint. */
  readonly invalidSignature: Rejection
  /** A client certificate that names no (enabled) consumer. */
  readonly invalidCertificate: Rejection
  /** `all:` methods that named different consumers. */
  readonly consumerMismatch: Rejection
  invalid(failure: JwtFailure): Rejection
  insufficientScope(required: readonly string[]): Rejection
}

/** One scheme a route challenges with (RFC 9110 §11.6.1), and what it asks the caller for. */
export interface AuthScheme {
  /** The challenge without parameters (`Bearer realm="api"`); null for a method without one. */
  readonly challenge: string | null
  /** What the 401 body says the route wants: "a bearer token". */
  readonly wants: string
  /** Fields every 401 of this scheme carries besides its challenge (Accept-Signature). */
  readonly hint?: readonly string[]
}

export function bearerScheme(realm: string): AuthScheme {
  return { challenge: `Bearer realm="${realm}"`, wants: 'a bearer token' }
}

export function apiKeyScheme(realm: string): AuthScheme {
  return { challenge: `ApiKey realm="${realm}"`, wants: 'an API key' }
}

/**
 * RFC 9421 defines no authentication scheme; `Signature` names it for the challenge RFC 9110
 * §15.5.2 requires of a 401, and Accept-Signature (§5.1) says which components to sign.
 */
export function signatureScheme(realm: string, acceptSignature: string): AuthScheme {
  return {
    challenge: `Signature realm="${realm}"`,
    wants: 'a signed request (RFC 9421)',
    hint: ['accept-signature', acceptSignature],
  }
}
/** A client certificate: asked for in the TLS handshake, not by an HTTP challenge. */
export const MTLS_SCHEME: AuthScheme = { challenge: null, wants: 'a client certificate' }

const cache = new Map<string, Challenges>()

/** The answers of a route that takes `schemes`, in the order its `auth` names them. */
export function challengesFor(schemes: readonly AuthScheme[]): Challenges {
  const id = JSON.stringify(schemes)
  let challenges = cache.get(id)
  if (challenges === undefined) {
    challenges = createChallenges(schemes)
    cache.set(id, challenges)
  }
  return challenges
}

function createChallenges(schemes: readonly AuthScheme[]): Challenges {
  // Two methods may share a scheme (a JWT and an introspected token are both Bearer).
  const named = [...new Set(schemes.flatMap((s) => (s.challenge === null ? [] : [s.challenge])))]
  const bearer = named.find((c) => c.startsWith('Bearer ')) ?? null
  const apiKey = named.find((c) => c.startsWith('ApiKey ')) ?? null
  const signature = named.find((c) => c.startsWith('Signature ')) ?? null
  const hints = schemes.flatMap((s) => s.hint ?? [])
  /** One www-authenticate field per scheme the route takes; `params` follow each challenge. */
  const fields = (params: string): string[] =>
    named.flatMap((challenge) => ['www-authenticate', `${challenge}${params}`])
  // A JWT refusal answers the bearer scheme; a route without one (only forward's compile asks)
  // answers with its own scheme.
  const tokenChallenge = bearer ?? named[0] ?? null
  const challenged = (challenge: string | null, params: string): string[] =>
    challenge === null ? [] : ['www-authenticate', `${challenge}${params}`]
  const invalid = new Map<JwtFailure, Rejection>()
  for (const [failure, description] of Object.entries(JWT_FAILURES) as [JwtFailure, string][]) {
    invalid.set(
      failure,
      createRejection(
        401,
        'invalid_token',
        description,
        challenged(tokenChallenge, `, error="invalid_token", error_description="${description}"`),
      ),
    )
  }
  const scopes = new Map<string, Rejection>()
  const wants = [...new Set(schemes.map((s) => s.wants))]
  const wanted =
    wants.length === 1 ? wants[0]! : `${wants.slice(0, -1).join(', ')} or ${wants.at(-1)!}`
  return {
    missing: createRejection(401, 'unauthorized', `This route requires ${wanted}.`, [
      ...fields(''),
      ...hints,
    ]),
    multiple: createRejection(
      400,
      'invalid_request',
      'The request presents more than one credential.',
      fields(', error="invalid_request", error_description="more than one credential"'),
    ),
    malformed: createRejection(
      400,
      'invalid_request',
      `The Authorization header is malformed: one "${bearer === null ? 'ApiKey <key>' : 'Bearer <token>'}" is expected.`,
      fields(', error="invalid_request", error_description="malformed Authorization header"'),
    ),
    unavailable: createRejection(
      503,
      'auth_unavailable',
      'The keys needed to verify the token are not available; try again later.',
      ['retry-after', '5'],
    ),
    invalidKey: createRejection(
      401,
      'invalid_token',
      'The API key is not valid.',
      challenged(apiKey ?? tokenChallenge, ''),
    ),
    invalidSignature: createRejection(
      401,
      'invalid_signature',
      'The request signature is not valid.',
      [...challenged(signature ?? tokenChallenge, ''), ...hints],
    ),
    invalidCertificate: createRejection(
      401,
      'unauthorized',
      'The client certificate is not accepted on this route.',
      fields(''),
    ),
    consumerMismatch: createRejection(
      401,
      'invalid_token',
      'The credentials of the request name different consumers.',
      fields(', error="invalid_token", error_description="credentials of different consumers"'),
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
          fields(
            `, error="insufficient_scope", error_description="insufficient scope", scope="${scope}"`,
          ),
        )
        scopes.set(scope, rejection)
      }
      return rejection
    },
  }
}
