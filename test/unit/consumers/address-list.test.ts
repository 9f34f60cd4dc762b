import { describe, expect, it } from 'vitest'
import { parseAddressBlock, parseAddressList } from '../../../src/consumers/address-list.js'
import { AddressRules, AddressRulesPool } from '../../../src/consumers/address-rules.js'

function listOf(...entries: string[]): AddressRules {
  const { blocks, problems } = parseAddressList(entries, 'allow_ips')
  expect(problems).toEqual([])
  return new AddressRulesPool().intern(blocks, [])!
}

function rulesOf(allow: string[], deny: string[]): AddressRules {
  return new AddressRules(
    parseAddressList(allow, 'allow').blocks,
    parseAddressList(deny, 'deny').blocks,
  )
}

describe('AddressRules', () => {
  it('refuses a denied address even inside an allowed block: deny wins', () => {
    const rules = rulesOf(['10.0.0.0/8', '2001:db8::/32'], ['10.1.0.0/16', '2001:db8:1::/48'])
    expect(rules.admits('10.2.0.1')).toBe(true)
    expect(rules.admits('10.1.0.1')).toBe(false)
    expect(rules.admits('::ffff:10.1.0.1')).toBe(false)
    expect(rules.admits('2001:db8:2::1')).toBe(true)
    expect(rules.admits('2001:db8:1::1')).toBe(false)
  })

  it('admits every address outside a deny list when there is no allow list', () => {
    const rules = rulesOf([], ['192.0.2.0/24', '::ffff:198.51.100.0/120'])
    expect(rules.admits('203.0.113.1')).toBe(true)
    expect(rules.admits('2001:db8::1')).toBe(true)
    expect(rules.admits('192.0.2.9')).toBe(false)
    expect(rules.admits('198.51.100.7')).toBe(false)
    expect(rules.admits('::ffff:198.51.100.7')).toBe(false)
  })
})

describe('AddressRules as an allow list', () => {
  describe('IPv4', () => {
    const list = listOf('10.0.0.0/8', '192.0.2.7')

    it('admits addresses inside a block and bare addresses exactly', () => {
      expect(list.admits('10.255.1.2')).toBe(true)
      expect(list.admits('192.0.2.7')).toBe(true)
    })

    it('refuses addresses outside', () => {
      expect(list.admits('11.0.0.1')).toBe(false)
      expect(list.admits('192.0.2.8')).toBe(false)
      expect(list.admits('2001:db8::1')).toBe(false)
    })

    it('takes an IPv4-mapped IPv6 client as its IPv4 address', () => {
      expect(list.admits('::ffff:10.1.2.3')).toBe(true)
      expect(list.admits('::ffff:c000:207')).toBe(true)
      expect(list.admits('::ffff:11.1.2.3')).toBe(false)
    })
  })

  describe('IPv6', () => {
    const list = listOf('2001:db8::/32', '2001:db8:ffff::1/128', 'fe80::1')

    it('admits addresses inside a block in any spelling', () => {
      expect(list.admits('2001:db8::1')).toBe(true)
      expect(list.admits('2001:0DB8:0000:0000:0000:0000:0000:0001')).toBe(true)
      expect(list.admits('fe80::1')).toBe(true)
    })

    it('refuses addresses outside, and IPv4 clients', () => {
      expect(list.admits('2001:db9::1')).toBe(false)
      expect(list.admits('fe80::2')).toBe(false)
      expect(list.admits('10.0.0.1')).toBe(false)
    })
  })

  describe('an IPv4-mapped IPv6 entry', () => {
    it('is the IPv4 block it maps', () => {
      expect(parseAddressBlock('::ffff:10.0.0.0/104')).toEqual({
        family: 'ipv4',
        network: '10.0.0.0',
        prefix: 8,
      })
      const list = listOf('::ffff:10.0.0.0/104')
      expect(list.admits('10.9.9.9')).toBe(true)
      expect(list.admits('::ffff:10.9.9.9')).toBe(true)
      expect(list.admits('11.0.0.1')).toBe(false)
    })
  })

  it('refuses an address the front could not read', () => {
    expect(listOf('0.0.0.0/0').admits('')).toBe(false)
    expect(listOf('::/0').admits('not an address')).toBe(false)
  })
})

describe('parseAddressList', () => {
  it('names each bad entry with its path and a reason', () => {
    const { problems } = parseAddressList(
      ['10.0.0.0/8', 'x', '10.0.0.0/33', '2001:db8::/129', '10.0.0.0/08', 'fe80::1%eth0', '1.2.3'],
      'consumers[0].keys[1].allow_ips',
    )
    expect(problems.map((p) => p.path)).toEqual([
      'consumers[0].keys[1].allow_ips[1]',
      'consumers[0].keys[1].allow_ips[2]',
      'consumers[0].keys[1].allow_ips[3]',
      'consumers[0].keys[1].allow_ips[4]',
      'consumers[0].keys[1].allow_ips[5]',
      'consumers[0].keys[1].allow_ips[6]',
    ])
    expect(problems[0]!.reason).toMatch(/must be an IPv4 or IPv6 address or CIDR block.*"x"/)
    expect(problems[1]!.reason).toMatch(/from 0 to 32 for IPv4/)
    expect(problems[2]!.reason).toMatch(/from 0 to 128 for IPv6/)
  })

  it('clears host bits so a block reads as its network', () => {
    expect(parseAddressBlock('10.1.2.3/8')).toEqual({
      family: 'ipv4',
      network: '10.0.0.0',
      prefix: 8,
    })
    expect(parseAddressBlock('2001:DB8:1:2::5/32')).toEqual({
      family: 'ipv6',
      network: '2001:db8::',
      prefix: 32,
    })
  })
})

describe('AddressRulesPool', () => {
  it('gives equal lists one object, whatever their order and spelling', () => {
    const pool = new AddressRulesPool()
    const a = pool.intern(parseAddressList(['10.0.0.0/8', '2001:db8::/32'], 'a').blocks, [])
    const b = pool.intern(
      parseAddressList(['2001:0db8::/32', '10.1.0.0/8', '10.0.0.0/8', '::ffff:10.0.0.0/104'], 'b')
        .blocks,
      [],
    )
    expect(b).toBe(a)
    expect(a!.allowEntries).toEqual(['10.0.0.0/8', '2001:db8::/32'])
    expect(pool.size).toBe(1)
  })

  it('gives different lists different objects, and no rules for no entries', () => {
    const pool = new AddressRulesPool()
    const blocks = parseAddressList(['10.0.0.0/8'], 'a').blocks
    const a = pool.intern(blocks, [])
    const b = pool.intern(parseAddressList(['10.0.0.0/16'], 'b').blocks, [])
    expect(b).not.toBe(a)
    // The same blocks denied are other rules.
    expect(pool.intern([], blocks)).not.toBe(a)
    expect(pool.intern([], [])).toBeNull()
  })
})
