/**
 * Request-target splitting and path normalization: the one place where the path the router
 * matches and the path the upstream receives are decided. Both see the same string, so any
 * spelling that an upstream server could decode to a different resource is refused here.
 *
 * Exported signatures:
 *
 *   normalizePath(rawPath: string): string | Rejection
 *     `rawPath` is the path of an origin-form request-target exactly as received (a latin1 /
 *     binary string, query already split off). Returns the normalized path, or one of the frozen
 *     rejections `REJECT.badRequest` (not an origin-form path at all) or `REJECT.invalidPath`
 *     (a spelling that could reach a different resource upstream).
 *
 *   splitTarget(rawTarget: string): SplitTarget | Rejection
 *     For fronts that receive the whole request-target (node:http `req.url`). Splits it into the
 *     raw, NOT yet normalized path (feed it to normalizePath, so both fronts share one
 *     normalization), the query without its '?', and the lowercased authority of an
 *     absolute-form target (null for origin-form and asterisk-form). Userinfo, unknown schemes,
 *     authority-form (CONNECT) and fragments are `REJECT.badRequest`.
 */
import { REJECT, type Rejection } from '../errors.js'

/** A request target after normalizePath: what the router matches and the upstream receives. */
export interface NormalizedTarget {
  path: string
  /** The query without its leading '?', '' when there is none. */
  query: string
}

/** A request target split by {@link splitTarget}; `path` is still raw. */
export interface SplitTarget extends NormalizedTarget {
  /** Lowercased `host[:port]` of an absolute-form target (RFC 9112 §3.2.2), else null. */
  authority: string | null
}

const SLASH = 0x2f
const DOT = 0x2e
const PERCENT = 0x25
const SEMICOLON = 0x3b
const QUESTION = 0x3f

// Character classes of the ASCII range, built once at module load.
const C_BAD = 0 // not allowed in a request-target at all (RFC 3986 §3.3, RFC 9112 §3.2)
const C_UNRESERVED = 1 // RFC 3986 §2.3: decoded when percent-encoded
const C_SUBDELIM = 2 // sub-delims, ':' and '@' (pchar, RFC 3986 §3.3): kept, never decoded
const C_SEMICOLON = 3 // a pchar too, but starts path parameters for Tomcat/Spring
const C_PERCENT = 4
const C_SLASH = 5
const C_INVALID = 6 // controls and '\': a different path for some upstream, so invalid_path

const CLASS = new Uint8Array(128)
/** 1 where the fast path may pass the character through untouched. */
const FAST = new Uint8Array(128)
/** Value of a hex digit, -1 for anything else. */
const HEX_VALUE = new Int8Array(128).fill(-1)
/** '%XX' with uppercase hex digits (RFC 3986 §6.2.2.1) for every byte value. */
const PCT: readonly string[] = Array.from(
  { length: 256 },
  (_, b) => '%' + b.toString(16).toUpperCase().padStart(2, '0'),
)

