/**
 * RFC 8941 Structured Field Values, as far as HTTP Message Signatures need them: a Dictionary
 * parser (Signature-Input, Signature, Content-Digest) and the serialization of Inner Lists,
 * Items and Parameters (the `@signature-params` line and component identifiers, which RFC 9421
 * §2.3 defines as the serialized value, not the text the client sent). Parsing is strict: any
 * breach of the grammar fails the whole field (§4.2: "fail parsing").
 *
 * @see https://www.rfc-editor.org/rfc/rfc8941 Structured Field Values for HTTP
 */

/** A Token (§3.3.4), kept apart from a String (§3.3.3), which serializes differently. */
export class Token {
  constructor(readonly value: string) {}
}

/** A Decimal (§3.3.2), kept apart from an Integer. */
export class Decimal {
  constructor(readonly value: number) {}
}

/** §3.3: Integer (number), Decimal, String (string), Token, Byte Sequence (Buffer), Boolean. */
export type BareItem = number | Decimal | string | Token | Buffer | boolean

export type Parameters = Map<string, BareItem>

export interface Item {
  readonly value: BareItem
  readonly params: Parameters
}

export interface InnerList {
  readonly items: readonly Item[]
  readonly params: Parameters
}

/** A Dictionary member: an Item or an Inner List (§3.2). */
export type Member = Item | InnerList

export function isInnerList(member: Member): member is InnerList {
  return 'items' in member
}

/** A Dictionary (§4.2.2), in member order, or null when the text breaks the grammar. */
export function parseDictionary(text: string): Map<string, Member> | null {
  const parser = new Parser(text)
  try {
    return parser.dictionary()
  } catch (error) {
    if (error === FAIL) return null
    throw error
  }
}

/** §4.1.1.1 Inner List: `("a" "b";x=1);created=1`. */
export function serializeInnerList(list: InnerList): string {
  let out = '('
  const items = list.items
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ' '
    out += serializeItem(items[i]!)
  }
  return out + ')' + serializeParameters(list.params)
}

/** §4.1.3 Item: bare item then parameters. */
export function serializeItem(item: Item): string {
  return serializeBareItem(item.value) + serializeParameters(item.params)
}

/** §4.1.1.2 Parameters: `;key` for true, `;key=value` otherwise. */
export function serializeParameters(params: Parameters): string {
  let out = ''
  for (const [key, value] of params) {
    out += ';' + key
    if (value !== true) out += '=' + serializeBareItem(value)
  }
  return out
}

export function serializeBareItem(value: BareItem): string {
  if (typeof value === 'number') return String(value)
  if (typeof value === 'string') return serializeString(value)
  if (typeof value === 'boolean') return value ? '?1' : '?0'
  if (value instanceof Token) return value.value
  if (value instanceof Decimal) return serializeDecimal(value.value)
  return ':' + value.toString('base64') + ':'
}

/** §4.1.6: `"` and `\` escaped. */
export function serializeString(value: string): string {
  if (value.indexOf('"') < 0 && value.indexOf('\\') < 0) return '"' + value + '"'
  return '"' + value.replace(/[\\"]/g, '\\$&') + '"'
}

/** §4.1.5: rounded to three fractional digits, at least one kept. */
function serializeDecimal(value: number): string {
  const fixed = value.toFixed(3)
  let end = fixed.length
  while (fixed.charCodeAt(end - 1) === 48 /* 0 */ && fixed.charCodeAt(end - 2) !== 46 /* . */) {
    end--
  }
  return fixed.slice(0, end)
}

const FAIL = Symbol('sf-parse-failure')

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

function isLcAlpha(c: number): boolean {
  return c >= 97 && c <= 122
}

function isAlpha(c: number): boolean {
  return isLcAlpha(c) || (c >= 65 && c <= 90)
}

/** RFC 9110 tchar, plus ':' and '/' (§3.3.4 sf-token). */
const TOKEN_CHAR = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz:/") {
  TOKEN_CHAR[c.charCodeAt(0)] = 1
}

const BASE64_CHAR = new Uint8Array(128)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=') {
  BASE64_CHAR[c.charCodeAt(0)] = 1
}

/** The parsing algorithms of §4.2, over one field value. */
class Parser {
  readonly #text: string
  #at = 0

  constructor(text: string) {
    this.#text = text
  }

