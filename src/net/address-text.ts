/**
 * Addresses as the gateway writes them: IPv4 dotted, IPv6 in RFC 5952's form. One spelling per
 * address, so a rate-limit key, a concurrency slot or a log line names a client the same way
 * whether the address came from the socket, an X-Forwarded-For entry or a PROXY header.
 */
import type { AddressReader } from './address-reader.js'

/** The address `reader` last read, as text; '' when it read none. */
export function addressText(reader: AddressReader): string {
  if (reader.family === 4) return ipv4Text(reader.ipv4)
  if (reader.family !== 6) return ''
  const bytes = new Uint8Array(16)
  for (let i = 0; i < 4; i++) {
    const word = reader.ipv6[i]!
    bytes[4 * i] = word >>> 24
    bytes[4 * i + 1] = (word >>> 16) & 255
    bytes[4 * i + 2] = (word >>> 8) & 255
    bytes[4 * i + 3] = word & 255
  }
  return ipv6Text(bytes)
}

/** An unsigned 32-bit IPv4 address as dotted text. */
export function ipv4Text(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`
}

/**
 * RFC 5952 §4: lowercase hex without leading zeros, the longest run of two or more zero groups
 * (the first of equal runs) as `::`.
 */
export function ipv6Text(bytes: Uint8Array): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!)
  let bestAt = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let end = i
    while (end < 8 && groups[end] === 0) end++
    if (end - i > bestLength) {
      bestAt = i
      bestLength = end - i
    }
    i = end
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':')
  if (bestAt < 0) return hex(0, 8)
  return `${hex(0, bestAt)}::${hex(bestAt + bestLength, 8)}`
}
