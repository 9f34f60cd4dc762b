/**
 * The client certificate of a mutual-TLS connection, as the stages see it: read once per
 * connection by the front (a connection's certificate cannot change), shared by every request on
 * it. Only what mapping, forwarding and RFC 8705 binding need is kept.
 */
import { createHash } from 'node:crypto'

export interface ClientCertificate {
  /** The subject as node:tls prints it (`CN=api\nO=Example`), one RDN per line. */
  readonly subject: string
  /** The subject's (last) CN, or null when it has none. */
  readonly commonName: string | null
  /** SAN entries of type URI (SPIFFE IDs), in certificate order. */
  readonly sanUris: readonly string[]
  /** SAN entries of type DNS, in certificate order. */
  readonly sanDns: readonly string[]
  /** SHA-256 of the DER certificate, lowercase hex without colons. */
  readonly sha256: string
  /** The same digest in base64url: the `x5t#S256` confirmation of RFC 8705 §3.1. */
  readonly x5tS256: string
  /** The DER certificate (for a forwarded PEM or Envoy's XFCC `Cert`). */
  readonly der: Buffer
}

/** node:tls's detailed peer certificate fields this module reads. */
export interface PeerCertificateFields {
  readonly raw: Buffer
  readonly subject?: Readonly<Record<string, string | string[]>> | undefined
  readonly subjectaltname?: string | undefined
}

export function clientCertificateOf(peer: PeerCertificateFields): ClientCertificate {
  const digest = createHash('sha256').update(peer.raw).digest()
  const subject = peer.subject ?? {}
  const lines: string[] = []
  for (const [name, value] of Object.entries(subject)) {
    for (const one of Array.isArray(value) ? value : [value]) lines.push(`${name}=${one}`)
  }
  const cn = subject['CN']
  const sanUris: string[] = []
  const sanDns: string[] = []
  for (const entry of splitAltNames(peer.subjectaltname ?? '')) {
    if (entry.startsWith('URI:')) sanUris.push(entry.slice(4))
    else if (entry.startsWith('DNS:')) sanDns.push(entry.slice(4))
  }
  return {
    subject: lines.join('\n'),
    commonName: cn === undefined ? null : Array.isArray(cn) ? (cn.at(-1) ?? null) : cn,
    sanUris,
    sanDns,
    sha256: digest.toString('hex'),
    x5tS256: digest.toString('base64url'),
    der: peer.raw,
  }
}

/**
 * node:tls joins SAN entries with ", " and quotes (JSON-style) an entry that itself holds a comma
 * or a quote, so a plain split would let a crafted URI forge a second entry.
 */
export function splitAltNames(value: string): string[] {
  const out: string[] = []
  let i = 0
  while (i < value.length) {
    const colon = value.indexOf(':', i)
    if (colon < 0) break
    const type = value.slice(i, colon + 1)
    let j = colon + 1
    let entry: string
    if (value[j] === '"') {
      let end = j + 1
      while (end < value.length && value[end] !== '"') end += value[end] === '\\' ? 2 : 1
      entry = JSON.parse(value.slice(j, end + 1)) as string
      j = end + 1
    } else {
      const comma = value.indexOf(', ', j)
      const end = comma < 0 ? value.length : comma
      entry = value.slice(j, end)
      j = end
    }
    out.push(type + entry)
    i = value.startsWith(', ', j) ? j + 2 : value.length
  }
  return out
}
