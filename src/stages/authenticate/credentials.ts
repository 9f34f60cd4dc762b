/**
 * Finds the credential of a request: the bearer token in the places a route allows: the Authorization header
 * (RFC 6750 §2.1), a cookie, a query parameter (§2.3); the API key in its header,
 * `Authorization: ApiKey`, a query parameter. A request whose credentials are ambiguous
 * is refused, since which one would count is a guess and an upstream might read the other
 * (RFC 6750 §2: "MUST NOT use more than one method"): two tokens in one place or across places,
 * two Authorization fields of any schemes, one Authorization field holding two credentials, and
 * an Authorization field of any scheme beside a cookie or query token.
 */
import type { StageExchange } from '../../pipeline/stage.js'

export const CredentialProblem = {
  /** No token anywhere the route looks. */
  Missing: 0,
  /** Several credentials. */
  Multiple: 1,
  /** An Authorization field that breaks its grammar (RFC 9110 §11.6.2, RFC 6750 §2.1). */
  Malformed: 2,
} as const
export type CredentialProblem = (typeof CredentialProblem)[keyof typeof CredentialProblem]

export interface TokenSources {
  readonly header: boolean
  readonly cookie: string | null
  readonly query: string | null
}

/** The token, or why there is none to use: one pass over the headers. */
export function findToken(
  exchange: StageExchange,
  sources: TokenSources,
): string | CredentialProblem {
  const headers = exchange.headers
  let authorization = false
  let headerToken: string | null = null
  let other: string | null = null
  let others = 0
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!
    if (name === 'authorization') {
      // RFC 9110 §11.6.2: Authorization holds one credentials, not a list, so a second field
      // of any scheme is a second credential; the fronts keep repeated fields apart.
      if (authorization) return CredentialProblem.Multiple
      authorization = true
      const token = bearerToken(headers[i + 1]!)
      if (typeof token === 'number') return token
      // On a route that does not read the header its token is not taken, but the field still
      // makes a cookie or query token ambiguous (below).
      if (sources.header) headerToken = token
    } else if (name === 'cookie' && sources.cookie !== null) {
      const value = findPair(headers[i + 1]!, ';', sources.cookie, false)
      if (value === MULTIPLE) return CredentialProblem.Multiple
      if (value !== null) {
        other = value
        others++
      }
    }
  }
  if (sources.query !== null && exchange.query !== '') {
    const value = findPair(exchange.query, '&', sources.query, true)
    if (value === MULTIPLE) return CredentialProblem.Multiple
    if (value !== null) {
      other = value
      others++
    }
  }
  if (others === 0) return headerToken ?? CredentialProblem.Missing
  // A cookie or query token beside any Authorization field: the upstream might read the field.
  if (others > 1 || authorization) return CredentialProblem.Multiple
  return other!
}

/**
 * The token of a `Bearer` credential (scheme case-insensitive, RFC 9110 §11.1), spaces around it
 * removed; null for a single credential of any other scheme. Refused as the request's fault
 * (RFC 6750 §3.1 invalid_request): a value holding two credentials (`Bearer a, Bearer b`,
 * `Basic x, Bearer a`) is Multiple; a bearer credential without a token, or with a space or
 * comma inside it (`Bearer a b`), is Malformed. Any other character is left to the token's
 * check (401 invalid_token): a JWT is validated character by character there anyway.
 */
export function bearerToken(value: string): string | null | CredentialProblem {
  return schemeToken(value, 'bearer')
}

/** The key of an `ApiKey <key>` credential, by the rules of {@link bearerToken}. */
export function apiKeyToken(value: string): string | null | CredentialProblem {
  return schemeToken(value, 'apikey')
}

