/**
 * The checks a JSON body passes before it is parsed: its media type (RFC 8259 §11, RFC 6839 §3.1
 * `+json`), its nesting depth, counted on the bytes so that a deep body never reaches the parser,
 * and, where the route asks, keys named twice in one object (RFC 8259 §4: "names within an object
 * SHOULD be unique"; JSON.parse keeps the last one silently, an upstream parser may keep the first).
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const COLON = 0x3a

/**
 * Whether a Content-Type value names JSON: `application/json` or any `+json` type, with no
 * charset or `charset=utf-8` (RFC 8259 §8.1: JSON exchanged between systems is UTF-8).
 */
export function isJsonMediaType(value: string): boolean {
  const semicolon = value.indexOf(';')
  const type = (semicolon < 0 ? value : value.slice(0, semicolon)).trim().toLowerCase()
  const slash = type.indexOf('/')
  if (slash <= 0) return false
  const subtype = type.slice(slash + 1)
  if (type !== 'application/json' && !(subtype.endsWith('+json') && subtype.length > 5)) {
    return false
  }
  if (semicolon < 0) return true
  // Parameters (RFC 9110 §8.3.1): only a charset matters, and it must be UTF-8.
  for (const parameter of value.slice(semicolon + 1).split(';')) {
    const equals = parameter.indexOf('=')
    if (equals < 0) continue
    const name = parameter.slice(0, equals).trim().toLowerCase()
    if (name !== 'charset') continue
    const charset = parameter
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase()
    if (charset !== 'utf-8' && charset !== 'utf8') return false
  }
  return true
}

/**
 * True when no array or object in `body` nests deeper than `maxDepth`. Brackets inside strings do
 * not count; a malformed body may pass, and JSON.parse refuses it next.
 */
export function withinDepth(body: Buffer, maxDepth: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) inString = true
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return false
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--
  }
  return true
}

/**
 * The JSON Pointer of the first object member whose key its object already has, or null. Run on
 * a body that JSON.parse accepted and withinDepth bounded, so the structure is known good; keys
 * are compared decoded (`"a"` and `"\u0061"` are one key).
 */
export function findDuplicateKey(body: Buffer): string | null {
  // One frame per open array or object: the keys seen (null for an array) and where it is.
  const keys: (Set<string> | null)[] = []
  const pointers: string[] = []
  const indexes: number[] = []
  let pointer = ''
  let pendingKey: string | null = null
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!
    if (c === QUOTE) {
      const start = i
      let escaped = false
      for (i++; body[i] !== QUOTE; i++) {
        if (body[i] === BACKSLASH) {
          escaped = true
          i++
        }
      }
      const frame = keys.length - 1
      const set = frame < 0 ? null : keys[frame]!
      if (set === null || !isKeyPosition(body, i + 1)) continue
      const raw = body.toString('utf8', start + 1, i)
      const key = escaped ? (JSON.parse(body.toString('utf8', start, i + 1)) as string) : raw
      if (set.has(key)) return `${pointer}/${escapeToken(key)}`
      set.add(key)
      pendingKey = key
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const frame = keys.length - 1
      let child = pointer
      if (frame >= 0) {
        if (keys[frame] === null) child = `${pointer}/${indexes[frame]!}`
        else if (pendingKey !== null) child = `${pointer}/${escapeToken(pendingKey)}`
      }
      pointers.push(pointer)
      pointer = child
      keys.push(c === OPEN_BRACE ? new Set() : null)
      indexes.push(0)
      pendingKey = null
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      keys.pop()
      indexes.pop()
      pointer = pointers.pop() ?? ''
    } else if (c === 0x2c /* , */ && indexes.length > 0) {
      indexes[indexes.length - 1]!++
    }
  }
  return null
}

/** A string is a key when the next byte past whitespace is ':'. */
function isKeyPosition(body: Buffer, at: number): boolean {
  while (at < body.length) {
    const c = body[at]!
    if (c === COLON) return true
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false
    at++
  }
  return false
}

function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1')
}
