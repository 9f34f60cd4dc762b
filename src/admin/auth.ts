/**
 * Admin credentials: `Authorization: Bearer <token>` (RFC 6750 §2.1) whose SHA-256 is one of
 * `admin.tokens`. The config holds digests only, so a leaked config grants nothing; the digest of
 * the presented token is compared with every configured one in constant time, so neither the
 * answer's timing nor which digest matched tells a caller how close a guess came.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 */
import { createHash, timingSafeEqual } from 'node:crypto'

/** Characters of the digest that name the caller in the audit log: enough to tell tokens apart. */
const WHO_HEX_CHARS = 12

/** RFC 6750 §2.1 b64token after the scheme, case-insensitive, one space or more. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i

export class AdminAuth {
  readonly #digests: readonly Buffer[]
  readonly #who: readonly string[]

  constructor(hexDigests: readonly string[]) {
    this.#digests = hexDigests.map((hex) => Buffer.from(hex, 'hex'))
    this.#who = hexDigests.map((hex) => `sha256:${hex.slice(0, WHO_HEX_CHARS)}`)
  }

  /**
   * Who the Authorization header proves the caller is (`sha256:` and the digest's first hex
   * characters, for the audit log), or null.
   */
  authenticate(authorization: string | undefined): string | null {
    if (authorization === undefined) return null
    const match = BEARER.exec(authorization)
    if (match === null) return null
    const presented = createHash('sha256').update(match[1]!).digest()
    let who: string | null = null
    // Every digest is compared, whichever matches: the time taken does not depend on which.
    for (let i = 0; i < this.#digests.length; i++) {
      if (timingSafeEqual(presented, this.#digests[i]!) && who === null) who = this.#who[i]!
    }
    return who
  }
}

/** The digest `admin.tokens` takes for `token`. */
export function adminTokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
