/**
 * Field-section parsing for upstream responses (RFC 9112 §5, RFC 9110 §5): the header section of
 * a response head and the trailer section of a chunked body share it.
 *
 * Input is the section decoded as latin1 (one char per byte), so positions in the string are
 * byte offsets and no UTF-8 decoding happens on the hot path. Lines are found with indexOf and no
 * regex runs; a name seen at the same line of the previous head costs one startsWith (see
 * FieldNameCache), a new one is checked against the tchar table and lowercased once.
 */
import type { IncomingHttpHeaders } from 'node:http'
import {
  K_CONNECTION,
  K_CONTENT_LENGTH,
  K_PLAIN,
  K_SET_COOKIE,
  K_TRANSFER_ENCODING,
  kindOf,
  parseDecimal,
  TCHAR,
} from './names.js'

const CR = 13
const LF = 10
const SP = 32
const HTAB = 9

/**
 * 1 for the chars no line of a head may hold: the controls but HTAB, and DEL (RFC 9110 §5.5:
 * a field value is HTAB, SP, VCHAR and obs-text; RFC 9112 §4: so is a reason phrase). CR and LF
 * end lines and are left to the line rules.
 */
const CONTROL = new Uint8Array(256)
for (let c = 0; c < 32; c++) CONTROL[c] = 1
CONTROL[HTAB] = 0
CONTROL[CR] = 0
CONTROL[LF] = 0
CONTROL[127] = 1

/** What the framing rules (RFC 9112 §6.3, §9.3) need from the header section. */
export interface Framing {
  /** Content-Length, -1 when absent. */
  contentLength: number
  chunked: boolean
  /** Connection: close was listed. */
  connectionClose: boolean
  /** Connection: keep-alive was listed (needed to keep an HTTP/1.0 connection). */
  connectionKeepAlive: boolean
  /** Keep-Alive: timeout=N, in ms; -1 when absent. */
  keepAliveHintMs: number
}

/** Lines remembered per connection; a longer head parses its extra lines the slow way. */
const CACHED_LINES = 32

/**
 * The field names of the previous head, line by line. An upstream sends the same names in the
 * same order response after response, so a line that starts with the name (and colon) cached
 * at its position is matched with one startsWith: no slice, no validation, no lowercasing, and
 * the field list gets the same interned name as last time.
 */
export class FieldNameCache {
  /** Raw name followed by ':' as it appeared on the wire. */
  readonly raw: string[] = []
  readonly lower: string[] = []
  readonly kind: number[] = []

  /** Keeps exactly the names of the head just parsed (`lines` lines). */
  settle(lines: number): void {
    const n = Math.min(lines, CACHED_LINES)
    this.raw.length = n
    this.lower.length = n
    this.kind.length = n
  }
}

/**
 * Parses the field lines of `text` in [pos, end) onto `out` as [name, value, …], names in lower
 * case, in the order received; `end` is just past the CRLF of the last line. `framing` is null
 * for a trailer section, whose fields carry no framing. Returns null, or why the section is
 * malformed.
 */
export function parseFields(
  text: string,
  pos: number,
  end: number,
  out: string[],
  framing: Framing | null,
  cache: FieldNameCache,
): string | null {
  let hits = true
  let line = 0
  for (; pos < end; line++) {
    const lf = text.indexOf('\n', pos)
    const eol = lf - 1
    // RFC 9112 §2.2: a bare CR is invalid; a bare LF is refused too (strict parsing).
    if (lf === -1 || lf >= end || text.charCodeAt(eol) !== CR || text.indexOf('\r', pos) !== eol) {
      return 'bare CR or LF in a field line'
    }
    let name: string
    let kind: number
    let vs: number
    const cached = line < CACHED_LINES ? cache.raw[line] : undefined
    if (cached !== undefined && text.startsWith(cached, pos)) {
      name = cache.lower[line]!
      kind = cache.kind[line]!
      vs = pos + cached.length
    } else {
      const first = text.charCodeAt(pos)
      // RFC 9112 §5.2: a proxy may refuse a response with obs-fold (502) instead of unfolding.
      if (first === SP || first === HTAB) return 'obs-fold in a field line (RFC 9112 §5.2)'
      const colon = text.indexOf(':', pos)
      if (colon === -1 || colon > eol) return 'field line without a colon'
      if (colon === pos) return 'empty field name'
      // Also refuses whitespace before the colon (RFC 9112 §5.1).
      for (let i = pos; i < colon; i++) {
        const c = text.charCodeAt(i)
        if (c > 127 || TCHAR[c] === 0) return 'invalid character in a field name (RFC 9110 §5.1)'
      }
      name = text.slice(pos, colon).toLowerCase()
      kind = kindOf(name)
      vs = colon + 1
      hits = false
      if (line < CACHED_LINES) {
        cache.raw[line] = text.slice(pos, vs)
        cache.lower[line] = name
        cache.kind[line] = kind
      }
    }
    while (vs < eol && isOws(text.charCodeAt(vs))) vs++
    let ve = eol
    while (ve > vs && isOws(text.charCodeAt(ve - 1))) ve--
    const value = text.slice(vs, ve)
    pos = lf + 1
    if (kind !== K_PLAIN && kind !== K_SET_COOKIE && framing !== null) {
      const problem = noteFraming(framing, kind, value)
      if (problem === DUPLICATE) continue
      if (problem !== null) return problem
    }
    out.push(name, value)
  }
  if (!hits || line !== cache.raw.length) cache.settle(line)
  return null
}

