import { describe, expect, it } from 'vitest'
import { parseRfc3339 } from '../../../src/keys/time.js'

describe('parseRfc3339', () => {
  it('reads UTC and offset date-times to the millisecond', () => {
    expect(parseRfc3339('2027-01-01T00:00:00Z')).toBe(Date.UTC(2027, 0, 1))
    expect(parseRfc3339('2027-01-01t09:30:00.250+02:00')).toBe(Date.UTC(2027, 0, 1, 7, 30, 0, 250))
    expect(parseRfc3339('2027-01-01T00:00:00-05:30')).toBe(Date.UTC(2027, 0, 1, 5, 30))
  })

  it('counts a leap second as the second before it', () => {
    expect(parseRfc3339('2016-12-31T23:59:60Z')).toBe(Date.UTC(2016, 11, 31, 23, 59, 59))
  })

  it('refuses dates that do not exist and shapes that are not RFC 3339', () => {
    for (const text of [
      '2026-02-29T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T00:00:00',
      '2026-01-01',
      '2026-01-01 00:00:00Z',
      'Jan 1 2026',
    ]) {
      expect(parseRfc3339(text), text).toBeNaN()
    }
    expect(parseRfc3339('2024-02-29T00:00:00Z')).toBe(Date.UTC(2024, 1, 29))
  })

  it('reads years before 100 as written', () => {
    expect(new Date(parseRfc3339('0050-06-01T00:00:00Z')).getUTCFullYear()).toBe(50)
  })
})
