/**
 * net/address-reader.ts reads every text form node:net accepts as an address, and nothing else.
 */
import { isIP } from 'node:net'
import { describe, expect, it } from 'vitest'
import { AddressReader } from '../../../src/net/address-reader.js'

const reader = new AddressReader()

function words(address: string): number[] {
  const family = reader.read(address)
  return family === 4 ? [reader.ipv4] : family === 6 ? [...reader.ipv6] : []
}

const VALID = [
  '0.0.0.0',
  '255.255.255.255',
  '192.0.2.7',
  '::',
  '::1',
  '1::',
  '1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7::',
  '::2:3:4:5:6:7:8',
  '2001:DB8::a:B',
  '2001:db8:0:0:1:0:0:1',
  '::ffff:1.2.3.4',
  '::1.2.3.4',
  '64:ff9b::192.0.2.33',
  '1:2:3:4:5:6:1.2.3.4',
]

const INVALID = [
  '',
  'localhost',
  '1.2.3',
  '1.2.3.4.5',
  '256.1.1.1',
  '01.2.3.4',
  '1.2.3.4 ',
  ':',
  ':::',
  ':1::',
  '1::2::3',
  '1:2:3:4:5:6:7:8:9',
  '1:2:3:4:5:6:7:8::',
  '1:2:3:4:5:6:7',
  '12345::',
  '1:',
  'g::',
  '::1.2.3',
  '1:2:3:4:5:6:7:1.2.3.4',
]

describe('AddressReader', () => {
  it('reads what node:net takes for an address and refuses what it does not', () => {
    for (const text of [...VALID, ...INVALID]) {
      // A mapped address reads as IPv4, so compare whether each is an address at all.
      expect([text, reader.read(text) !== 0]).toEqual([text, isIP(text) !== 0])
    }
  })

  it('refuses an address with a zone, which names no one place', () => {
    expect(reader.read('fe80::1%eth0')).toBe(0)
  })

  it('reads IPv4 as one unsigned number', () => {
    expect(words('255.255.255.255')).toEqual([0xffffffff])
    expect(words('192.0.2.7')).toEqual([0xc0000207])
  })

  it('reads IPv6 as four words, most significant first, with :: expanded', () => {
    expect(words('2001:db8::1')).toEqual([0x20010db8, 0, 0, 1])
    expect(words('1::')).toEqual([0x10000, 0, 0, 0])
    expect(words('::2:3:4:5:6:7:8')).toEqual([0x2, 0x30004, 0x50006, 0x70008])
    expect(words('64:ff9b::192.0.2.33')).toEqual([0x64ff9b, 0, 0, 0xc0000221])
  })

  it('reads an IPv4-mapped IPv6 address as its IPv4 address', () => {
    expect(reader.read('::ffff:192.0.2.7')).toBe(4)
    expect(reader.ipv4).toBe(0xc0000207)
    expect(words('0:0:0:0:0:FFFF:c000:0207')).toEqual([0xc0000207])
  })
})
