/**
 * Parsing of a JWS compact serialization (RFC 7515 §7.1) into what verification needs: the
 * header fields that choose a key, the claims, the signing input as sent and the signature bytes.
 * Nothing here trusts the token: every failure is a {@link JwtFailure}, never a throw.
 *
 * Key-bearing header parameters (`jwk`, `jku`, `x5u`, `x5c`, and the `x5t` thumbprints) are
 * deliberately never read. A key carried or pointed at by the token lets whoever made the token
 * choose the key that verifies it (RFC 8725 §3.10 and §2.6: "jku"/"x5u" are also a server-side
 * request forgery channel). Keys come only from the issuer's configuration (KeySource), selected
 * by `kid` and `alg`, so these parameters are inert: they neither help nor hurt a token.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7515 JWS
 * @see https://www.rfc-editor.org/rfc/rfc8725 JWT Best Current Practices
 */
import type { JwtFailure } from './types.js'

/** A token that passed the structural checks; its signature and claims are not checked yet. */
export interface ParsedToken {
  readonly header: {
    /** Any string but `none`: the allow-list of the issuer decides. */
    readonly alg: string
    readonly kid: string | null
    readonly typ: string | null
  }
  /**
   * The claims as JSON.parse returned them. A `__proto__` member is an own data property there
   * (JSON.parse defines, it does not assign), so reading is safe; never merge this object into
   * another one, and read claims with Object.hasOwn.
   */
  readonly payload: Record<string, unknown>
  /** `BASE64URL(header) '.' BASE64URL(payload)`, exactly as sent (RFC 7515 §5.2 step 8). */
  readonly signingInput: string
  /** Decoded signature; may be a view of Node's shared Buffer pool. */
  readonly signature: Buffer
  /** The `iss` claim when it is a string, for choosing the issuer before any key work. */
  readonly iss: string | null
}

/**
 * Any character outside base64url and the dot: no padding, no `+` or `/`, no whitespace (RFC 7515
 * §2: base64url without trailing `=`). Searching for one is cheaper than matching the whole
 * shape with an anchored pattern (bench/RESULTS.md, "Figures behind the code"); dots are counted
 * with indexOf.
 */
const NOT_BASE64URL = /[^A-Za-z0-9_.-]/

/** The 6-bit value of each base64url character by char code (others are rejected earlier). */
const BASE64URL_VALUE = new Uint8Array(128)
for (let i = 0; i < 64; i++) {
  BASE64URL_VALUE[
    'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charCodeAt(i)
  ] = i
}

/**
 * RFC 7515 §5.2 steps 3 and 8: the header and claims are UTF-8. `fatal` refuses invalid sequences
 * rather than replacing them with U+FFFD; `ignoreBOM` keeps a byte order mark in the text, where
 * JSON.parse refuses it, instead of dropping it silently. One pass, faster than isUtf8 + toString.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Header parameters RFC 7515 and RFC 7518 define for JWS: `crit` must not list them
 * (RFC 7515 §4.1.11).
 */
const REGISTERED_HEADER_PARAMETERS: ReadonlySet<string> = new Set([
  'alg',
  'jku',
  'jwk',
  'kid',
  'x5u',
  'x5c',
  'x5t',
  'x5t#S256',
  'typ',
  'cty',
  'crit',
])

/**
 * Splits and decodes a compact JWS. Checks, in this order: the size bound (before reading
 * anything), the shape (3 segments, canonical base64url), the header (a JSON object; `alg` a
 * string other than `none`; no `b64: false`; no `crit`; `kid` and `typ` strings when present),
 * the payload (a JSON object) and a non-empty signature.
 *
 * @param maxBytes longest token accepted; a longer one is `too_large` unread. A token is ASCII
 *   once its shape is checked, so characters are bytes.
 * @example
 *   const parsed = parseToken(bearer, 8192)
 *   if (typeof parsed === 'string') return reject(parsed)
 */
