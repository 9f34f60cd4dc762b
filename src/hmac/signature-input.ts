/**
 * A one-pass reader of Signature-Input and Signature in the shape clients send: one signature,
 * its components plain Strings without parameters, its parameters the ones RFC 9421 §2.3
 * defines (`created` and `expires` as Integers; `keyid`, `alg`, `nonce` and `tag` as Strings
 * without escapes), each once, in the serialization RFC 8941 §4.1 produces. For such a field
 * the text after `label=` is the serialization of the Inner List, so it is the
 * `@signature-params` value as it stands, and the reader keeps offsets into the text instead of
 * building Maps and strings.
 *
 * The reader never refuses: any other text, valid or not, is declined, and the verifier hands it
 * to the Dictionary parser (structured-fields.ts), which decides. Every text it accepts, that
 * parser reads the same way (test/unit/hmac/signature-input.test.ts checks both on generated
 * fields).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9421#section-4.1 The Signature-Input Field
 * @see https://www.rfc-editor.org/rfc/rfc8941#section-4.1.1.1 Serializing an Inner List
 */

/** More components than this are read by the full parser. */
const MAX_COMPONENTS = 16

/** Characters a component name may hold here: visible ASCII but `"` and `\`. */
const COMPONENT_CHAR = new Uint8Array(128)
/** Characters of a parameter String here: visible ASCII and space, but `"` and `\`. */
const STRING_CHAR = new Uint8Array(128)
for (let c = 0x20; c < 0x7f; c++) {
  if (c === 34 || c === 92) continue
  STRING_CHAR[c] = 1
  if (c !== 32) COMPONENT_CHAR[c] = 1
}

/** RFC 8941 §3.1.2 key: lcalpha or `*`, then lcalpha, DIGIT, `_`, `-`, `.`, `*`. */
const KEY_FIRST = new Uint8Array(128)
const KEY_CHAR = new Uint8Array(128)
for (let c = 97; c <= 122; c++) KEY_FIRST[c] = KEY_CHAR[c] = 1
KEY_FIRST[42] = 1
for (const c of '0123456789_-.*') KEY_CHAR[c.charCodeAt(0)] = 1