for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c)
  if (/[A-Za-z0-9\-._~]/.test(ch)) CLASS[c] = C_UNRESERVED
  else if (/[!$&'()*+,=:@]/.test(ch)) CLASS[c] = C_SUBDELIM
  else if (c < 0x20 || c === 0x7f || ch === '\\') CLASS[c] = C_INVALID
  else CLASS[c] = C_BAD
  FAST[c] = CLASS[c] === C_UNRESERVED || CLASS[c] === C_SUBDELIM ? 1 : 0
  HEX_VALUE[c] = /[0-9A-Fa-f]/.test(ch) ? parseInt(ch, 16) : -1
}
CLASS[SEMICOLON] = C_SEMICOLON
CLASS[PERCENT] = C_PERCENT
CLASS[SLASH] = C_SLASH

/**
 * Normalizes a request path once; router and upstream request both use the result.
 *
 * The fast path makes one char-code scan and returns `rawPath` itself (no allocation) when every
 * character is '/', unreserved, ':', '@' or a sub-delim other than ';', and there is neither an
 * empty segment ('//') nor a '.' / '..' segment. Anything else takes the slow path.
 */
export function normalizePath(rawPath: string): string | Rejection {
  const len = rawPath.length
  // Origin-form is absolute-path [ "?" query ] (RFC 9112 §3.2.1), so it starts with '/'.
  if (len === 0 || rawPath.charCodeAt(0) !== SLASH) return REJECT.badRequest
  let segStart = 1
  for (let i = 1; i < len; i++) {
    const c = rawPath.charCodeAt(i)
    if (c === SLASH) {
      const n = i - segStart
      if (n === 0 || isDotName(rawPath, segStart, n)) return normalizeSlow(rawPath)
      segStart = i + 1
    } else if (c > 0x7f || FAST[c] === 0) {
      return normalizeSlow(rawPath)
    }
  }
  // The last segment: empty is a trailing slash (kept as is), '.' and '..' need §5.2.4.
  if (isDotName(rawPath, segStart, len - segStart)) return normalizeSlow(rawPath)
  return rawPath
}

/** Whether the `n` characters of `s` at `start` are exactly '.' or '..'. */
function isDotName(s: string, start: number, n: number): boolean {
  return (
    (n === 1 && s.charCodeAt(start) === DOT) ||
    (n === 2 && s.charCodeAt(start) === DOT && s.charCodeAt(start + 1) === DOT)
  )
}

/**
 * The full normalization: one pass that decodes unreserved characters, refuses ambiguous
 * spellings, and resolves segments (collapsing empty ones, then RFC 3986 §5.2.4 dot removal).
 */
function normalizeSlow(raw: string): string | Rejection {
  const len = raw.length
  const segs: string[] = []
  let seg = '' // the current segment, normalized so far up to `copyFrom`
  let copyFrom = 1 // start of the pending run of characters copied verbatim
  let encodedDot = false // the current segment holds a dot that arrived as %2E
  let sawPct25 = false // the current segment holds '%25': check it for double encoding
  let prevByte = -1 // previous byte >= 0x80 of a UTF-8 sequence, -1 after ASCII

  for (let i = 1; ; i++) {
    if (i === len || raw.charCodeAt(i) === SLASH) {
      seg += raw.slice(copyFrom, i)
      const last = i === len
      let dots = 0
      if (seg !== '') {
        if (sawPct25 && hasDoubleEncoding(seg)) return REJECT.invalidPath
        dots = dotSegment(seg, encodedDot)
        if (dots < 0) return REJECT.invalidPath
        if (dots === 0) segs.push(seg)
        else if (dots === 2) segs.pop() // '..' never climbs above the root (§5.2.4 step 2C)
      }
      if (last) {
        // §5.2.4 keeps the slash of a trailing '/', '/.' or '/..': '/a/b/..' is '/a/'.
        const path = '/' + segs.join('/')
        return segs.length > 0 && (seg === '' || dots !== 0) ? path + '/' : path
      }
      seg = ''
      copyFrom = i + 1
      encodedDot = false
      sawPct25 = false
      prevByte = -1
      continue
    }

    const c = raw.charCodeAt(i)
    if (c < 0x80) {
      const cls = CLASS[c]
      if (cls === C_UNRESERVED || cls === C_SUBDELIM || cls === C_SEMICOLON) {
        prevByte = -1
        continue
      }
      if (cls === C_INVALID) return REJECT.invalidPath
      if (cls !== C_PERCENT) return REJECT.badRequest

      // pct-encoded = "%" HEXDIG HEXDIG (RFC 3986 §2.1); anything else is not a valid path.
      const hi = i + 2 < len ? hexValue(raw.charCodeAt(i + 1)) : -1
      const lo = hi >= 0 ? hexValue(raw.charCodeAt(i + 2)) : -1
      if (lo < 0) return REJECT.badRequest
      const v = (hi << 4) | lo
      seg += raw.slice(copyFrom, i)
      i += 2
      copyFrom = i + 1
      if (v < 0x80) {
        prevByte = -1
        const vcls = CLASS[v]
        if (vcls === C_UNRESERVED) {
          // §2.3/§6.2.2.2: %41 and A are the same URI, so decode and compare decoded.
          seg += String.fromCharCode(v)
          if (v === DOT) encodedDot = true
        } else if (v === SLASH || vcls === C_INVALID) {
          // %2F and %5C are separators to servers that decode before splitting, and encoded
          // controls (%00 above all) truncate or alter paths in C-based upstreams.
          return REJECT.invalidPath
        } else {
          seg += PCT[v]!
          if (v === PERCENT) sawPct25 = true
        }
      } else {
        if (isOverlong(prevByte, v)) return REJECT.invalidPath
        prevByte = v
        seg += PCT[v]!
      }
      continue
    }

    // Raw bytes outside ASCII: the forwarded path must be ASCII (RFC 9112 §3.2), so encode them.
    seg += raw.slice(copyFrom, i)
    copyFrom = i + 1
    if (c <= 0xff) {
      if (isOverlong(prevByte, c)) return REJECT.invalidPath
      prevByte = c
      seg += PCT[c]!
      continue
    }
    // A code unit above 0xFF cannot come from a latin1 string; accept a caller that passed a
    // decoded string by encoding it as UTF-8, which never yields an overlong form.
    let cp = c
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < len ? raw.charCodeAt(i + 1) : 0
      if (d < 0xdc00 || d > 0xdfff) return REJECT.badRequest
      cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
      i++
      copyFrom = i + 1
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return REJECT.badRequest
    }
    if (cp < 0x800) {
      seg += PCT[0xc0 | (cp >> 6)]! + PCT[0x80 | (cp & 0x3f)]!
    } else if (cp < 0x10000) {
      seg += PCT[0xe0 | (cp >> 12)]! + PCT[0x80 | ((cp >> 6) & 0x3f)]! + PCT[0x80 | (cp & 0x3f)]!
    } else {
      seg +=
        PCT[0xf0 | (cp >> 18)]! +
        PCT[0x80 | ((cp >> 12) & 0x3f)]! +
        PCT[0x80 | ((cp >> 6) & 0x3f)]! +
        PCT[0x80 | (cp & 0x3f)]!
    }
    prevByte = 0x80 | (cp & 0x3f)
  }
}