export function parseToken(token: string, maxBytes: number): ParsedToken | JwtFailure {
  if (token.length > maxBytes) return 'too_large'
  if (NOT_BASE64URL.test(token)) return 'malformed'
  // Exactly three segments; header and payload not empty. The signature may be, so that an
  // `alg: none` token is refused as such rather than as malformed.
  const firstDot = token.indexOf('.')
  if (firstDot < 1) return 'malformed'
  const secondDot = token.indexOf('.', firstDot + 1)
  if (secondDot < 0 || secondDot === firstDot + 1) return 'malformed'
  if (token.indexOf('.', secondDot + 1) !== -1) return 'malformed'
  if (
    !isCanonical(token, 0, firstDot) ||
    !isCanonical(token, firstDot + 1, secondDot) ||
    !isCanonical(token, secondDot + 1, token.length)
  ) {
    return 'malformed'
  }

  const header = parseHeader(token.slice(0, firstDot))
  if (typeof header === 'string') return header

  const payload = decodeJsonObject(token.slice(firstDot + 1, secondDot))
  if (payload === null) return 'malformed'
  if (secondDot + 1 === token.length) return 'malformed'

  const iss = own(payload, 'iss')
  return {
    header,
    payload,
    signingInput: token.slice(0, secondDot),
    signature: Buffer.from(token.slice(secondDot + 1), 'base64url'),
    iss: typeof iss === 'string' ? iss : null,
  }
}

type TokenHeader = ParsedToken['header']

/**
 * Headers parsed before, by their encoded segment. An issuer's tokens share a handful of headers
 * (one per signing key), so a fresh token's header costs a map probe instead of a decode and a
 * JSON.parse. Bounded: a flood of distinct headers only empties it now and then.
 */
const HEADER_CACHE_ENTRIES = 256
const headerCache = new Map<string, TokenHeader | JwtFailure>()

function parseHeader(segment: string): TokenHeader | JwtFailure {
  let header = headerCache.get(segment)
  if (header === undefined) {
    header = decodeHeader(segment)
    if (headerCache.size >= HEADER_CACHE_ENTRIES) headerCache.clear()
    headerCache.set(segment, header)
  }
  return header
}

function decodeHeader(segment: string): TokenHeader | JwtFailure {
  const header = decodeJsonObject(segment)
  if (header === null) return 'malformed'
  const alg = own(header, 'alg')
  if (typeof alg !== 'string') return 'malformed'
  // RFC 8725 §3.1: an unsecured JWT is never accepted, whatever its spelling.
  if (alg.length === 4 && alg.toLowerCase() === 'none') return 'algorithm_not_allowed'
  // RFC 7797: with b64 false the payload is not base64url, a different signing input we do not
  // support; any other value than true is invalid.
  const b64 = own(header, 'b64')
  if (b64 !== undefined && b64 !== true) return 'unsupported_header'
  const crit = own(header, 'crit')
  // RFC 7515 §4.1.11: we understand no extension, so any well-formed crit must be refused.
  if (crit !== undefined) return isWellFormedCrit(crit, header) ? 'unsupported_header' : 'malformed'
  const kid = own(header, 'kid')
  if (kid !== undefined && typeof kid !== 'string') return 'malformed'
  const typ = own(header, 'typ')
  if (typ !== undefined && typeof typ !== 'string') return 'malformed'
  // Frozen: one object is shared by every token with this header.
  return Object.freeze({ alg, kid: kid ?? null, typ: typ ?? null })
}

/** A member of parsed JSON, never one inherited from Object.prototype. */
function own(object: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(object, name) ? object[name] : undefined
}

/**
 * RFC 4648 §3.5: the unused bits of the last character are zero, so each byte string has one
 * spelling (a length of 1 mod 4 encodes no whole byte). Node's decoder would accept both.
 */
function isCanonical(token: string, start: number, end: number): boolean {
  const rest = (end - start) & 3
  if (rest === 0) return true
  if (rest === 1) return false
  const value = BASE64URL_VALUE[token.charCodeAt(end - 1)]!
  return (value & (rest === 2 ? 0x0f : 0x03)) === 0
}

/** Decodes one segment to a JSON object (not an array, not null), or null. Never throws. */
function decodeJsonObject(segment: string): Record<string, unknown> | null {
  let value: unknown
  try {
    value = JSON.parse(UTF8.decode(Buffer.from(segment, 'base64url')))
  } catch {
    return null
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null
}

/**
 * RFC 7515 §4.1.11: a non-empty array of distinct strings, each naming a parameter present in
 * the header and none defined by RFC 7515 or RFC 7518.
 */
function isWellFormedCrit(crit: unknown, header: Record<string, unknown>): boolean {
  if (!Array.isArray(crit) || crit.length === 0) return false
  for (const name of crit as unknown[]) {
    if (typeof name !== 'string' || REGISTERED_HEADER_PARAMETERS.has(name)) return false
    if (!Object.hasOwn(header, name)) return false
  }
  return new Set(crit).size === crit.length
}