  dictionary(): Map<string, Member> {
    const text = this.#text
    const members = new Map<string, Member>()
    this.#skipSpaces()
    if (this.#at === text.length) return members
    for (;;) {
      const key = this.#key()
      let member: Member
      if (text.charCodeAt(this.#at) === 61 /* = */) {
        this.#at++
        member = text.charCodeAt(this.#at) === 40 /* ( */ ? this.#innerList() : this.#item()
      } else {
        member = { value: true, params: this.#parameters() }
      }
      // §4.2.2: a later member of the same name replaces the earlier one.
      members.set(key, member)
      this.#skipOws()
      if (this.#at === text.length) return members
      if (text.charCodeAt(this.#at) !== 44 /* , */) throw FAIL
      this.#at++
      this.#skipOws()
      if (this.#at === text.length) throw FAIL
    }
  }

  #innerList(): InnerList {
    const text = this.#text
    this.#at++ // (
    const items: Item[] = []
    for (;;) {
      this.#skipSpaces()
      if (this.#at >= text.length) throw FAIL
      if (text.charCodeAt(this.#at) === 41 /* ) */) {
        this.#at++
        return { items, params: this.#parameters() }
      }
      items.push(this.#item())
      const c = text.charCodeAt(this.#at)
      if (c !== 32 && c !== 41) throw FAIL
    }
  }

  #item(): Item {
    const value = this.#bareItem()
    return { value, params: this.#parameters() }
  }

  #parameters(): Parameters {
    const text = this.#text
    const params: Parameters = new Map()
    while (text.charCodeAt(this.#at) === 59 /* ; */) {
      this.#at++
      this.#skipSpaces()
      const key = this.#key()
      let value: BareItem = true
      if (text.charCodeAt(this.#at) === 61 /* = */) {
        this.#at++
        value = this.#bareItem()
      }
      params.set(key, value)
    }
    return params
  }

  #key(): string {
    const text = this.#text
    const start = this.#at
    const first = text.charCodeAt(start)
    if (!isLcAlpha(first) && first !== 42 /* * */) throw FAIL
    let at = start + 1
    for (; at < text.length; at++) {
      const c = text.charCodeAt(at)
      if (!isLcAlpha(c) && !isDigit(c) && c !== 95 && c !== 45 && c !== 46 && c !== 42) break
    }
    this.#at = at
    return text.slice(start, at)
  }

  #bareItem(): BareItem {
    const c = this.#text.charCodeAt(this.#at)
    if (c === 45 /* - */ || isDigit(c)) return this.#number()
    if (c === 34 /* " */) return this.#string()
    if (c === 42 /* * */ || isAlpha(c)) return this.#token()
    if (c === 58 /* : */) return this.#byteSequence()
    if (c === 63 /* ? */) return this.#boolean()
    throw FAIL
  }

  /** §4.2.4: at most 15 integer digits; a decimal has at most 12 before and 3 after the dot. */
  #number(): number | Decimal {
    const text = this.#text
    const start = this.#at
    let at = start
    if (text.charCodeAt(at) === 45) at++
    if (!isDigit(text.charCodeAt(at))) throw FAIL
    let dot = -1
    for (; at < text.length; at++) {
      const c = text.charCodeAt(at)
      if (isDigit(c)) continue
      if (c === 46 /* . */ && dot < 0) {
        dot = at
        continue
      }
      break
    }
    const digits = text.slice(start, at)
    const sign = text.charCodeAt(start) === 45 ? 1 : 0
    this.#at = at
    if (dot < 0) {
      if (digits.length - sign > 15) throw FAIL
      return Number(digits)
    }
    if (dot - start - sign > 12 || at - dot - 1 < 1 || at - dot - 1 > 3) throw FAIL
    return new Decimal(Number(digits))
  }

  #string(): string {
    const text = this.#text
    let at = this.#at + 1
    let out = ''
    let from = at
    for (; at < text.length; at++) {
      const c = text.charCodeAt(at)
      if (c === 34) {
        this.#at = at + 1
        return out + text.slice(from, at)
      }
      if (c === 92 /* \ */) {
        const next = text.charCodeAt(at + 1)
        if (next !== 34 && next !== 92) throw FAIL
        out += text.slice(from, at)
        from = at + 1
        at++
        continue
      }
      if (c < 0x20 || c > 0x7e) throw FAIL
    }
    throw FAIL
  }

  #token(): Token {
    const text = this.#text
    const start = this.#at
    let at = start + 1
    while (at < text.length) {
      const c = text.charCodeAt(at)
      if (c >= 128 || TOKEN_CHAR[c] !== 1) break
      at++
    }
    this.#at = at
    return new Token(text.slice(start, at))
  }

  #byteSequence(): Buffer {
    const text = this.#text
    const start = this.#at + 1
    const end = text.indexOf(':', start)
    if (end < 0) throw FAIL
    for (let at = start; at < end; at++) {
      const c = text.charCodeAt(at)
      if (c >= 128 || BASE64_CHAR[c] !== 1) throw FAIL
    }
    this.#at = end + 1
    return Buffer.from(text.slice(start, end), 'base64')
  }

  #boolean(): boolean {
    const c = this.#text.charCodeAt(this.#at + 1)
    if (c !== 48 && c !== 49) throw FAIL
    this.#at += 2
    return c === 49
  }

  #skipSpaces(): void {
    const text = this.#text
    while (text.charCodeAt(this.#at) === 32) this.#at++
  }

  #skipOws(): void {
    const text = this.#text
    for (;;) {
      const c = text.charCodeAt(this.#at)
      if (c !== 32 && c !== 9) return
      this.#at++
    }
  }
}
