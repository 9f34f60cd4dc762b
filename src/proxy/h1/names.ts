/**
 * The lexical rules of HTTP/1.1 messages: tokens (RFC 9110 §5.6.2), field values (§5.5), request
 * targets (RFC 9112 §3.2), the names whose fields decide framing (RFC 9112 §6), and decimal
 * parsing without Number()'s leniency ("0x10", " 1", "1e3" are all numbers to it). All are loops
 * over char codes: no regex on the hot path.
 */

/** tchar (RFC 9110 §5.6.2): 1 where the ASCII code may appear in a field name. */
export const TCHAR = new Uint8Array(128)
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c)
  if (/[0-9A-Za-z]/.test(ch) || "!#$%&'*+-.^_`|~".includes(ch)) TCHAR[c] = 1
}

/** What a field does to the parser, by lowercase name. */
export const K_PLAIN = 0
export const K_CONTENT_LENGTH = 1
export const K_TRANSFER_ENCODING = 2
export const K_CONNECTION = 3
export const K_KEEP_ALIVE = 4
export const K_SET_COOKIE = 5

export function kindOf(name: string): number {
  switch (name) {
    case 'content-length':
      return K_CONTENT_LENGTH
    case 'transfer-encoding':
      return K_TRANSFER_ENCODING
    case 'connection':
      return K_CONNECTION
    case 'keep-alive':
      return K_KEEP_ALIVE
    case 'set-cookie':
      return K_SET_COOKIE
    default:
      return K_PLAIN
  }
}

/** 1*DIGIT (RFC 9110 §8.6) as a safe integer, -1 when it is anything else. */
export function parseDecimal(value: string): number {
  const len = value.length
  if (len === 0 || len > 15) return -1
  let n = 0
  for (let i = 0; i < len; i++) {
    const d = value.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -1
    n = n * 10 + d
  }
  return n
}

/** token (RFC 9110 §5.6.2): a method or a field name. */
export function isToken(s: string): boolean {
  const len = s.length
  if (len === 0) return false
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i)
    if (c > 127 || TCHAR[c] === 0) return false
  }
  return true
}

/** A char a field value may not hold: controls but HTAB, DEL, and anything without a latin1 byte. */
const NOT_FIELD_VALUE = /[^\t\x20-\x7e\x80-\xff]/

/**
 * field-value (RFC 9110 §5.5): HTAB, SP, VCHAR, obs-text. CR, LF and NUL would split the
 * message; other controls are refused too, as undici does. Above 0xff a char has no latin1 byte.
 * A regular expression, because a bearer token a route passes on is long: irregexp scans one
 * faster than a charCodeAt loop (bench/micro/token-header.bench.ts).
 */
export function isFieldValue(s: string): boolean {
  return !NOT_FIELD_VALUE.test(s)
}

/** origin-form (RFC 9112 §3.2.1), or `*` (asterisk-form): no whitespace or control char. */
export function isPath(s: string): boolean {
  const first = s.charCodeAt(0)
  if (first !== 47 /* / */ && !(first === 42 /* * */ && s.length === 1)) return false
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c <= 32 || c === 127 || c > 255) return false
  }
  return true
}