/** base64 digit values (RFC 4648 §4); -1 for anything else. */
const BASE64_VALUE = new Int8Array(128).fill(-1)
for (let i = 0; i < 64; i++) {
  BASE64_VALUE['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i
}

const CREATED = 1
const EXPIRES = 2
const KEYID = 4
const ALG = 8
const NONCE = 16
const TAG = 32

/**
 * The last Signature-Input read, as offsets into its text. One per verifier, reused by every
 * request: a read allocates nothing.
 */
export class CommonSignatureInput {
  text = ''
  /** The label is text[0, labelEnd). */
  labelEnd = 0
  /** Where the Inner List starts: text.slice(listStart) is its serialization. */
  listStart = 0
  /** Components read; component i is text[starts[i], ends[i]), without its quotes. */
  count = 0
  readonly starts = new Int32Array(MAX_COMPONENTS)
  readonly ends = new Int32Array(MAX_COMPONENTS)
  created: number | null = null
  expires: number | null = null
  /** String parameters' values as text[start, end); start -1 when absent. */
  keyIdStart = -1
  keyIdEnd = -1
  algStart = -1
  algEnd = -1

  /** Reads `text`; false when it is not in the common shape (nothing can be read from it then). */
  read(text: string): boolean {
    this.text = text
    const length = text.length
    let at = keyEnd(text, 0)
    if (at < 0 || text.charCodeAt(at) !== 61 /* = */ || text.charCodeAt(at + 1) !== 40 /* ( */) {
      return false
    }
    this.labelEnd = at
    this.listStart = at + 1
    at += 2
    const starts = this.starts
    const ends = this.ends
    let count = 0
    if (text.charCodeAt(at) !== 41 /* ) */) {
      for (;;) {
        if (text.charCodeAt(at) !== 34 /* " */ || count === MAX_COMPONENTS) return false
        const start = ++at
        let c = text.charCodeAt(at)
        while (c < 128 && COMPONENT_CHAR[c] === 1) c = text.charCodeAt(++at)
        if (c !== 34 || at === start) return false
        starts[count] = start
        ends[count] = at
        count++
        c = text.charCodeAt(++at)
        if (c === 41) break
        if (c !== 32) return false
        at++
      }
    }
    at++
    this.count = count
    this.created = null
    this.expires = null
    this.keyIdStart = this.keyIdEnd = this.algStart = this.algEnd = -1
    let seen = 0
    while (at < length) {
      if (text.charCodeAt(at) !== 59 /* ; */) return false
      at++
      const param = parameterAt(text, at)
      if (param === 0 || (seen & param) !== 0) return false
      seen |= param
      at = text.indexOf('=', at) + 1
      if (param === CREATED || param === EXPIRES) {
        // An Integer as RFC 8941 §4.1.4 serializes it: at most 15 digits, no leading zero
        // but in "0", no "-0".
        const negative = text.charCodeAt(at) === 45 /* - */
        if (negative) at++
        const first = at
        let value = 0
        let c = text.charCodeAt(at)
        while (c >= 48 && c <= 57) {
          value = value * 10 + (c - 48)
          c = text.charCodeAt(++at)
        }
        const digits = at - first
        if (digits === 0 || digits > 15) return false
        if (text.charCodeAt(first) === 48 && (digits > 1 || negative)) return false
        if (param === CREATED) this.created = negative ? -value : value
        else this.expires = negative ? -value : value
        continue
      }
      if (text.charCodeAt(at) !== 34) return false
      const start = at + 1
      let c = text.charCodeAt(start)
      at = start
      while (c < 128 && STRING_CHAR[c] === 1) c = text.charCodeAt(++at)
      if (c !== 34) return false
      if (param === KEYID) {
        this.keyIdStart = start
        this.keyIdEnd = at
      } else if (param === ALG) {
        this.algStart = start
        this.algEnd = at
      }
      at++
    }
    return true
  }

  /** Whether the text holds `value` at [start, end). */
  holds(value: string, start: number, end: number): boolean {
    return end - start === value.length && this.text.startsWith(value, start)
  }

  /** Whether a component is `name`. */
  covers(name: string): boolean {
    for (let i = 0; i < this.count; i++) {
      if (this.holds(name, this.starts[i]!, this.ends[i]!)) return true
    }
    return false
  }

  /** Whether component i repeats an earlier one (RFC 9421 §2.5 forbids it). */
  repeats(i: number): boolean {
    const text = this.text
    const start = this.starts[i]!
    const length = this.ends[i]! - start
    for (let j = 0; j < i; j++) {
      const other = this.starts[j]!
      if (this.ends[j]! - other !== length) continue
      let k = 0
      while (k < length && text.charCodeAt(start + k) === text.charCodeAt(other + k)) k++
      if (k === length) return true
    }
    return false
  }
}

/**
 * Reads a Signature field that is exactly `label=:<base64>:` with the canonical base64 (RFC 4648
 * §4, padded, unused bits zero) of `into.length` bytes, decoding them into `into`. Returns the
 * offset of the base64 text (text.slice(offset, -1) is the MAC's canonical base64), or -1 for
 * any other text, which the full parser then reads.
 */
export function readSignature(text: string, label: string, into: Buffer): number {
  const bytes = into.length
  const start = label.length + 2
  const chars = 4 * Math.ceil(bytes / 3)
  if (
    text.length !== start + chars + 1 ||
    !text.startsWith(label) ||
    text.charCodeAt(start - 2) !== 61 /* = */ ||
    text.charCodeAt(start - 1) !== 58 /* : */ ||
    text.charCodeAt(start + chars) !== 58
  ) {
    return -1
  }
  const padding = (3 - (bytes % 3)) % 3
  const whole = Math.floor(bytes / 3)
  let at = start
  let out = 0
  for (let q = 0; q < whole; q++, at += 4) {
    const a = base64At(text, at)
    const b = base64At(text, at + 1)
    const c = base64At(text, at + 2)
    const d = base64At(text, at + 3)
    if ((a | b | c | d) < 0) return -1
    into[out++] = (a << 2) | (b >> 4)
    into[out++] = ((b & 15) << 4) | (c >> 2)
    into[out++] = ((c & 3) << 6) | d
  }
  if (padding === 0) return start
  const a = base64At(text, at)
  const b = base64At(text, at + 1)
  if ((a | b) < 0 || text.charCodeAt(at + 3) !== 61) return -1
  into[out++] = (a << 2) | (b >> 4)
  if (padding === 2) {
    // One byte: 8 bits in two digits, the last 4 bits of the second zero, then "==".
    if ((b & 15) !== 0 || text.charCodeAt(at + 2) !== 61) return -1
    return start
  }
  const c = base64At(text, at + 2)
  // Two bytes: 16 bits in three digits, the last 2 bits of the third zero, then "=".
  if (c < 0 || (c & 3) !== 0) return -1
  into[out] = ((b & 15) << 4) | (c >> 2)
  return start
}

function base64At(text: string, at: number): number {
  const c = text.charCodeAt(at)
  return c < 128 ? BASE64_VALUE[c]! : -1
}

/** The end of the key starting at `at`, or -1 when none starts there. */
function keyEnd(text: string, at: number): number {
  const first = text.charCodeAt(at)
  if (!(first < 128 && KEY_FIRST[first] === 1)) return -1
  let c = text.charCodeAt(++at)
  while (c < 128 && KEY_CHAR[c] === 1) c = text.charCodeAt(++at)
  return at
}

/** The parameter whose `name=` starts at `at`, or 0 for any other text. */
function parameterAt(text: string, at: number): number {
  switch (text.charCodeAt(at)) {
    case 99 /* c */:
      return isNamed(text, at, 'created') ? CREATED : 0
    case 101 /* e */:
      return isNamed(text, at, 'expires') ? EXPIRES : 0
    case 107 /* k */:
      return isNamed(text, at, 'keyid') ? KEYID : 0
    case 97 /* a */:
      return isNamed(text, at, 'alg') ? ALG : 0
    case 110 /* n */:
      return isNamed(text, at, 'nonce') ? NONCE : 0
    case 116 /* t */:
      return isNamed(text, at, 'tag') ? TAG : 0
    default:
      return 0
  }
}

function isNamed(text: string, at: number, name: string): boolean {
  return text.startsWith(name, at) && text.charCodeAt(at + name.length) === 61 /* = */
}
