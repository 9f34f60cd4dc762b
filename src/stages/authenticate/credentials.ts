/**
 * Finds the bearer token of a request in the places a route allows: the Authorization header
 * (RFC 6750 §2.1), a cookie, a query parameter (§2.3). A request that presents more than one
 * token, in one place or across places, is refused: which one would count is ambiguous, and an
 * upstream might read the other (RFC 6750 §2: "MUST NOT use more than one method").
 */
import type { Exchange } from '../../front/exchange.js'

export const CredentialProblem = {
  /** No token anywhere the route looks. */
  Missing: 0,
  /** Several tokens. */
  Multiple: 1,
} as const
export type CredentialProblem = (typeof CredentialProblem)[keyof typeof CredentialProblem]

export interface TokenSources {
  readonly header: boolean
  readonly cookie: string | null
  readonly query: string | null
}

/** The token, or why there is none to use. */
export function findToken(exchange: Exchange, sources: TokenSources): string | CredentialProblem {
  let found: string | null = null
  let count = 0
  if (sources.header) {
    const headers = exchange.headers
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] !== 'authorization') continue
      const token = bearerToken(headers[i + 1]!)
      if (token === null) continue // another scheme (Basic…) is not a bearer credential
      found = token
      count++
    }
  }
  if (sources.cookie !== null) {
    const headers = exchange.headers
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] !== 'cookie') continue
      const value = findPair(headers[i + 1]!, ';', sources.cookie, false)
      if (value === MULTIPLE) return CredentialProblem.Multiple
      if (value !== null) {
        found = value
        count++
      }
    }
  }
  if (sources.query !== null && exchange.query !== '') {
    const value = findPair(exchange.query, '&', sources.query, true)
    if (value === MULTIPLE) return CredentialProblem.Multiple
    if (value !== null) {
      found = value
      count++
    }
  }
  if (count === 0) return CredentialProblem.Missing
  if (count > 1) return CredentialProblem.Multiple
  return found!
}

/**
 * The token of a `Bearer` credential (scheme case-insensitive, RFC 9110 §11.1), spaces around it
 * removed; null for any other scheme. What follows the scheme is returned as it is, well formed
 * or not: a malformed token is the token's problem (401 invalid_token), not the request's.
 */
export function bearerToken(value: string): string | null {
  // Compared by char code, folding ASCII case with | 0x20: no lowercased copy per request.
  if (
    value.length < 6 ||
    (value.charCodeAt(0) | 0x20) !== 0x62 /* b */ ||
    (value.charCodeAt(1) | 0x20) !== 0x65 /* e */ ||
    (value.charCodeAt(2) | 0x20) !== 0x61 /* a */ ||
    (value.charCodeAt(3) | 0x20) !== 0x72 /* r */ ||
    (value.charCodeAt(4) | 0x20) !== 0x65 /* e */ ||
    (value.charCodeAt(5) | 0x20) !== 0x72 /* r */
  ) {
    return null
  }
  if (value.length === 6) return ''
  const c = value.charCodeAt(6)
  if (c !== 32 && c !== 9) return null
  let start = 7
  let end = value.length
  while (start < end && isBlank(value.charCodeAt(start))) start++
  while (end > start && isBlank(value.charCodeAt(end - 1))) end--
  return value.slice(start, end)
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9
}

const MULTIPLE = Symbol('multiple')

/**
 * The value of the `name` pair in a Cookie header (RFC 6265 §5.4, `;`-separated, a quoted value
 * unquoted) or a query string (`&`-separated, form-decoded); null when absent.
 */
function findPair(
  text: string,
  separator: string,
  name: string,
  formEncoded: boolean,
): string | null | typeof MULTIPLE {
  let found: string | null = null
  for (const pair of text.split(separator)) {
    const eq = pair.indexOf('=')
    const key = eq < 0 ? pair : pair.slice(0, eq)
    if ((formEncoded ? decodeComponent(key) : key.trim()) !== name) continue
    if (found !== null) return MULTIPLE
    let value = eq < 0 ? '' : pair.slice(eq + 1)
    if (formEncoded) value = decodeComponent(value)
    else {
      value = value.trim()
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
        value = value.slice(1, -1)
    }
    found = value
  }
  return found
}

/** application/x-www-form-urlencoded decoding; a broken escape decodes to itself. */
function decodeComponent(text: string): string {
  if (text.indexOf('%') < 0 && text.indexOf('+') < 0) return text
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return text
  }
}

/** The Cookie header without the token cookie (strip_credentials); '' when nothing else is left. */
export function withoutCookie(header: string, name: string): string {
  return header
    .split(';')
    .filter((pair) => {
      const eq = pair.indexOf('=')
      return eq < 0 || pair.slice(0, eq).trim() !== name
    })
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '')
    .join('; ')
}

/** The query without the token parameter (strip_credentials). */
export function withoutQueryParameter(query: string, name: string): string {
  return query
    .split('&')
    .filter((pair) => {
      const eq = pair.indexOf('=')
      return decodeComponent(eq < 0 ? pair : pair.slice(0, eq)) !== name
    })
    .join('&')
}
