/**
 * The one-pass reader of Signature-Input and Signature (src/hmac/signature-input.ts) against the
 * RFC 8941 Dictionary parser it stands in for: on fields generated in and around the common
 * shape (canonical, non-canonical but valid, and broken by one edit), every field the reader
 * accepts parses to the same signature, its text is the Inner List's serialization, and every
 * field the parser refuses is declined by the reader too.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { CommonSignatureInput, readSignature } from '../../../src/hmac/signature-input.js'
import {
  isInnerList,
  parseDictionary,
  serializeInnerList,
  type InnerList,
} from '../../../src/hmac/structured-fields.js'

/** A small seeded generator (mulberry32), so a failure names a reproducible case. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const COMPONENTS = [
  '@method',
  '@path',
  '@query',
  '@target-uri',
  '@authority',
  'content-digest',
  'date',
  'x-a',
  '@query-param',
  'Content-Type',
  'a"b',
  'a\\b',
  'with space',
  '',
]
const LABELS = ['sig1', 'sig-b25', 'a', '*x', 'proxy_sig', 'Sig', '1sig', 'sig.2']
const VALUES = [
  '1618884473',
  '0',
  '-12',
  '007',
  '-0',
  '1234567890123456',
  '123456789012345',
  '1.5',
  '"test-key"',
  '"hmac-sha256"',
  '"a\\"b"',
  '""',
  '"with space"',
  'hmac-sha256',
  '?1',
  ':AQID:',
]
const KEYS = ['created', 'expires', 'keyid', 'alg', 'nonce', 'tag', 'other', 'created']
/** Edits that may break a field (or leave it valid in another form). */
const EDITS = [' ', '  ', ',', ', b=1', ';', '"', '\\', '(', ')', '=', '\t', '\u0001', 'é', ';x']

function pick<T>(next: () => number, items: readonly T[]): T {
  return items[Math.floor(next() * items.length)]!
}

