import { describe, expect, it } from 'vitest'
import { loadNativeAddon } from '../../../src/native/load.js'
import { H1Request, HeadBuilder } from '../../../src/proxy/h1/request.js'

const native = loadNativeAddon<{
  checkFieldSection(head: string, lines: number, start: number, end: number): boolean | undefined
}>('upstream_socket').addon!.checkFieldSection

/** The whole string as the section. */
const check = (section: string, lines: number): boolean | undefined =>
  native(section, lines, 0, section.length)

/** The expression the writer falls back to, with the same line count. */
const FIELD_SECTION = /^(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+: [\t\x20-\x7e\x80-\xff]*\r\n)*$/
function expected(section: string, lines: number): boolean {
  return FIELD_SECTION.test(section) && (section.match(/\n/g) ?? []).length === lines
}

describe('the native field-section check (src/native/upstream_socket.c)', () => {
  it.each([
    ['', 0, true],
    ['host: a\r\n', 1, true],
    ['x-a: \r\nx-b: tab\there\r\n', 2, true],
    ["x!#$%&'*+-.^_`|~09AZaz: v\r\n", 1, true],
    ['x-a: v\r\n', 2, false],
    ['x-a: v\r\nx-injected: 1\r\n', 1, false],
    ['x-a: v\nw\r\n', 1, false],
    ['x-a: v\rw\r\n', 1, false],
    ['x-a: v\u0000\r\n', 1, false],
    ['x-a: v\u0001\r\n', 1, false],
    ['x-a: v\u007f\r\n', 1, false],
    ['x a: v\r\n', 1, false],
    [': v\r\n', 1, false],
    ['x-a:v\r\n', 1, false],
    ['x-a: v', 1, false],
    ['x-a: v\r', 1, false],
  ])('%j with %i lines: %s', (section, lines, valid) => {
    expect(check(section, lines)).toBe(valid)
    expect(expected(section, lines)).toBe(valid)
  })

  it('takes obs-text in values and refuses characters above 0xFF anywhere, never cutting them to a byte', () => {
    expect(check('x-a: caf\u00e9\r\n', 1)).toBe(true)
    expect(check('x-\u00e9: v\r\n', 1)).toBe(false)
    expect(check('x-a: \u0141\r\n', 1)).toBe(false)
    expect(check('x-a: \ud800\r\n', 1)).toBe(false)
    // U+010A, U+010D and U+013A end in the bytes of LF, CR and ':'.
    expect(check('x-a: v\u010ax-b: w\u010d\u010a', 1)).toBe(false)
    expect(check('x\u013a v\r\n', 1)).toBe(false)
  })

  it('checks the range of a head it is given, the request line and the empty line left out', () => {
    const head = 'GET /a HTTP/1.1\r\nhost: a\r\nx-b: c\r\n\r\n'
    const start = head.indexOf('\n') + 1
    expect(native(head, 2, start, head.length - 2)).toBe(true)
    expect(native(head, 2, start, head.length)).toBe(false)
    expect(native(head, 3, 0, head.length - 2)).toBe(false)
    expect(native(head, 2, start, head.length + 1)).toBeUndefined()
    expect(native(head, 2, start + 1, start)).toBeUndefined()
  })

  it('leaves heads over 8192 characters to the expression', () => {
    expect(check(`x-a: ${'v'.repeat(8185)}\r\n`, 1)).toBe(true)
    expect(check(`x-a: ${'v'.repeat(8186)}\r\n`, 1)).toBeUndefined()
  })

  it('agrees with the expression on random sections', () => {
    const alphabet = ['a', 'Z', '-', ':', ' ', '\t', '\r', '\n', '\u0000', '\u007f', '"', '~', '(']
    alphabet.push('\u0080', '\u00ff', '\u0100', '\u010a', '\u2028', '\ud83d')
    let seed = 7
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    for (let round = 0; round < 5000; round++) {
      let section = ''
      let lines = 0
      for (let l = next(4); l > 0; l--) {
        let name = ''
        for (let k = 1 + next(4); k > 0; k--) name += alphabet[next(4)]
        let value = ''
        for (let k = next(8); k > 0; k--) value += alphabet[next(alphabet.length)]
        section += `${name}: ${value}\r\n`
        lines++
      }
      const claimed = lines + next(2) - next(2)
      expect(check(section, claimed), JSON.stringify(section)).toBe(expected(section, claimed))
    }
  })
})

describe.each([
  ['src/native', native],
  ['the expression', null],
])(
  'the request head (src/proxy/h1/request.ts) checked by %s, reusing the previous lines',
  (_, by) => {
    const handler = {}
    // One pool's builder: each head reuses the lines of the previous one.
    const builder = new HeadBuilder(by)
    const head = (headers: string[]): string =>
      new H1Request({ method: 'GET', path: '/p', headers }, handler, builder, 'up:80', 1000, 1000)
        .head

    it('writes each request its own values, whatever the previous request had at each position', () => {
      expect(head(['x-a', '1', 'x-b', '2'])).toBe(
        'GET /p HTTP/1.1\r\nx-a: 1\r\nx-b: 2\r\nhost: up:80\r\n\r\n',
      )
      expect(head(['x-a', '3', 'x-b', '2'])).toBe(
        'GET /p HTTP/1.1\r\nx-a: 3\r\nx-b: 2\r\nhost: up:80\r\n\r\n',
      )
      expect(head(['x-b', '2'])).toBe('GET /p HTTP/1.1\r\nx-b: 2\r\nhost: up:80\r\n\r\n')
      expect(head(['X-A', '3', 'x-b', ['2'].join('')])).toBe(
        'GET /p HTTP/1.1\r\nX-A: 3\r\nx-b: 2\r\nhost: up:80\r\n\r\n',
      )
    })

    it('still refuses a bad value where the previous request had a good one', () => {
      expect(head(['x-a', 'ok'])).toContain('x-a: ok\r\n')
      expect(() => head(['x-a', 'ok\r\nx-injected: 1'])).toThrow(/invalid x-a header/)
      expect(() => head(['x-a', 'ok\u010a'])).toThrow(/invalid x-a header/)
      expect(head(['x-a', 'ok'])).toContain('x-a: ok\r\n')
    })
  },
)
