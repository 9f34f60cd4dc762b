import { describe, expect, it } from 'vitest'
import {
  findDuplicateKey,
  isJsonMediaType,
  withinDepth,
} from '../../../src/stages/validate/json-body.js'

describe('isJsonMediaType', () => {
  it.each([
    'application/json',
    'Application/JSON',
    'application/json; charset=utf-8',
    'application/json;charset="UTF-8"',
    'application/problem+json',
    'application/vnd.api+json; ext=x',
  ])('takes %s', (type) => expect(isJsonMediaType(type)).toBe(true))

  it.each([
    'text/plain',
    'application/jsonp',
    'application/+json',
    'text/json+xml',
    'application/json; charset=latin1',
    'json',
    '',
  ])('refuses %s', (type) => expect(isJsonMediaType(type)).toBe(false))
})

describe('withinDepth', () => {
  const nest = (n: number) => Buffer.from('['.repeat(n) + ']'.repeat(n))
  it('counts arrays and objects', () => {
    expect(withinDepth(nest(64), 64)).toBe(true)
    expect(withinDepth(nest(65), 64)).toBe(false)
    expect(withinDepth(Buffer.from('{"a":{"b":[1]}}'), 3)).toBe(true)
    expect(withinDepth(Buffer.from('{"a":{"b":[1]}}'), 2)).toBe(false)
  })

  it('ignores brackets in strings, escaped quotes included', () => {
    expect(withinDepth(Buffer.from('["[[[[\\"[[[[", "{{{{"]'), 1)).toBe(true)
  })

  it('bounds a body far deeper than the stack could parse', () => {
    expect(withinDepth(nest(1_000_000), 64)).toBe(false)
  })
})

describe('findDuplicateKey', () => {
  const find = (text: string) => findDuplicateKey(Buffer.from(text))
  it('finds a key named twice, at any depth, by its pointer', () => {
    expect(find('{"a":1,"a":2}')).toBe('/a')
    expect(find('{"x":[{"b":1},{"b":1,"c":{"d":1, "d" :2}}]}')).toBe('/x/1/c/d')
  })

  it('compares keys decoded', () => {
    expect(find('{"id":1,"i\\u0064":2}')).toBe('/id')
    expect(find('{"é":1,"\\u00e9":2}')).toBe('/é')
  })

  it('escapes the pointer (RFC 6901)', () => {
    expect(find('{"a/b":{"~":1,"~":2}}')).toBe('/a~1b/~0')
  })

  it('lets the same key stand in different objects, and strings that look like keys', () => {
    expect(find('{"a":{"k":1},"b":{"k":1},"c":["k","k"],"d":"\\"k\\":"}')).toBeNull()
  })
})