/**
 * Why `text` in [start, end), a head (`statusLine`: its first line is the status line) or a
 * trailer section decoded as latin1, is malformed by a control character, naming the field it
 * is in; null when there is none. A table lookup per char: every byte of every head passes here.
 */
export function controlCharProblem(
  text: string,
  start: number,
  end: number,
  statusLine: boolean,
): string | null {
  for (let i = start; i < end; i++) {
    if (CONTROL[text.charCodeAt(i)] === 1) return describeControl(text, start, i, statusLine)
  }
  return null
}

function describeControl(text: string, start: number, at: number, statusLine: boolean): string {
  const what = `control character 0x${text.charCodeAt(at).toString(16).padStart(2, '0')}`
  const lineStart = Math.max(start, text.lastIndexOf('\n', at) + 1)
  if (statusLine && lineStart === start) return `${what} in the status line`
  const colon = text.indexOf(':', lineStart)
  if (colon === -1 || colon > at) return `${what} in a field name`
  // The name is not checked yet: it is quoted only when it is a token.
  if (colon === lineStart) return `${what} in a field value`
  for (let i = lineStart; i < colon; i++) {
    const c = text.charCodeAt(i)
    if (c > 127 || TCHAR[c] === 0) return `${what} in a field value`
  }
  return `${what} in the value of field "${text.slice(lineStart, colon).toLowerCase()}"`
}

const DUPLICATE = 'duplicate'

function noteFraming(framing: Framing, kind: number, value: string): string | null {
  switch (kind) {
    case K_CONTENT_LENGTH: {
      const n = parseDecimal(value)
      if (n < 0) return `invalid Content-Length "${value}"`
      if (framing.contentLength === n) return DUPLICATE // RFC 9110 §8.6: identical values
      if (framing.contentLength !== -1) return 'conflicting Content-Length values'
      framing.contentLength = n
      return null
    }
    case K_TRANSFER_ENCODING:
      if (framing.chunked) return 'repeated Transfer-Encoding'
      // Only chunked alone: any other coding would reach the client undecoded once the
      // hop-by-hop Transfer-Encoding is removed, and close-delimited TE responses are a
      // smuggling vector (RFC 9112 §6.3).
      if (value.toLowerCase() !== 'chunked') return `unsupported Transfer-Encoding "${value}"`
      framing.chunked = true
      return null
    case K_CONNECTION:
      noteConnection(framing, value.toLowerCase())
      return null
    default:
      framing.keepAliveHintMs = keepAliveTimeout(value)
      return null
  }
}

/** RFC 9112 §9.3: the connection options that decide persistence. */
function noteConnection(framing: Framing, value: string): void {
  if (value === 'keep-alive') framing.connectionKeepAlive = true
  else if (value === 'close') framing.connectionClose = true
  else {
    for (const part of value.split(',')) {
      const token = part.trim()
      if (token === 'close') framing.connectionClose = true
      else if (token === 'keep-alive') framing.connectionKeepAlive = true
    }
  }
}

/** `timeout=N` of a Keep-Alive field (RFC 2068 §19.7.1.1, still sent by node:http), in ms. */
function keepAliveTimeout(value: string): number {
  const at = value.toLowerCase().indexOf('timeout=')
  if (at === -1) return -1
  let n = 0
  let digits = 0
  for (let i = at + 8; i < value.length; i++) {
    const d = value.charCodeAt(i) - 48
    if (d < 0 || d > 9) break
    n = n * 10 + d
    if (++digits > 9) return -1
  }
  return digits === 0 ? -1 : n * 1000
}

/**
 * The object form of a field list, as undici hands it to onResponseStart: repeated fields become
 * arrays, set-cookie always is one.
 */
export function fieldRecord(fields: readonly string[]): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {}
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 'set-cookie') addCookie(out, fields[i + 1]!)
    else addField(out, fields[i]!, fields[i + 1]!)
  }
  return out
}

/** Repeated fields become arrays (undici's object form). */
function addField(out: IncomingHttpHeaders, name: string, value: string): void {
  const prev: unknown = out[name]
  if (prev === undefined) {
    out[name] = value
  } else if (!Object.hasOwn(out, name)) {
    // A name like __proto__ or constructor: define it instead of touching the prototype.
    Object.defineProperty(out, name, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    })
  } else if (typeof prev === 'string') {
    out[name] = [prev, value]
  } else {
    ;(prev as string[]).push(value)
  }
}

/** set-cookie is always an array: its values cannot be joined (RFC 9110 §5.3). */
function addCookie(out: IncomingHttpHeaders, value: string): void {
  const prev = out['set-cookie']
  if (prev === undefined) out['set-cookie'] = [value]
  else prev.push(value)
}

function isOws(c: number): boolean {
  return c === SP || c === HTAB
}
