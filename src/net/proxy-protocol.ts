/**
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2): what a TCP proxy or
 * load balancer in front of the gateway says about the connection it relays, sent once before
 * the first byte of the connection's own protocol (TLS included).
 *
 * Version 1 is one text line, `PROXY TCP4|TCP6|UNKNOWN <src> <dst> <sport> <dport>\r\n`, at most
 * 107 bytes. Version 2 is binary: a 12-byte signature, version and command, family and transport,
 * a big-endian length, the addresses, then TLVs (skipped: nothing here needs them).
 *
 * The source address is the client's for `PROXY` over TCP/IPv4 or TCP/IPv6. A v2 `LOCAL`
 * command (the proxy's own health check), v1 `UNKNOWN`, and v2 families or transports other than
 * TCP over IPv4/IPv6 carry none: the spec has the receiver use the connection's own address then.
 * An IPv4-mapped IPv6 source is its IPv4 address, as everywhere in the gateway.
 *
 * Parsing is restartable: a caller holding the bytes read so far calls again with more when the
 * answer is `incomplete`, so a header split across TCP reads is read whole.
 */
import { AddressReader } from './address-reader.js'
import { addressText, ipv4Text, ipv6Text } from './address-text.js'

/** The longest v1 header, CRLF included (proxy-protocol.txt §2.1). */
export const PROXY_V1_MAX_BYTES = 107
/**
 * The longest v2 header accepted, TLVs included. The format allows 64 KiB of TLVs; what balancers
 * send (SSL details, a VPC endpoint or link id, a unique id) fits well within this, and a
 * connection must not be able to make the gateway hold more before it proves anything.
 */
export const PROXY_V2_MAX_BYTES = 4096

const V1_PREFIX = Buffer.from('PROXY ', 'latin1')
const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
])
const V2_FIXED_BYTES = 16
const V2_LOCAL = 0x0
const V2_PROXY = 0x1
const V2_AF_UNSPEC = 0x0
const V2_AF_INET = 0x1
const V2_AF_UNIX = 0x3
const V2_STREAM = 0x1
const V2_DGRAM = 0x2

export type ProxyHeader =
  | { readonly state: 'incomplete' }
  | { readonly state: 'invalid'; readonly reason: string }
  /** `length` bytes of the data are the header; `source` null: use the connection's address. */
  | { readonly state: 'complete'; readonly length: number; readonly source: string | null }

const INCOMPLETE: ProxyHeader = Object.freeze({ state: 'incomplete' })

/** Reads the PROXY header at the start of `data` (all the bytes the connection sent so far). */
export function parseProxyHeader(data: Buffer): ProxyHeader {
  if (startsLike(data, V2_SIGNATURE)) {
    return data.length < V2_SIGNATURE.length ? INCOMPLETE : parseV2(data)
  }
  if (startsLike(data, V1_PREFIX)) {
    return data.length < V1_PREFIX.length ? INCOMPLETE : parseV1(data)
  }
  return invalid('the connection did not start with a PROXY protocol header')
}

/** Whether `data` and `prefix` agree on their common length. */
function startsLike(data: Buffer, prefix: Buffer): boolean {
  const length = Math.min(data.length, prefix.length)
  return data.compare(prefix, 0, length, 0, length) === 0
}

function invalid(reason: string): ProxyHeader {
  return { state: 'invalid', reason }
}