function hexValue(c: number): number {
  return c < 0x80 ? HEX_VALUE[c]! : -1
}

/**
 * Overlong UTF-8 (RFC 3629 §3, §10): lenient decoders turn %C0%AF into '/', %C0%AE into '.' and
 * %C1%9C into '\'. C0/C1 can only start overlong 2-byte forms, E0 80–9F and F0 80–8F start
 * overlong 3- and 4-byte forms, and F8–FF start the 5/6-byte forms that pre-RFC 3629 decoders
 * still accept.
 */
function isOverlong(prev: number, b: number): boolean {
  if (b === 0xc0 || b === 0xc1) return true
  if (b > 0xbf) return false
  return (prev === 0xe0 && b <= 0x9f) || (prev === 0xf0 && b <= 0x8f) || prev >= 0xf8
}

/**
 * Classifies a non-empty normalized segment: 0 a plain segment, 1 a literal '.', 2 a literal
 * '..', -1 a dot segment that must be refused. Refused are dots reached through %2E (a server
 * that decodes after resolving dots sees a different path than RFC 3986 §5.2.4 gives) and
 * '.'/'..' followed by path parameters, which Tomcat and Spring strip before resolving dots
 * (RFC 3986 §3.3 leaves ';' to the server), so '/a/..;/b' is '/b' to them.
 */
function dotSegment(seg: string, encodedDot: boolean): number {
  if (seg.charCodeAt(0) !== DOT) return 0
  const n = seg.length
  const second = n > 1 ? seg.charCodeAt(1) : -1
  const nameLen = second === DOT ? 2 : 1
  if (n > nameLen) {
    // A dot name followed by ';' or an encoded ';' is a parameterized dot segment.
    const next = seg.charCodeAt(nameLen)
    if (next === SEMICOLON) return -1
    if (next === PERCENT && seg.startsWith('%3B', nameLen)) return -1
    return 0
  }
  return encodedDot ? -1 : nameLen
}

/**
 * Double encoding: '%25' followed by two hex digits is a second encoding layer that an upstream
 * decoding twice (or a second proxy decoding once more) turns into the octet they encode. Refuse
 * the layers that hide a separator, a dot, a percent, a ';', a control or an overlong lead byte.
 */
