import { crc32 } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import {
  CHECKSUM_LENGTH,
  generateApiKey,
  isApiKeyPrefix,
  isWellFormedApiKey,
  keyDisplay,
  RANDOM_LENGTH,
} from '../../../src/keys/format.js'

const PREFIXES = ['pc_live', 'pc_test']
const BASE62 = /^[0-9A-Za-z]+$/

/** Replaces the character at `index` by another base62 character. */
function withTypo(key: string, index: number): string {
  const replacement = key[index] === 'a' ? 'b' : 'a'
  return key.slice(0, index) + replacement + key.slice(index + 1)
}

describe('API key format', () => {
  describe('generateApiKey', () => {
    it('builds <prefix>_<30 base62>_<6 base62>', () => {
      const key = generateApiKey('pc_live')
      expect(key.startsWith('pc_live_')).toBe(true)
      const [random, checksum] = key.slice('pc_live_'.length).split('_')
      expect(random).toHaveLength(RANDOM_LENGTH)
      expect(checksum).toHaveLength(CHECKSUM_LENGTH)
      expect(random).toMatch(BASE62)
      expect(checksum).toMatch(BASE62)
    })

    it('carries at least 160 random bits', () => {
      expect(RANDOM_LENGTH * Math.log2(62)).toBeGreaterThanOrEqual(160)
    })

    it('draws every base62 character and never repeats a key', () => {
      const seen = new Set<string>()
      const characters = new Set<string>()
      for (let i = 0; i < 500; i++) {
        const key = generateApiKey('pc')
        seen.add(key)
        for (const c of key.slice(3, 3 + RANDOM_LENGTH)) characters.add(c)
      }
      expect(seen.size).toBe(500)
      // 15,000 draws over 62 characters: each appears with near certainty when none is skipped.
      expect(characters.size).toBe(62)
    })

    it('ends with the CRC32 of the rest, zero-padded in base62', () => {
      const key = generateApiKey('pc_live')
      const body = key.slice(0, -CHECKSUM_LENGTH - 1)
      let value = 0
      for (const c of key.slice(-CHECKSUM_LENGTH)) {
        value =
          value * 62 + '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'.indexOf(c)
      }
      expect(value).toBe(crc32(body))
    })

    it('refuses a prefix outside the rule', () => {
      for (const prefix of ['', 'PC', '1pc', 'pc-live', 'pc_live_x', 'a'.repeat(17), 'pc_']) {
        expect(() => generateApiKey(prefix), prefix).toThrow(/prefix/)
      }
    })
  })

  describe('isApiKeyPrefix', () => {
    it('takes a lowercase tag with at most one "_" part', () => {
      expect(['pc', 'pc_live', 'a', 'acme2_test9', 'a'.repeat(16)].every(isApiKeyPrefix)).toBe(true)
      expect(['Pc', 'pc__live', 'pc_live_x', '_pc', 'p c'].some(isApiKeyPrefix)).toBe(false)
    })
  })

  describe('isWellFormedApiKey', () => {
    const key = generateApiKey('pc_live')

    it('accepts a generated key under a known prefix', () => {
      expect(isWellFormedApiKey(key, PREFIXES)).toBe(true)
      expect(isWellFormedApiKey(generateApiKey('pc_test'), PREFIXES)).toBe(true)
    })

    it('refuses a key under a prefix not configured', () => {
      expect(isWellFormedApiKey(key, ['pc_test'])).toBe(false)
      expect(isWellFormedApiKey(generateApiKey('pc'), PREFIXES)).toBe(false)
    })

    it('refuses any one-character typo, in the random part or the checksum', () => {
      for (let i = 'pc_live_'.length; i < key.length; i++) {
        if (key[i] === '_') continue
        expect(isWellFormedApiKey(withTypo(key, i), PREFIXES), `typo at ${i}`).toBe(false)
      }
    })

    it('refuses two swapped neighbours', () => {
      const i = 'pc_live_'.length + 3
      const swapped = key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2)
      if (swapped !== key) expect(isWellFormedApiKey(swapped, PREFIXES)).toBe(false)
    })

    it('refuses a truncated or extended key', () => {
      expect(isWellFormedApiKey(key.slice(0, -1), PREFIXES)).toBe(false)
      expect(isWellFormedApiKey(key.slice(1), PREFIXES)).toBe(false)
      expect(isWellFormedApiKey(`${key}0`, PREFIXES)).toBe(false)
      expect(isWellFormedApiKey('', PREFIXES)).toBe(false)
    })

    it('refuses characters outside base62 and misplaced separators', () => {
      const at = 'pc_live_'.length + 5
      for (const c of ['-', '_', '+', '/', ' ', 'é', '\u0000']) {
        expect(isWellFormedApiKey(key.slice(0, at) + c + key.slice(at + 1), PREFIXES), c).toBe(
          false,
        )
      }
      const separator = key.length - CHECKSUM_LENGTH - 1
      expect(isWellFormedApiKey(withTypo(key, separator), PREFIXES)).toBe(false)
      expect(isWellFormedApiKey(withTypo(key, 'pc_live'.length), PREFIXES)).toBe(false)
    })

    it('accepts a checksum that needs its zero padding', () => {
      // Search for a body whose CRC32 is below 62^5, so its checksum starts with "0".
      let found = ''
      for (let i = 0; found === '' && i < 100_000; i++) {
        const body = `pc_live_${i.toString().padStart(RANDOM_LENGTH, '0')}`
        const crc = crc32(body)
        if (crc < 62 ** 5) {
          let text = ''
          for (let n = crc, d = 0; d < CHECKSUM_LENGTH; d++, n = Math.floor(n / 62)) {
            text = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'[n % 62] + text
          }
          found = `${body}_${text}`
        }
      }
      expect(found[found.length - CHECKSUM_LENGTH]).toBe('0')
      expect(isWellFormedApiKey(found, PREFIXES)).toBe(true)
    })
  })

  describe('keyDisplay', () => {
    it('gives the prefix and the last four characters', () => {
      const key = generateApiKey('pc_live')
      expect(keyDisplay(key)).toEqual({ prefix: 'pc_live', last4: key.slice(-4) })
      expect(keyDisplay(generateApiKey('pc_test')).prefix).toBe('pc_test')
    })
  })
})