function serialized(value: string): string {
  return '"' + value.replace(/[\\"]/g, '\\$&') + '"'
}

/** A Signature-Input field: mostly the common shape, sometimes not, sometimes broken. */
function signatureInput(next: () => number): string {
  const count = Math.floor(next() * 5)
  const names: string[] = []
  for (let i = 0; i < count; i++)
    names.push(pick(next, COMPONENTS.slice(0, next() < 0.8 ? 6 : COMPONENTS.length)))
  const items = names.map((name) => serialized(name) + (next() < 0.05 ? ';sf' : ''))
  const separator = next() < 0.85 ? ' ' : pick(next, ['  ', '\t', ', '])
  let field =
    pick(next, next() < 0.8 ? LABELS.slice(0, 1) : LABELS) + '=(' + items.join(separator) + ')'
  const params = Math.floor(next() * 5)
  for (let i = 0; i < params; i++) {
    const key = pick(next, next() < 0.8 ? KEYS.slice(0, 4) : KEYS)
    const value =
      next() < 0.8
        ? key === 'created' || key === 'expires'
          ? String(1618884473 + Math.floor(next() * 1000))
          : serialized(key === 'alg' ? 'hmac-sha256' : 'key-' + Math.floor(next() * 3))
        : pick(next, VALUES)
    field += next() < 0.03 ? `;${key}` : `;${key}=${value}`
  }
  if (next() < 0.1) field += ', sig2=("@method");keyid="other"'
  if (next() < 0.25) {
    const at = Math.floor(next() * (field.length + 1))
    field = field.slice(0, at) + pick(next, EDITS) + field.slice(at)
  }
  return field
}

describe('CommonSignatureInput', () => {
  it('reads the RFC 9421 B.2.5 field as the parser does', () => {
    const field =
      'sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"'
    const input = new CommonSignatureInput()
    expect(input.read(field)).toBe(true)
    expect(field.slice(0, input.labelEnd)).toBe('sig-b25')
    expect(field.slice(input.listStart)).toBe(serializeInnerList(only(field, 'sig-b25')))
    expect(input.created).toBe(1618884473)
    expect(input.expires).toBeNull()
    expect(field.slice(input.keyIdStart, input.keyIdEnd)).toBe('test-shared-secret')
    expect(input.algStart).toBe(-1)
  })

  it.each([
    ['a later parameter of the same name', 'sig1=("@method");created=1;keyid="k";created=2'],
    ['a space inside the list', 'sig1=( "@method")'],
    ['two spaces between items', 'sig1=("@method"  "@path");keyid="k"'],
    ['a parameter on a component', 'sig1=("@query-param";name="a");keyid="k"'],
    ['an escaped quote in a String', 'sig1=("@method");keyid="a\\"b"'],
    ['a created with a leading zero', 'sig1=("@method");created=01;keyid="k"'],
    ['a Token alg', 'sig1=("@method");keyid="k";alg=hmac-sha256'],
    ['a parameter RFC 9421 does not define', 'sig1=("@method");keyid="k";x=1'],
    ['two signatures', 'sig1=("@method");keyid="k", sig2=("@path");keyid="k"'],
    ['trailing whitespace', 'sig1=("@method");keyid="k" '],
  ])('declines %s, which the full parser reads', (_, field) => {
    expect(new CommonSignatureInput().read(field)).toBe(false)
  })

  it('agrees with the Dictionary parser on generated fields', () => {
    const next = random(9421)
    const input = new CommonSignatureInput()
    let read = 0
    let declinedValid = 0
    let malformed = 0
    for (let n = 0; n < 20_000; n++) {
      const field = signatureInput(next)
      const parsed = parseDictionary(field)
      if (!input.read(field)) {
        if (parsed === null) malformed++
        else declinedValid++
        continue
      }
      read++
      // Everything read parses, to one signature the reader describes exactly.
      expect(parsed, field).not.toBeNull()
      expect(parsed!.size, field).toBe(1)
      const [label, member] = [...parsed!][0]!
      expect(isInnerList(member), field).toBe(true)
      const list = member as InnerList
      expect(field.slice(0, input.labelEnd), field).toBe(label)
      expect(field.slice(input.listStart), field).toBe(serializeInnerList(list))
      const names = []
      for (let i = 0; i < input.count; i++) names.push(field.slice(input.starts[i], input.ends[i]))
      expect(names, field).toEqual(list.items.map((item) => item.value))
      expect(
        list.items.every((item) => item.params.size === 0),
        field,
      ).toBe(true)
      const params = list.params
      expect(input.created, field).toBe(params.get('created') ?? null)
      expect(input.expires, field).toBe(params.get('expires') ?? null)
      const keyId = input.keyIdStart < 0 ? undefined : field.slice(input.keyIdStart, input.keyIdEnd)
      expect(keyId, field).toBe(params.get('keyid'))
      const alg = input.algStart < 0 ? undefined : field.slice(input.algStart, input.algEnd)
      expect(alg, field).toBe(params.get('alg'))
      for (const component of COMPONENTS) {
        expect(input.covers(component), field).toBe(names.includes(component))
      }
      for (let i = 0; i < input.count; i++) {
        expect(input.repeats(i), field).toBe(names.indexOf(names[i]!) < i)
      }
    }
    // The generator reaches all three outcomes often.
    expect(read).toBeGreaterThan(5_000)
    expect(declinedValid).toBeGreaterThan(1_000)
    expect(malformed).toBeGreaterThan(1_000)
  })
})

describe('readSignature', () => {
  const mac = createHash('sha256').update('a base').digest()

  it('decodes a MAC in canonical base64 and says where its text starts', () => {
    const into = Buffer.alloc(32)
    const field = `sig1=:${mac.toString('base64')}:`
    expect(readSignature(field, 'sig1', into)).toBe(6)
    expect(into).toEqual(mac)
    expect(field.slice(6, -1)).toBe(mac.toString('base64'))
  })

  it.each([
    ['another label', (b64: string) => `sig2=:${b64}:`],
    ['a second member', (b64: string) => `sig1=:${b64}:, sig2=:${b64}:`],
    ['base64 without padding', (b64: string) => `sig1=:${b64.slice(0, -1)}:`],
    ['unused bits set', (b64: string) => `sig1=:${b64.slice(0, 42)}${nonCanonical(b64[42]!)}=:`],
    ['base64url', (b64: string) => `sig1=:${b64.replace(/[+/]/g, '-')}:`],
    ['parameters', (b64: string) => `sig1=:${b64}:;x`],
  ])('declines %s', (_, field) => {
    const b64 = Buffer.alloc(32, 0xfb).toString('base64')
    expect(readSignature(field(b64), 'sig1', Buffer.alloc(32))).toBe(-1)
  })

  it('agrees with the Dictionary parser on generated fields of every MAC length', () => {
    const next = random(4648)
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_:, ;'
    let read = 0
    for (let n = 0; n < 20_000; n++) {
      const bytes = 1 + Math.floor(next() * 40)
      const value = Buffer.alloc(bytes)
      for (let i = 0; i < bytes; i++) value[i] = Math.floor(next() * 256)
      let field = `${next() < 0.9 ? 'sig1' : 'sig2'}=:${value.toString('base64')}:`
      if (next() < 0.5) {
        const at = Math.floor(next() * field.length)
        field =
          field.slice(0, at) + pick(next, [...alphabet]) + field.slice(at + (next() < 0.5 ? 1 : 0))
      }
      const into = Buffer.alloc(next() < 0.9 ? bytes : 32)
      const at = readSignature(field, 'sig1', into)
      if (at < 0) continue
      read++
      const member = parseDictionary(field)?.get('sig1')
      expect(member !== undefined && !isInnerList(member), field).toBe(true)
      const parsed = (member as { value: Buffer }).value
      expect(into, field).toEqual(parsed)
      expect(field.slice(at, -1), field).toBe(parsed.toString('base64'))
    }
    expect(read).toBeGreaterThan(5_000)
  })
})

/** A base64 digit with the same top bits and some of the low two set. */
function nonCanonical(digit: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  return alphabet[alphabet.indexOf(digit) | 1]!
}

function only(field: string, label: string): InnerList {
  const member = parseDictionary(field)!.get(label)!
  if (!isInnerList(member)) throw new Error('not an inner list')
  return member
}
