/**
 * net/trusted-proxies.ts: which peers are trusted, and the client an X-Forwarded-For chain names,
 * read from the right past trusted hops.
 */
import { describe, expect, it } from 'vitest'
import { parseAddressList } from '../../../src/consumers/address-list.js'
import { createAddressRanges } from '../../../src/net/address-ranges.js'
import { MAX_FORWARDED_HOPS, TrustedProxies } from '../../../src/net/trusted-proxies.js'

function proxies(entries: string[]): TrustedProxies {
  return new TrustedProxies(
    createAddressRanges(parseAddressList(entries, 'trusted_proxies').blocks),
  )
}

const TRUSTED = proxies(['10.0.0.0/8', '2001:db8:f::/48', '192.0.2.1'])

function walk(chain: string, peer = '10.0.0.1'): { client: string; chain: string } {
  TRUSTED.walk(peer, chain)
  return {
    client: TRUSTED.client,
    chain: TRUSTED.chainFrom < 0 ? '' : chain.slice(TRUSTED.chainFrom).trim(),
  }
}

describe('trusted proxies', () => {
  it('trusts peers in the blocks, IPv4-mapped ones as IPv4', () => {
    expect(TRUSTED.trusts('10.1.2.3')).toBe(true)
    expect(TRUSTED.trusts('::ffff:10.1.2.3')).toBe(true)
    expect(TRUSTED.trusts('2001:db8:f::9')).toBe(true)
    expect(TRUSTED.trusts('192.0.2.2')).toBe(false)
    expect(TRUSTED.trusts('2001:db8:e::1')).toBe(false)
    expect(TRUSTED.trusts('')).toBe(false)
  })

  it('takes the rightmost entry when it is not a trusted proxy', () => {
    expect(walk('198.51.100.9')).toEqual({ client: '198.51.100.9', chain: '198.51.100.9' })
  })

  it('walks past trusted hops to the first untrusted address', () => {
    expect(walk('6.6.6.6, 198.51.100.9, 10.0.0.2, 192.0.2.1')).toEqual({
      client: '198.51.100.9',
      chain: '198.51.100.9, 10.0.0.2, 192.0.2.1',
    })
  })

  it('ignores what the client wrote left of the first untrusted hop, even trusted addresses', () => {
    expect(walk('10.9.9.9, 198.51.100.9').client).toBe('198.51.100.9')
  })

  it('takes the leftmost entry when every hop is trusted', () => {
    expect(walk('10.0.0.3, 10.0.0.2').client).toBe('10.0.0.3')
  })

  it('reads several lines as one list, skipping empty elements', () => {
    expect(walk('198.51.100.9, , 10.0.0.2,').client).toBe('198.51.100.9')
  })

  it('writes IPv6 in RFC 5952 form and IPv4-mapped entries as IPv4', () => {
    expect(walk('2001:DB8:0:0:0:0:0:5').client).toBe('2001:db8::5')
    expect(walk('::ffff:198.51.100.9').client).toBe('198.51.100.9')
    expect(walk('198.51.100.9, 2001:db8:f::1').client).toBe('198.51.100.9')
  })

  it('reads bracketed IPv6 entries and ports', () => {
    expect(walk('[2001:db8::5]:4711').client).toBe('2001:db8::5')
    expect(walk('[2001:db8::5]').client).toBe('2001:db8::5')
    expect(walk('198.51.100.9:4711').client).toBe('198.51.100.9')
  })

  it('stops at a malformed entry: the trusted hop that wrote it is the client', () => {
    expect(walk('198.51.100.9, unknown, 10.0.0.2')).toEqual({
      client: '10.0.0.2',
      chain: '10.0.0.2',
    })
    expect(walk('garbage')).toEqual({ client: '10.0.0.1', chain: '' })
    expect(walk('198.51.100.9:99999').client).toBe('10.0.0.1')
    expect(walk('[2001:db8::5').client).toBe('10.0.0.1')
  })

  it(`walks at most ${MAX_FORWARDED_HOPS} entries`, () => {
    const hops = Array.from({ length: 100 }, (_, i) => `10.0.${i >> 8}.${i & 255}`)
    const result = walk(['198.51.100.9', ...hops].join(', '))
    expect(result.client).toBe(hops[100 - MAX_FORWARDED_HOPS])
  })
})
