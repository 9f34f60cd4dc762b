/**
 * Checks a Content-Digest field (RFC 9530 §2) against the body the gateway received, the exact
 * bytes it forwards (the content after any content coding, as the digest covers). Every
 * algorithm the field lists that the gateway knows (sha-256, sha-512: the "Active" ones of the
 * §5 registry) must match; others are ignored, and a field with none of them cannot vouch for
 * the body. Digests are compared in constant time.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9530 Digest Fields
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { isInnerList, parseDictionary } from './structured-fields.js'

/** Why a Content-Digest does not vouch for a body; null when it does. */
export type DigestProblem = 'digest_malformed' | 'digest_unsupported' | 'digest_mismatch'

/** node:crypto's name of each algorithm the gateway checks. */
const ALGORITHMS: ReadonlyMap<string, string> = new Map([
  ['sha-256', 'sha256'],
  ['sha-512', 'sha512'],
])

export function checkContentDigest(field: string, body: Buffer): DigestProblem | null {
  const members = parseDictionary(field)
  if (members === null) return 'digest_malformed'
  let checked = 0
  for (const [name, member] of members) {
    const algorithm = ALGORITHMS.get(name)
    if (algorithm === undefined) continue
    if (isInnerList(member) || !Buffer.isBuffer(member.value)) return 'digest_malformed'
    const expected = member.value
    const actual = createHash(algorithm).update(body).digest()
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
      return 'digest_mismatch'
    }
    checked++
  }
  return checked === 0 ? 'digest_unsupported' : null
}

/** The Content-Digest field a client sends for `body` (tests, tools). */
export function contentDigest(body: Buffer | string, algorithm: 'sha-256' | 'sha-512'): string {
  const digest = createHash(ALGORITHMS.get(algorithm)!).update(body).digest('base64')
  return `${algorithm}=:${digest}:`
}
