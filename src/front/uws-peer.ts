/**
 * The client's address on the uws front, as text: IPv4 dotted, IPv6 in RFC 5952's form (as the
 * node front gives them), an IPv4-mapped IPv6 peer of a dual-stack listener as IPv4.
 *
 * uWS 20.30 gives an HTTP handler no connection identity to remember the address by, so every
 * request asks; through src/native/uws_direct.cc when it is bound (uws-direct.ts), since
 * res.getRemoteAddress() makes a new ArrayBuffer per call.
 */
import type { HttpResponse } from 'uWebSockets.js'
import { ipv6Text } from '../net/address-text.js'
import type { UwsDirect } from './uws-direct.js'

export { ipv6Text }

/** The client's address, through the front's `direct` module while it is bound. */
export function peerAddress(res: HttpResponse, direct: UwsDirect): string {
  const addon = direct.addon
  if (addon !== null) {
    const value = addon.address(res)
    const text = typeof value === 'string' ? value : value >= 0 ? ipv4Text(value) : ''
    if (text !== '') return direct.addressChecked ? text : checkedAgainstUws(res, text, direct)
  }
  return uwsPeerAddress(res)
}

function checkedAgainstUws(res: HttpResponse, text: string, direct: UwsDirect): string {
  direct.addressChecked = true
  const expected = uwsPeerAddress(res)
  if (text === expected) return text
  direct.drop(`src/native uws_direct read the client address ${text} where uWS reads ${expected}`)
  return expected
}

/** The address from uWS's own call. */
export function uwsPeerAddress(res: HttpResponse): string {
  const bytes = new Uint8Array(res.getRemoteAddress())
  if (bytes.length === 4) return ipv4Text(bytesToIpv4(bytes, 0))
  if (bytes.length === 16) {
    return isIpv4Mapped(bytes) ? ipv4Text(bytesToIpv4(bytes, 12)) : ipv6Text(bytes)
  }
  return ''
}

const IPV4_TEXT = new Map<number, string>()
/** Bounds the table: a flood of distinct peers costs a clear now and then, never memory. */
const IPV4_TEXT_MAX = 4096

function ipv4Text(value: number): string {
  let text = IPV4_TEXT.get(value)
  if (text === undefined) {
    text = `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`
    if (IPV4_TEXT.size >= IPV4_TEXT_MAX) IPV4_TEXT.clear()
    IPV4_TEXT.set(value, text)
  }
  return text
}

function bytesToIpv4(bytes: Uint8Array, at: number): number {
  return (
    ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0
  )
}

/** ::ffff:a.b.c.d (RFC 4291 §2.5.5.2). */
function isIpv4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false
  return bytes[10] === 0xff && bytes[11] === 0xff
}
