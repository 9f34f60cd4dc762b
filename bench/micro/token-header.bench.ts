/**
 * What a bearer token's length costs per request: the header-value check of a token forwarded
 * upstream by a route that does not read it (src/proxy/h1/names.ts, against the charCodeAt loop
 * it replaced; a JWT route removes the token before forwarding) and the verified-token cache key (src/jwt/cache.ts: SHA-256 from the native
 * module, against node's SHA-256 and the other hashes node offers). An RS256 token of the bench
 * is about 580 chars. Run with `npx vitest bench --run bench/micro/token-header.bench.ts`.
 */
import { hash } from 'node:crypto'
import { bench, describe } from 'vitest'

import { nativeVerifier } from '../../src/jwt/native-verify.js'
import { isFieldValue } from '../../src/proxy/h1/names.js'

/** 100 distinct flat one-byte strings the length of `Bearer <RS256 token>`, as uWS hands them. */
const VALUES = Array.from({ length: 100 }, (_, i) =>
  Buffer.from(
    `Bearer ${'eyJhbGciOiJSUzI1NiJ9.'.repeat(27)}${String(i).padStart(2, '0')}`,
    'latin1',
  ).toString('latin1'),
)

/** The check before this stop: one charCodeAt per char. */
function isFieldValueLoop(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if ((c < 32 && c !== 9) || c === 127 || c > 255) return false
  }
  return true
}

let i = 0
const next = (): string => VALUES[i++ % VALUES.length]!

describe(`header-value check, ${VALUES[0]!.length} chars`, () => {
  bench('regular expression (names.ts)', () => void isFieldValue(next()))
  bench('charCodeAt loop', () => void isFieldValueLoop(next()))
})

describe(`cache key of a ${VALUES[0]!.length}-char token`, () => {
  for (const algorithm of ['sha256', 'sha512-256', 'blake2b512', 'blake2s256']) {
    bench(algorithm, () => void hash(algorithm, next(), 'base64url'))
  }
  // The same SHA-256 without OpenSSL 3's per-call algorithm fetch (src/native/jwt_verify.c).
  const native = nativeVerifier()
  if (native !== null)
    bench('sha256, native tokenKey (cache.ts)', () => void native.tokenKey(next()))
})
