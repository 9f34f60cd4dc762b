/**
 * net/proxy-protocol.ts against HAProxy's proxy-protocol.txt: v1 lines and v2 headers, LOCAL and
 * UNKNOWN, TLVs skipped, headers split at every byte, and what is refused.
 */
import { describe, expect, it } from 'vitest'
import {
  parseProxyHeader,
  PROXY_V1_MAX_BYTES,
  PROXY_V2_MAX_BYTES,
} from '../../../src/net/proxy-protocol.js'
import { proxyV1, proxyV2, V2_SIGNATURE } from '../../helpers/proxy-protocol.js'

const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1')

function complete(data: Buffer) {
  const header = parseProxyHeader(data)
  if (header.state !== 'complete') throw new Error(`not complete: ${JSON.stringify(header)}`)
  return header
}

function reason(data: Buffer): string {
  const header = parseProxyHeader(data)
  if (header.state !== 'invalid') throw new Error(`not invalid: ${JSON.stringify(header)}`)
  return header.reason
}

describe('PROXY protocol v1', () => {
  it('reads the TCP4 source and the header length, leaving the request after it', () => {
    const header = proxyV1('203.0.113.7', '198.51.100.1')
    const parsed = complete(Buffer.concat([header, REQUEST]))
    expect(parsed).toEqual({ state: 'complete', length: header.length, source: '203.0.113.7' })
  })

  it('reads a TCP6 source in RFC 5952 form, and an IPv4-mapped one as IPv4', () => {
    expect(complete(proxyV1('2001:DB8:0:0::5', '2001:db8::1')).source).toBe('2001:db8::5')
    expect(complete(proxyV1('::ffff:203.0.113.7', '::1')).source).toBe('203.0.113.7')
  })

  it('takes UNKNOWN as no address, whatever follows on the line', () => {
    expect(complete(Buffer.from('PROXY UNKNOWN\r\n')).source).toBeNull()
    expect(complete(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n')).source).toBeNull()
  })

  it('waits for more at every split of the header', () => {
    const header = proxyV1('203.0.113.7', '198.51.100.1')
    for (let cut = 0; cut < header.length; cut++) {
      expect(parseProxyHeader(header.subarray(0, cut)).state).toBe('incomplete')
    }
    expect(complete(header).source).toBe('203.0.113.7')
  })

  it.each([
    ['a family other than TCP4, TCP6, UNKNOWN', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['an IPv6 source on a TCP4 line', 'PROXY TCP4 ::1 5.6.7.8 1 2\r\n'],
    ['an IPv4 source on a TCP6 line', 'PROXY TCP6 1.2.3.4 ::1 1 2\r\n'],
    ['a port above 65535', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'],
    ['a port with a leading zero', 'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'],
    ['two spaces', 'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'],
    ['a missing port', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'],
    ['a host name', 'PROXY TCP4 example.com 5.6.7.8 1 2\r\n'],
    ['a bare LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'],
    ['a CR without LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX'],
  ])('refuses %s', (_, line) => {
    expect(reason(Buffer.from(line, 'latin1'))).toMatch(/PROXY v1/)
  })

  it(`refuses a line without CRLF within ${PROXY_V1_MAX_BYTES} bytes`, () => {
    const long = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(200)}`, 'latin1')
    expect(reason(long)).toMatch(/no CRLF/)
    expect(parseProxyHeader(long.subarray(0, PROXY_V1_MAX_BYTES - 1)).state).toBe('incomplete')
  })
})

describe('PROXY protocol v2', () => {
  it('reads a TCP/IPv4 source, skipping TLVs', () => {
    const tlvs = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63])
    const header = proxyV2({ source: '203.0.113.7', tlvs })
    const parsed = complete(Buffer.concat([header, REQUEST]))
    expect(parsed).toEqual({ state: 'complete', length: header.length, source: '203.0.113.7' })
  })

  it('reads a TCP/IPv6 source, and an IPv4-mapped one as IPv4', () => {
    expect(complete(proxyV2({ source: '2001:db8::5' })).source).toBe('2001:db8::5')
    expect(complete(proxyV2({ source: '::ffff:cb00:7107' })).source).toBe('203.0.113.7')
  })

  it('takes LOCAL, UNSPEC, UNIX and UDP as no address', () => {
    expect(complete(proxyV2({ command: 0 })).source).toBeNull()
    expect(complete(proxyV2({ command: 0, source: '203.0.113.7' })).source).toBeNull()
    expect(complete(proxyV2({ command: 1 })).source).toBeNull()
    expect(complete(proxyV2({ source: '203.0.113.7', familyByte: 0x12 })).source).toBeNull()
    const unix = Buffer.concat([proxyV2({ familyByte: 0x31, length: 216 }), Buffer.alloc(216)])
    expect(complete(unix).source).toBeNull()
  })

  it('waits for more at every split of the header', () => {
    const header = proxyV2({ source: '2001:db8::5', tlvs: Buffer.alloc(20) })
    for (let cut = 0; cut < header.length; cut++) {
      expect(parseProxyHeader(header.subarray(0, cut)).state).toBe('incomplete')
    }
    expect(complete(header).source).toBe('2001:db8::5')
  })

  it('refuses a version other than 2 and a command other than LOCAL or PROXY', () => {
    const header = proxyV2({ source: '203.0.113.7' })
    const version = Buffer.from(header)
    version[12] = 0x11
    expect(reason(version)).toMatch(/version/)
    const command = Buffer.from(header)
    command[12] = 0x22
    expect(reason(command)).toMatch(/command/)
  })

  it('refuses unknown families and transports, and addresses cut short by the length', () => {
    expect(reason(proxyV2({ source: '203.0.113.7', familyByte: 0x41 }))).toMatch(/family/)
    expect(reason(proxyV2({ source: '203.0.113.7', familyByte: 0x13 }))).toMatch(/transport/)
    const short = proxyV2({ source: '203.0.113.7', length: 8 })
    expect(reason(short.subarray(0, 24))).toMatch(/shorter/)
  })

  it(`refuses a header longer than ${PROXY_V2_MAX_BYTES} bytes before it arrives`, () => {
    const header = proxyV2({ source: '203.0.113.7', length: 60_000 })
    expect(reason(header.subarray(0, 16))).toMatch(/more than/)
  })
})

describe('what is not a PROXY header', () => {
  it('refuses an HTTP request at its first differing byte', () => {
    expect(reason(REQUEST)).toMatch(/did not start with a PROXY/)
    expect(reason(Buffer.from('G'))).toMatch(/did not start/)
    expect(reason(Buffer.from('PROXZ'))).toMatch(/did not start/)
  })

  it('waits while the bytes could still be either signature', () => {
    expect(parseProxyHeader(Buffer.from('PROX')).state).toBe('incomplete')
    expect(parseProxyHeader(V2_SIGNATURE.subarray(0, 7)).state).toBe('incomplete')
    expect(parseProxyHeader(Buffer.alloc(0)).state).toBe('incomplete')
  })
})
