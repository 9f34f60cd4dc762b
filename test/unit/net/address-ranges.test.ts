/**
 * net/address-ranges.ts: blocks become sorted, merged ranges, and a lookup finds the one range
 * that can hold an address.
 */
import { describe, expect, it } from 'vitest'
import { parseAddressBlock, type AddressBlock } from '../../../src/consumers/address-list.js'
import { AddressReader } from '../../../src/net/address-reader.js'
import { createAddressRanges } from '../../../src/net/address-ranges.js'

function blocks(entries: string[]): AddressBlock[] {
  return entries.map((entry) => {
    const block = parseAddressBlock(entry)
    if (typeof block === 'string') throw new Error(block)
    return block
  })
}

function lookup(entries: string[]) {
  const ranges = createAddressRanges(blocks(entries))
  const reader = new AddressReader()
  return {
    ranges,
    has: (address: string) => {
      reader.read(address)
      return ranges.includes(reader)
    },
  }
}

describe('address ranges', () => {
  it('merges overlapping blocks into one range', () => {
    const { ranges, has } = lookup([
      '10.0.0.0/8',
      '10.1.0.0/16',
      '10.1.2.3',
      '2001:db8::/32',
      '2001:db8:1::/48',
    ])
    expect(ranges.rangeCount).toBe(2)
    expect([has('10.0.0.0'), has('10.1.2.3'), has('10.255.255.255'), has('11.0.0.0')]).toEqual([
      true,
      true,
      true,
      false,
    ])
    expect([has('2001:db8:1::1'), has('2001:db9::')]).toEqual([true, false])
  })

  it('merges adjacent blocks, and keeps blocks with a gap apart', () => {
    expect(lookup(['10.0.0.0/9', '10.128.0.0/9']).ranges.rangeCount).toBe(1)
    expect(lookup(['10.0.0.0/9', '10.128.0.1']).ranges.rangeCount).toBe(2)
    expect(lookup(['2001:db8::/33', '2001:db8:8000::/33']).ranges.rangeCount).toBe(1)
    // Adjacent across a 32-bit word: the block after ::/64 starts at 0:0:0:1::.
    expect(lookup(['0:0:0:1::/64', '::/64']).ranges.rangeCount).toBe(1)
    expect(lookup(['0:0:0:1::1/128', '::/64']).ranges.rangeCount).toBe(2)
    expect(lookup(['2001:db8::ffff:ffff', '2001:db8::1:0:0']).ranges.rangeCount).toBe(1)
    expect(lookup(['2001:db8::ffff:ffff', '2001:db8::1:0:1']).ranges.rangeCount).toBe(2)
    const { ranges, has } = lookup(['192.0.2.0/25', '192.0.2.128/25', '192.0.3.0/24'])
    expect(ranges.rangeCount).toBe(1)
    expect([has('192.0.1.255'), has('192.0.2.0'), has('192.0.3.255'), has('192.0.4.0')]).toEqual([
      false,
      true,
      true,
      false,
    ])
  })

  it('merges a block into /0 and the last address into the block before it', () => {
    expect(lookup(['0.0.0.0/0', '10.0.0.0/8', '255.255.255.255']).ranges.rangeCount).toBe(1)
    expect(lookup(['255.255.255.254/32', '255.255.255.255']).ranges.rangeCount).toBe(1)
    expect(lookup(['::/0', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']).ranges.rangeCount).toBe(1)
  })

  it('finds addresses between, before and after many ranges', () => {
    const entries = Array.from({ length: 200 }, (_, i) => `10.${i}.0.0/24`).reverse()
    const { ranges, has } = lookup(entries)
    expect(ranges.rangeCount).toBe(200)
    for (let i = 0; i < 200; i++) {
      expect(has(`10.${i}.0.0`)).toBe(true)
      expect(has(`10.${i}.0.255`)).toBe(true)
      expect(has(`10.${i}.1.0`)).toBe(false)
    }
    expect(has('9.255.255.255')).toBe(false)
    expect(has('10.200.0.0')).toBe(false)
  })

  it('holds no address when it has no blocks', () => {
    const { ranges, has } = lookup([])
    expect(ranges.rangeCount).toBe(0)
    expect([has('0.0.0.0'), has('::')]).toEqual([false, false])
  })
})