/** `scheme`: lower-case letters only. */
function schemeToken(value: string, scheme: string): string | null | CredentialProblem {
  const n = scheme.length
  // Compared by char code, folding ASCII case with | 0x20: no lowercased copy per request.
  let same = value.length >= n && !(value.length > n && isTokenChar(value.charCodeAt(n)))
  for (let i = 0; same && i < n; i++) {
    same = (value.charCodeAt(i) | 0x20) === scheme.charCodeAt(i)
  }
  if (!same) return hasSecondCredential(value, 0) ? CredentialProblem.Multiple : null
  let start = n
  let end = value.length
  while (start < end && isBlank(value.charCodeAt(start))) start++
  while (end > start && isBlank(value.charCodeAt(end - 1))) end--
  if (start === end) return CredentialProblem.Malformed
  // scheme 1*SP token68 (RFC 9110 §11.4, RFC 6750 §2.1): a token68 has no comma, space or tab.
  if (value.indexOf(',', start) >= 0) {
    return hasSecondCredential(value, start)
      ? CredentialProblem.Multiple
      : CredentialProblem.Malformed
  }
  if (start === n || hasBlank(value, start, end)) return CredentialProblem.Malformed
  return value.slice(start, end)
}

/** Where a route reads an API key: a header, Authorization: ApiKey, a query parameter. */
export interface KeySources {
  /** Lower-case header name. */
  readonly header: string
  readonly authorization: boolean
  readonly query: string | null
}

/**
 * The API key of a request, or why there is none to use: one pass over the headers. Two keys,
 * in one place or across places (two header fields, one field listing two, a header and a query
 * parameter…), are Multiple: which one would count is a guess.
 */
export function findApiKey(
  exchange: StageExchange,
  sources: KeySources,
): string | CredentialProblem {
  const headers = exchange.headers
  let found: string | null = null
  let authorization = false
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!
    if (name === sources.header) {
      const value = headers[i + 1]!
      // A key has no comma: a comma lists two (RFC 9110 §5.3 combines fields that way).
      if (found !== null || value.indexOf(',') >= 0) return CredentialProblem.Multiple
      found = value
    } else if (name === 'authorization' && sources.authorization) {
      if (authorization) return CredentialProblem.Multiple
      authorization = true
      const key = apiKeyToken(headers[i + 1]!)
      if (typeof key === 'number') return key
      if (key !== null) {
        if (found !== null) return CredentialProblem.Multiple
        found = key
      }
    }
  }
  if (sources.query !== null && exchange.query !== '') {
    const value = findPair(exchange.query, '&', sources.query, true)
    if (value === MULTIPLE) return CredentialProblem.Multiple
    if (value !== null) {
      if (found !== null) return CredentialProblem.Multiple
      found = value
    }
  }
  return found ?? CredentialProblem.Missing
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9
}

function hasBlank(value: string, start: number, end: number): boolean {
  const space = value.indexOf(' ', start)
  if (space >= 0 && space < end) return true
  const tab = value.indexOf('\t', start)
  return tab >= 0 && tab < end
}

/** RFC 9110 §5.6.2 tchar. */
function isTokenChar(c: number): boolean {
  return c < 128 && TCHAR[c] === 1
}

const TCHAR = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[c.charCodeAt(0)] = 1
}

/**
 * Whether an Authorization value lists a second credentials after `from` (RFC 9110 §11.4: a
 * credentials is `auth-scheme [ 1*SP ( token68 / #auth-param ) ]`). After a comma outside a
 * quoted string, an auth-param is `token BWS "="`; a token followed by anything else, or by
 * nothing, starts another credentials.
 */
function hasSecondCredential(value: string, from: number): boolean {
  let comma = value.indexOf(',', from)
  if (comma < 0) return false
  let quoted = false
  for (let i = from; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (quoted) {
      if (c === 92 /* \ */) i++
      else if (c === 34 /* " */) quoted = false
      continue
    }
    if (c === 34) {
      quoted = true
      continue
    }
    if (c !== 44 /* , */) continue
    comma = i + 1
    while (comma < value.length && isBlank(value.charCodeAt(comma))) comma++
    let end = comma
    while (end < value.length && isTokenChar(value.charCodeAt(end))) end++
    // An empty list element (`a, , b`) is allowed by the list rule (RFC 9110 §5.6.1).
    if (end === comma) continue
    let next = end
    while (next < value.length && isBlank(value.charCodeAt(next))) next++
    if (value.charCodeAt(next) !== 61 /* = */) return true
    i = end - 1
  }
  return false
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
