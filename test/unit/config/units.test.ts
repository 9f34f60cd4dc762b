import { describe, expect, it } from 'vitest'
import { parseDuration, parseSize } from '../../../src/config/units.js'

describe('parseDuration', () => {
  describe('with each unit', () => {
    it.each([
      ['250ms', 250],
      ['60s', 60_000],
      ['15m', 900_000],
      ['1h', 3_600_000],
      ['1d', 86_400_000],
      ['0s', 0],
    ])('reads %s as %i milliseconds', (text, ms) => {
      expect(parseDuration(text)).toBe(ms)
    })
  })

  describe('with a decimal', () => {
    it('reads 1.5s as 1500 milliseconds', () => {
      expect(parseDuration('1.5s')).toBe(1500)
    })

    it('reads 0.1s as exactly 100 milliseconds, without floating-point drift', () => {
      expect(parseDuration('0.1s')).toBe(100)
      expect(parseDuration('0.3s')).toBe(300)
    })

    it('rounds to the nearest whole millisecond, halves up', () => {
      expect(parseDuration('1.0004s')).toBe(1000)
      expect(parseDuration('1.0005s')).toBe(1001)
      expect(parseDuration('0.4ms')).toBe(0)
      expect(parseDuration('2.5ms')).toBe(3)
    })
  })

  describe('with text that is not a duration', () => {
    it.each(['6o s', '60', '60 s', '1.s', '.5s', '-1s', '1w', '1S', '', ' 1s'])(
      'throws a plain Error naming %j',
      (text) => {
        expect(() => parseDuration(text)).toThrow(Error)
        expect(() => parseDuration(text)).toThrow(
          `${JSON.stringify(text)} is not a duration such as 250ms, 60s, 15m, 1h`,
        )
      },
    )

    it('throws a plain Error, not a RangeError', () => {
      let thrown: unknown
      try {
        parseDuration('x')
      } catch (error) {
        thrown = error
      }
      expect(thrown).toBeInstanceOf(Error)
      expect(thrown).not.toBeInstanceOf(RangeError)
    })
  })

  describe('with a duration beyond Number.MAX_SAFE_INTEGER milliseconds', () => {
    it('throws a RangeError', () => {
      expect(() => parseDuration('9007199254740992ms')).toThrow(RangeError)
      expect(() => parseDuration(`${'9'.repeat(400)}d`)).toThrow(RangeError)
    })

    it('accepts exactly Number.MAX_SAFE_INTEGER milliseconds', () => {
      expect(parseDuration('9007199254740991ms')).toBe(Number.MAX_SAFE_INTEGER)
    })
  })
})

describe('parseSize', () => {
  describe('with a number of bytes', () => {
    it('returns it unchanged', () => {
      expect(parseSize(1_048_576)).toBe(1_048_576)
      expect(parseSize(0)).toBe(0)
    })

    it('rounds a fraction to a whole byte', () => {
      expect(parseSize(1.5)).toBe(2)
      expect(parseSize(1.4)).toBe(1)
    })

    it.each([Infinity, -Infinity, NaN, -1, 2 ** 53])('throws a RangeError for %d', (value) => {
      expect(() => parseSize(value)).toThrow(RangeError)
    })
  })

  describe('with bytes as a unit', () => {
    it('reads 512B and 512b as 512 bytes', () => {
      expect(parseSize('512B')).toBe(512)
      expect(parseSize('512b')).toBe(512)
    })
  })

  describe('with a lowercase unit', () => {
    it('reads 1kb as 2^10 bytes', () => {
      expect(parseSize('1kb')).toBe(1024)
    })

    it('reads 1mb as 2^20 bytes', () => {
      expect(parseSize('1mb')).toBe(1_048_576)
    })

    it('reads 1gb as 2^30 bytes', () => {
      expect(parseSize('1gb')).toBe(1_073_741_824)
    })
  })

  describe('with a decimal (SI) unit', () => {
    it('reads 1kB and 1KB as 1000 bytes', () => {
      expect(parseSize('1kB')).toBe(1000)
      expect(parseSize('1KB')).toBe(1000)
    })

    it('reads 1MB as 10^6 bytes', () => {
      expect(parseSize('1MB')).toBe(1_000_000)
    })

    it('reads 1GB as 10^9 bytes', () => {
      expect(parseSize('1GB')).toBe(1_000_000_000)
    })
  })

  describe('with a binary (IEC) unit', () => {
    it('reads 512KiB as 2^19 bytes', () => {
      expect(parseSize('512KiB')).toBe(524_288)
    })

    it('reads 1MiB as 2^20 bytes', () => {
      expect(parseSize('1MiB')).toBe(1_048_576)
    })

    it('reads 1GiB as 2^30 bytes', () => {
      expect(parseSize('1GiB')).toBe(1_073_741_824)
    })
  })

  describe('with a space between number and unit', () => {
    it('reads 1 MiB like 1MiB', () => {
      expect(parseSize('1 MiB')).toBe(1_048_576)
    })
  })

  describe('with a decimal number', () => {
    it('reads 1.5KiB as 1536 bytes', () => {
      expect(parseSize('1.5KiB')).toBe(1536)
    })

    it('reads 1.1GB as exactly 1100000000 bytes', () => {
      expect(parseSize('1.1GB')).toBe(1_100_000_000)
    })

    it('rounds to the nearest whole byte', () => {
      expect(parseSize('0.5B')).toBe(1)
      expect(parseSize('0.0001KB')).toBe(0)
    })
  })

  describe('with text that is not a size', () => {
    it.each(['1 zb', '1TB', '1 MiB ', 'MiB', '1,5MiB', '-1MiB', '1  MiB', '1mib', ''])(
      'throws a plain Error naming %j',
      (text) => {
        expect(() => parseSize(text)).toThrow(
          `${JSON.stringify(text)} is not a size in bytes or with a unit such as 1048576, 512KiB, 1MiB, 1MB`,
        )
      },
    )

    it('does not accept a string of plain digits (the schema takes bytes as a number)', () => {
      expect(() => parseSize('1024')).toThrow(Error)
    })
  })

  describe('with a size beyond Number.MAX_SAFE_INTEGER bytes', () => {
    it('throws a RangeError', () => {
      expect(() => parseSize('9999999GB')).toThrow(RangeError)
      expect(() => parseSize('8388608GiB')).toThrow(RangeError)
    })

    it('accepts the largest safe number of bytes', () => {
      expect(parseSize('9007199254740991B')).toBe(Number.MAX_SAFE_INTEGER)
    })
  })
})
