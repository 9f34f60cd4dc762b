/**
 * Reads a client address as the fronts give it (IPv4 dotted, IPv6 in any RFC 4291 §2.2 text
 * form, IPv4-mapped IPv6) into numbers, without allocating: the request-time side of
 * {@link AddressRanges}. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) is
 * read as the IPv4 address it maps, so a dual-stack listener's IPv4 peer is one caller however the
 * front spells it. A zone (`fe80::1%eth0`) or anything else is not an address.
 *
 * Config entries are parsed by consumers/address-list.ts (parseAddressBlock); this reads their
 * canonical network text too, so an entry and a client are turned into numbers by one routine.
 */

/** What {@link AddressReader.read} found: 0 not an address, 4 an IPv4 address, 6 an IPv6 one. */
export type AddressFamily = 0 | 4 | 6

export class AddressReader {
  /** What the last read found. */
  family: AddressFamily = 0
  /** After an IPv4 read: the address as an unsigned 32-bit number. */
  ipv4 = 0
  /** After an IPv6 read: the address as four 32-bit words, most significant first. */
  readonly ipv6 = new Uint32Array(4)
  readonly #groups = new Uint16Array(8)

  /** Reads `text`; the result is also in {@link family}. */
  read(text: string): AddressFamily {
    if (text.indexOf(':') < 0) {
      const value = readIpv4(text, 0, text.length)
      if (value < 0) return (this.family = 0)
      this.ipv4 = value
      return (this.family = 4)
    }
    if (!this.#readIpv6(text)) return (this.family = 0)
    const g = this.#groups
    if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
      this.ipv4 = ((g[6]! << 16) | g[7]!) >>> 0
      return (this.family = 4)
    }
    const words = this.ipv6
    for (let i = 0; i < 4; i++) words[i] = ((g[2 * i]! << 16) | g[2 * i + 1]!) >>> 0
    return (this.family = 6)
  }

  /** RFC 4291 §2.2: 1–4 hex digits per group, one `::` for one or more zero groups, and an
   * IPv4 dotted tail in place of the last two groups. */
  #readIpv6(text: string): boolean {
    const groups = this.#groups
    const end = text.length
    let count = 0
    let gap = -1
    let i = 0
    if (text.charCodeAt(0) === COLON) {
      if (text.charCodeAt(1) !== COLON) return false
      gap = 0
      i = 2
    }
    while (i < end) {
      const start = i
      let value = 0
      for (
        let digit = hexValue(text.charCodeAt(i));
        digit >= 0;
        digit = hexValue(text.charCodeAt(i))
      ) {
        if (i - start === 4) return false
        value = value * 16 + digit
        i++
      }
      if (text.charCodeAt(i) === DOT) {
        if (count > 6) return false
        const tail = readIpv4(text, start, end)
        if (tail < 0) return false
        groups[count++] = tail >>> 16
        groups[count++] = tail & 0xffff
        i = end
        break
      }
      if (i === start || count === 8) return false
      groups[count++] = value
      if (i === end) break
      if (text.charCodeAt(i) !== COLON) return false
      i++
      if (text.charCodeAt(i) === COLON) {
        if (gap >= 0) return false
        gap = count
        i++
      } else if (i === end) {
        return false
      }
    }
    if (gap < 0) return count === 8
    // `::` stands for at least one zero group.
    if (count > 7) return false
    const moved = count - gap
    for (let k = 1; k <= moved; k++) groups[8 - k] = groups[count - k]!
    for (let k = gap; k < 8 - moved; k++) groups[k] = 0
    return true
  }
}

const COLON = 0x3a
const DOT = 0x2e

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  if (code >= 0x61 && code <= 0x66) return code - 0x57
  if (code >= 0x41 && code <= 0x46) return code - 0x37
  return -1
}

/**
 * `text[from, end)` as dotted IPv4 (four decimal parts 0–255, no leading zeros, as node:net's
 * isIPv4), an unsigned 32-bit number; -1 when it is not one.
 */
function readIpv4(text: string, from: number, end: number): number {
  let value = 0
  let i = from
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (text.charCodeAt(i) !== DOT) return -1
      i++
    }
    const start = i
    let octet = 0
    while (i < end) {
      const code = text.charCodeAt(i)
      if (code < 0x30 || code > 0x39) break
      octet = octet * 10 + (code - 0x30)
      i++
    }
    const length = i - start
    if (length === 0 || length > 3 || octet > 255) return -1
    if (length > 1 && text.charCodeAt(start) === 0x30) return -1
    value = value * 256 + octet
  }
  return i === end ? value : -1
}