function parseV1(data: Buffer): ProxyHeader {
  const limit = Math.min(data.length, PROXY_V1_MAX_BYTES)
  let lineEnd = -1
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const byte = data[i]!
    if (byte === 0x0d) {
      if (i + 1 >= data.length) return INCOMPLETE
      if (data[i + 1] !== 0x0a) return invalid('PROXY v1: CR not followed by LF')
      lineEnd = i
      break
    }
    // Printable US-ASCII only: the line is addresses, ports and single spaces.
    if (byte < 0x20 || byte > 0x7e) return invalid('PROXY v1: a byte that is not printable')
  }
  if (lineEnd < 0) {
    return data.length >= PROXY_V1_MAX_BYTES
      ? invalid(`PROXY v1: no CRLF within ${PROXY_V1_MAX_BYTES} bytes`)
      : INCOMPLETE
  }
  const length = lineEnd + 2
  const fields = data.toString('latin1', V1_PREFIX.length, lineEnd).split(' ')
  const protocol = fields[0]
  // UNKNOWN: the proxy could not tell; whatever follows on the line is ignored (§2.1).
  if (protocol === 'UNKNOWN') return { state: 'complete', length, source: null }
  if (protocol !== 'TCP4' && protocol !== 'TCP6') {
    return invalid(`PROXY v1: protocol must be TCP4, TCP6 or UNKNOWN`)
  }
  if (fields.length !== 5) return invalid('PROXY v1: expected source, destination and two ports')
  const [, source, destination, sourcePort, destinationPort] = fields as [
    string,
    string,
    string,
    string,
    string,
  ]
  if (!isV1Port(sourcePort) || !isV1Port(destinationPort)) {
    return invalid('PROXY v1: a port is not a number from 0 to 65535')
  }
  const reader = new AddressReader()
  const wantIpv6 = protocol === 'TCP6'
  if (!isV1Address(reader, destination, wantIpv6) || !isV1Address(reader, source, wantIpv6)) {
    return invalid(`PROXY v1: an address is not ${wantIpv6 ? 'IPv6' : 'IPv4'}`)
  }
  return { state: 'complete', length, source: addressText(reader) }
}

/** Reads `text` into `reader` when it is an address of the family the line names. */
function isV1Address(reader: AddressReader, text: string, ipv6: boolean): boolean {
  // The reader takes an IPv4-mapped IPv6 address as IPv4: the spelling tells the family.
  return reader.read(text) !== 0 && text.includes(':') === ipv6
}

function isV1Port(text: string): boolean {
  return /^(0|[1-9][0-9]{0,4})$/.test(text) && Number(text) <= 65535
}

function parseV2(data: Buffer): ProxyHeader {
  if (data.length < V2_FIXED_BYTES) return INCOMPLETE
  const versionCommand = data[12]!
  if (versionCommand >> 4 !== 2) return invalid('PROXY v2: version must be 2')
  const command = versionCommand & 0x0f
  if (command !== V2_LOCAL && command !== V2_PROXY) {
    return invalid('PROXY v2: command must be LOCAL or PROXY')
  }
  const family = data[13]! >> 4
  const transport = data[13]! & 0x0f
  if (family > V2_AF_UNIX) return invalid('PROXY v2: unknown address family')
  if (transport > V2_DGRAM) return invalid('PROXY v2: unknown transport protocol')
  const length = V2_FIXED_BYTES + data.readUInt16BE(14)
  if (length > PROXY_V2_MAX_BYTES) {
    return invalid(`PROXY v2: header of ${length} bytes, more than ${PROXY_V2_MAX_BYTES}`)
  }
  if (data.length < length) return INCOMPLETE
  // LOCAL: the proxy speaks for itself (a health check); its addresses are to be ignored.
  if (command === V2_LOCAL) return { state: 'complete', length, source: null }
  if (family === V2_AF_UNSPEC || family === V2_AF_UNIX || transport !== V2_STREAM) {
    return { state: 'complete', length, source: null }
  }
  // AF_INET: two IPv4 addresses and two ports; AF_INET6: two IPv6 addresses and two ports.
  const addressBytes = family === V2_AF_INET ? 12 : 36
  if (length - V2_FIXED_BYTES < addressBytes) {
    return invalid('PROXY v2: the length is shorter than the addresses of its family')
  }
  const at = V2_FIXED_BYTES
  if (family === V2_AF_INET) {
    return { state: 'complete', length, source: ipv4Text(data.readUInt32BE(at)) }
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset + at, 16)
  return { state: 'complete', length, source: v6SourceText(bytes) }
}

/** IPv6 text, an IPv4-mapped address (RFC 4291 §2.5.5.2) as its IPv4 address. */
function v6SourceText(bytes: Uint8Array): string {
  let mapped = bytes[10] === 0xff && bytes[11] === 0xff
  for (let i = 0; i < 10 && mapped; i++) if (bytes[i] !== 0) mapped = false
  if (!mapped) return ipv6Text(bytes)
  return ipv4Text(((bytes[12]! << 24) | (bytes[13]! << 16) | (bytes[14]! << 8) | bytes[15]!) >>> 0)
}
