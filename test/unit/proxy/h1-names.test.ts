import { describe, expect, it } from 'vitest'
import { isFieldValue } from '../../../src/proxy/h1/names.js'

describe('isFieldValue (RFC 9110 §5.5)', () => {
  it('accepts exactly HTAB, SP, VCHAR and obs-text, at any position of a long value', () => {
    const token = 'Bearer ' + 'a'.repeat(600)
    for (let c = 0; c <= 0xffff; c++) {
      const allowed = c === 9 || (c >= 0x20 && c <= 0x7e) || (c >= 0x80 && c <= 0xff)
      const ch = String.fromCharCode(c)
      expect(isFieldValue(ch), `U+${c.toString(16)}`).toBe(allowed)
      if (c < 0x100 || c % 251 === 0) {
        expect(isFieldValue(token + ch + token)).toBe(allowed)
      }
    }
  })

  it('accepts an empty value and refuses a lone surrogate', () => {
    expect(isFieldValue('')).toBe(true)
    expect(isFieldValue('x\ud800y')).toBe(false)
  })
})