function hasDoubleEncoding(seg: string): boolean {
  for (let k = seg.indexOf('%25'); k !== -1; k = seg.indexOf('%25', k + 3)) {
    if (k + 4 >= seg.length) return false
    const hi = hexValue(seg.charCodeAt(k + 3))
    const lo = hi >= 0 ? hexValue(seg.charCodeAt(k + 4)) : -1
    if (lo < 0) continue
    const w = (hi << 4) | lo
    if (
      w < 0x20 ||
      w === 0x7f ||
      w === SLASH ||
      w === 0x5c ||
      w === DOT ||
      w === PERCENT ||
      w === SEMICOLON ||
      w === 0xc0 ||
      w === 0xc1
    ) {
      return true
    }
  }
  return false
}

/**
 * Splits a whole request-target (RFC 9112 §3.2) into raw path, query and authority. The path is
 * not normalized: pass it to {@link normalizePath} (except the asterisk-form path '*').
 */
export function splitTarget(rawTarget: string): SplitTarget | Rejection {
  // A fragment is never part of a request-target (RFC 9112 §3.2, RFC 3986 §3.5).
  if (rawTarget.indexOf('#') !== -1) return REJECT.badRequest
  const first = rawTarget.charCodeAt(0)
  if (first === SLASH) return splitPathAndQuery(rawTarget, 0, null)
  // asterisk-form is exactly "*" (RFC 9112 §3.2.4), only meaningful for OPTIONS.
  if (rawTarget === '*') return { path: '*', query: '', authority: null }
  return splitAbsoluteForm(rawTarget)
}

function splitPathAndQuery(raw: string, start: number, authority: string | null): SplitTarget {
  const q = raw.indexOf('?', start)
  if (q === -1) {
    const path = start === 0 ? raw : raw.slice(start)
    // An absolute-form target with an empty path means '/' (RFC 9112 §3.2.2, §3.3).
    return { path: path === '' ? '/' : path, query: '', authority }
  }
  const path = raw.slice(start, q)
  return { path: path === '' ? '/' : path, query: raw.slice(q + 1), authority }
}

/**
 * absolute-form = absolute-URI (RFC 9112 §3.2.2). Only http and https are accepted; the server
 * must then use this authority instead of the Host header, so it is validated strictly.
 */
function splitAbsoluteForm(raw: string): SplitTarget | Rejection {
  const sep = raw.indexOf('://')
  if (sep === -1) return REJECT.badRequest // authority-form (CONNECT) or garbage
  // Schemes are case-insensitive (RFC 3986 §3.1).
  const scheme = raw.slice(0, sep).toLowerCase()
  if (scheme !== 'http' && scheme !== 'https') return REJECT.badRequest
  const start = sep + 3
  let end = start
  while (end < raw.length) {
    const c = raw.charCodeAt(end)
    if (c === SLASH || c === QUESTION) break
    end++
  }
  const authority = raw.slice(start, end).toLowerCase()
  if (!isValidAuthority(authority)) return REJECT.badRequest
  return splitPathAndQuery(raw, end, authority)
}

/**
 * host [ ":" port ] with host an IP-literal or a reg-name of unreserved characters. Userinfo is
 * deprecated in http(s) URIs and a recipient should treat it as an error (RFC 9110 §4.2.4); an
 * empty host is invalid (RFC 9110 §4.2.1).
 */
function isValidAuthority(authority: string): boolean {
  const n = authority.length
  let i = 0
  if (authority.charCodeAt(0) === 0x5b) {
    // IP-literal = "[" IPv6address "]" (RFC 3986 §3.2.2); IPvFuture is not accepted.
    const close = authority.indexOf(']')
    if (close < 2) return false
    for (i = 1; i < close; i++) {
      const c = authority.charCodeAt(i)
      if (!(hexValue(c) >= 0 || c === 0x3a || c === DOT)) return false
    }
    i = close + 1
  } else {
    while (i < n) {
      const c = authority.charCodeAt(i)
      if (c === 0x3a) break
      if (c > 0x7f || CLASS[c] !== C_UNRESERVED) return false
      i++
    }
    if (i === 0) return false
  }
  if (i === n) return true
  if (authority.charCodeAt(i) !== 0x3a) return false
  // port = *DIGIT (RFC 3986 §3.2.3); an empty port is allowed and means the default.
  for (i++; i < n; i++) {
    const c = authority.charCodeAt(i)
    if (c < 0x30 || c > 0x39) return false
  }
  return true
}
