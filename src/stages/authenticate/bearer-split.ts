/**
 * On a route that takes both `jwt` and `introspection`, which method a bearer token belongs to:
 * a token that parses as a JWT of one of the route's issuers (its `iss`) goes to jwt, any other
 * bearer token (opaque, or a JWT of an issuer the route does not trust) to introspection. Both
 * methods' `find` ask, so exactly one of them finds the token and the choice is made once: a
 * token refused by one method is never tried with the other.
 */
import { parseToken } from '../../jwt/compact.js'

export class BearerSplit {
  readonly #issuers: ReadonlySet<string>
  readonly #maxTokenBytes: number
  /**
   * The token last classified and its class: the two methods ask about the same token in turn,
   * so the second question costs a string comparison.
   */
  #last = ''
  #lastIsJwt = false

  /** @param issuers the `iss` values of the route's jwt issuers */
  constructor(issuers: ReadonlySet<string>, maxTokenBytes: number) {
    this.#issuers = issuers
    this.#maxTokenBytes = maxTokenBytes
  }

  /** Whether `token` is for the jwt method. */
  isJwt(token: string): boolean {
    if (token === this.#last) return this.#lastIsJwt
    // A JWS compact serialization has two dots (RFC 7515 §7.1); an opaque token rarely has any.
    const parsed = token.indexOf('.') < 0 ? null : parseToken(token, this.#maxTokenBytes)
    const isJwt =
      parsed !== null &&
      typeof parsed !== 'string' &&
      parsed.iss !== null &&
      this.#issuers.has(parsed.iss)
    this.#last = token
    this.#lastIsJwt = isJwt
    return isJwt
  }
}
