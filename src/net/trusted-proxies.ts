/**
 * Trusted proxies (`trusted_proxies`): which direct peers may tell the gateway who the client is,
 * and the client an `X-Forwarded-For` chain names when such a peer sent it.
 *
 * The chain is read from the right, as each proxy appends the address it received the request
 * from: the rightmost entry was written by the peer itself, which is trusted. While the entry is
 * a trusted proxy too, its own entry (one further left) is believed; the first address that is
 * not a trusted proxy is the client. Everything left of it was written by the client or by a proxy
 * nobody vouches for, and is ignored. (The same walk as nginx's `real_ip_recursive on`.)
 *
 * Safe stops, each leaving the client at the last address the walk could vouch for:
 * - an entry that is not an address (`unknown`, an obfuscated name, garbage): the walk stops and
 *   the trusted hop that wrote it is the client;
 * - more than {@link MAX_FORWARDED_HOPS} entries walked: the last one walked is the client;
 * - every entry a trusted proxy: the leftmost is the client.
 * Empty list elements are skipped (RFC 9110 §5.6.1). An entry may be a bare IPv4 or IPv6 address,
 * a bracketed IPv6 address (`[2001:db8::1]`), either with a `:port` (some balancers add one).
 */
import type { AddressRanges } from './address-ranges.js'
import { AddressReader } from './address-reader.js'
import { addressText } from './address-text.js'

/** Hops a chain is walked at most: far more proxies than any real path has. */
export const MAX_FORWARDED_HOPS = 32

export class TrustedProxies {
  readonly #ranges: AddressRanges
  /** Holds the address being read: the walk is synchronous, so no request reads between. */
  readonly #reader = new AddressReader()
  /** After {@link walk}: the client's address, canonical text. */
  client = ''
  /** After {@link walk}: where in the value the verified chain (client first) starts; -1: none. */
  chainFrom = -1

  constructor(ranges: AddressRanges) {
    this.#ranges = ranges
  }

  /** Whether `address` (text as the fronts give it) is a trusted proxy. */
  trusts(address: string): boolean {
    this.#reader.read(address)
    return this.#ranges.includes(this.#reader)
  }

  /**
   * Walks `forwardedFor` (the X-Forwarded-For field, its lines joined by commas) sent by the
   * trusted `peer`; the answer is in {@link client} and {@link chainFrom}.
   */
  walk(peer: string, forwardedFor: string): void {
    const reader = this.#reader
    let client = peer
    let chainFrom = -1
    let hops = 0
    let end = forwardedFor.length
    while (end > 0) {
      const comma = forwardedFor.lastIndexOf(',', end - 1)
      const start = comma + 1
      const entry = forwardedFor.slice(start, end).trim()
      end = comma
      if (entry === '') continue
      if (reader.read(entryAddress(entry)) === 0) break
      client = addressText(reader)
      chainFrom = start
      if (!this.#ranges.includes(reader) || ++hops === MAX_FORWARDED_HOPS) break
    }
    this.client = client
    this.chainFrom = chainFrom
  }
}

/** The address of an entry: without the brackets and port of `[v6]:port`, the port of `v4:port`. */
function entryAddress(entry: string): string {
  if (entry.charCodeAt(0) === 0x5b /* [ */) {
    const close = entry.indexOf(']')
    if (close < 0) return ''
    const rest = entry.length - close - 1
    return rest === 0 || (entry.charCodeAt(close + 1) === 0x3a && isPort(entry, close + 2))
      ? entry.slice(1, close)
      : ''
  }
  const colon = entry.indexOf(':')
  // One colon after a dotted address is a port; IPv6 has at least two colons.
  if (colon > 0 && entry.indexOf(':', colon + 1) < 0 && entry.indexOf('.') > 0) {
    return isPort(entry, colon + 1) ? entry.slice(0, colon) : ''
  }
  return entry
}

function isPort(text: string, from: number): boolean {
  const length = text.length - from
  if (length < 1 || length > 5) return false
  for (let i = from; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x30 || code > 0x39) return false
  }
  return Number(text.slice(from)) <= 65535
}
