/**
 * RFC 8941 Dictionaries as Signature-Input, Signature and Content-Digest carry them: what parses,
 * what fails the whole field, and the canonical serialization RFC 9421 signs.
 */
import { describe, expect, it } from 'vitest'
import {
  Decimal,
  isInnerList,
  parseDictionary,
  serializeInnerList,
  Token,
  type InnerList,
} from '../../../src/hmac/structured-fields.js'

function innerList(field: string, key: string): InnerList {
  const member = parseDictionary(field)!.get(key)!
  if (!isInnerList(member)) throw new Error('not an inner list')
  return member
}

describe('parseDictionary', () => {
  it('parses inner lists with parameters of every bare item type', () => {
    const list = innerList(
      'sig1=("@method" "x-a";sf);created=1618884473;keyid="k\\"1";alg=tok/en;f=?0;d=1.50;b=:AQID:',
      'sig1',
    )
    expect(list.items.map((item) => item.value)).toEqual(['@method', 'x-a'])
    expect(list.items[1]!.params.get('sf')).toBe(true)
    const params = list.params
    expect(params.get('created')).toBe(1618884473)
    expect(params.get('keyid')).toBe('k"1')
    expect(params.get('alg')).toEqual(new Token('tok/en'))
    expect(params.get('f')).toBe(false)
    expect(params.get('d')).toEqual(new Decimal(1.5))
    expect(params.get('b')).toEqual(Buffer.from([1, 2, 3]))
  })

  it('reads members across list separators with optional whitespace, the last of a name winning', () => {
    const members = parseDictionary('a=:AA==:,  b=("x") ,\tc, a=?1')!
    expect([...members.keys()]).toEqual(['a', 'b', 'c'])
    expect(members.get('a')).toEqual({ value: true, params: new Map() })
    expect(members.get('c')).toEqual({ value: true, params: new Map() })
  })

  it('fails the whole field on any breach of the grammar', () => {
    for (const field of [
      'Sig=("a")', // keys are lower case
      'sig=("a"', // unterminated inner list
      'sig=("a")x', // junk after a member
      'sig=("a"),', // trailing comma
      'sig=:not base64!:', // byte sequence alphabet
      'sig="\\x"', // escape of a character that needs none
      'sig="a\u0001"', // control character in a string
      'sig=1234567890123456', // 16-digit integer
      'sig=1.2345', // 4 fractional digits
      'sig=?2',
    ]) {
      expect(parseDictionary(field), field).toBeNull()
    }
  })

  it('parses an empty field as an empty dictionary', () => {
    expect(parseDictionary('')!.size).toBe(0)
  })
})

describe('serializeInnerList', () => {
  it('writes the canonical form whatever spacing the client used', () => {
    const list = innerList('s=(  "@method"   "@path" );created=1;keyid="a\\\\b";x;d=2.0', 's')
    expect(serializeInnerList(list)).toBe('("@method" "@path");created=1;keyid="a\\\\b";x;d=2.0')
  })
})
