/**
 * Address lists as the config and the admin API write them (routes' `ip`, trusted_proxies, keys'
 * allow_ips/deny_ips, consumers' `ip`): IPv4 and IPv6 addresses and CIDR blocks, parsed into
 * canonical blocks. An IPv4-mapped IPv6 entry (`::ffff:10.0.0.0/104`) is the IPv4 block it maps,
 * so `10.0.0.1` and `::ffff:10.0.0.1` are one caller whichever way it is spelt. Lookups are
 * compiled from these blocks by net/address-ranges.ts (and consumers/address-rules.ts).
 */
import { isIPv4, isIPv6, SocketAddress } from 'node:net'
import type { ConfigProblem } from '../errors.js'

export const ADDRESS_ENTRY_REASON =
  'must be an IPv4 or IPv6 address or CIDR block, such as 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32'

/** One parsed entry: a network address (host bits cleared) and its prefix length. */
export interface AddressBlock {
  readonly family: 'ipv4' | 'ipv6'
  readonly network: string
  readonly prefix: number
}

/**
 * Parses `entries` (config or admin input at `path`): the blocks, and a problem per bad entry at
 * `path[i]`.
 */
export function parseAddressList(
  entries: readonly string[],
  path: string,
): { blocks: AddressBlock[]; problems: ConfigProblem[] } {
  const blocks: AddressBlock[] = []
  const problems: ConfigProblem[] = []
  entries.forEach((entry, index) => {
    const parsed = parseAddressBlock(entry)
    if (typeof parsed === 'string') problems.push({ path: `${path}[${index}]`, reason: parsed })
    else blocks.push(parsed)
  })
  return { blocks, problems }
}

/** One entry: a block, or the reason it is not one. */
export function parseAddressBlock(entry: string): AddressBlock | string {
  const got = ` (got ${JSON.stringify(entry)})`
  const slash = entry.indexOf('/')
  const address = slash < 0 ? entry : entry.slice(0, slash)
  let family: 'ipv4' | 'ipv6'
  let bytes: number[]
  if (isIPv4(address)) {
    family = 'ipv4'
    bytes = address.split('.').map(Number)
  } else if (isIPv6(address) && !address.includes('%')) {
    family = 'ipv6'
    bytes = ipv6Bytes(address)
  } else {
    return `${ADDRESS_ENTRY_REASON}${got}`
  }
  const bits = bytes.length * 8
  let prefix = bits
  if (slash >= 0) {
    const length = entry.slice(slash + 1)
    if (!/^(0|[1-9][0-9]{0,2})$/.test(length) || Number(length) > bits) {
      return `prefix length must be a whole number from 0 to ${bits} for ${family === 'ipv4' ? 'IPv4' : 'IPv6'}${got}`
    }
    prefix = Number(length)
  }
  // An IPv4-mapped block (::ffff:0:0/96 and within) is the IPv4 block it maps.
  if (family === 'ipv6' && prefix >= 96 && isIpv4Mapped(bytes)) {
    family = 'ipv4'
    bytes = bytes.slice(12)
    prefix -= 96
  }
  mask(bytes, prefix)
  return { family, network: formatAddress(family, bytes), prefix }
}

/** The 16 bytes of a valid IPv6 address (isIPv6 holds), with an embedded IPv4 tail if any. */
function ipv6Bytes(address: string): number[] {
  const [head = '', tail] = address.split('::') as [string, string | undefined]
  const groups = (text: string): number[] => {
    if (text === '') return []
    const out: number[] = []
    for (const part of text.split(':')) {
      if (part.includes('.')) {
        const [a, b, c, d] = part.split('.').map(Number) as [number, number, number, number]
        out.push((a << 8) | b, (c << 8) | d)
      } else {
        out.push(parseInt(part, 16))
      }
    }
    return out
  }
  const left = groups(head)
  const right = tail === undefined ? [] : groups(tail)
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
  return all.flatMap((group) => [group >> 8, group & 0xff])
}

function isIpv4Mapped(bytes: readonly number[]): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false
  return bytes[10] === 0xff && bytes[11] === 0xff
}

function mask(bytes: number[], prefix: number): void {
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8))
    bytes[i] = bytes[i]! & ((0xff00 >> keep) & 0xff)
  }
}

function formatAddress(family: 'ipv4' | 'ipv6', bytes: readonly number[]): string {
  if (family === 'ipv4') return bytes.join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16))
  // SocketAddress writes the RFC 5952 form (zeros compressed, lowercase).
  return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address
}
