/**
 * What a proxy in front of the gateway sends: PROXY protocol headers (HAProxy's
 * proxy-protocol.txt, v1 text and v2 binary) and HTTP requests from a chosen local address (on
 * Linux every address of 127/8 is loopback, so 127.0.0.2 is a second peer).
 */
import { request, type IncomingHttpHeaders } from 'node:http'
import { isIPv4 } from 'node:net'

export const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

/** `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n` */
export function proxyV1(source: string, destination: string, ports = [40000, 443]): Buffer {
  const family = isIPv4(source) ? 'TCP4' : 'TCP6'
  return Buffer.from(
    `PROXY ${family} ${source} ${destination} ${ports[0]} ${ports[1]}\r\n`,
    'latin1',
  )
}

export interface V2Options {
  /** 0 LOCAL, 1 PROXY (default). */
  readonly command?: number
  /** Family and transport byte; default from the source: 0x11 TCP/IPv4, 0x21 TCP/IPv6. */
  readonly familyByte?: number
  readonly source?: string
  readonly destination?: string
  /** Bytes after the addresses (TLVs). */
  readonly tlvs?: Buffer
  /** Overrides the length field. */
  readonly length?: number
}

/** A v2 header; with no source, a LOCAL-style header with no addresses. */
export function proxyV2(options: V2Options = {}): Buffer {
  const source = options.source
  let addresses = Buffer.alloc(0)
  let familyByte = options.familyByte ?? 0x00
  if (source !== undefined) {
    const v4 = isIPv4(source)
    familyByte = options.familyByte ?? (v4 ? 0x11 : 0x21)
    const destination = options.destination ?? (v4 ? '127.0.0.1' : '::1')
    const ports = Buffer.from([0x9c, 0x40, 0x01, 0xbb])
    addresses = Buffer.concat([addressBytes(source), addressBytes(destination), ports])
  }
  const body = Buffer.concat([addresses, options.tlvs ?? Buffer.alloc(0)])
  const fixed = Buffer.alloc(4)
  fixed[0] = 0x20 | (options.command ?? 1)
  fixed[1] = familyByte
  fixed.writeUInt16BE(options.length ?? body.length, 2)
  return Buffer.concat([V2_SIGNATURE, fixed, body])
}

function addressBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number))
  const [head = '', tail = ''] = address.split('::')
  const groups = (text: string) => (text === '' ? [] : text.split(':').map((g) => parseInt(g, 16)))
  const left = groups(head)
  const right = groups(tail)
  const all = address.includes('::')
    ? [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
    : left
  const out = Buffer.alloc(16)
  all.forEach((group, i) => out.writeUInt16BE(group, i * 2))
  return out
}

export interface FromResult {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
}

/** One GET to `url` from the local address `from`, with `headers` (a flat list keeps repeats). */
export function getFrom(
  from: string,
  url: string,
  headers: Record<string, string> | string[] = {},
): Promise<FromResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress: from, agent: false, headers })
    const timer = setTimeout(() => req.destroy(new Error(`GET ${url} timed out`)), 10_000)
    req.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        clearTimeout(timer)
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        })
      })
    })
    req.end()
  })
}
