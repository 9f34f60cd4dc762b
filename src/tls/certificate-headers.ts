/**
 * `headers.client_certificate` compiled: the headers that tell the upstream the client
 * certificate of an mTLS connection, either one header each for the subject, the SANs and the
 * fingerprint, or Envoy's X-Forwarded-Client-Cert. The values are built once per certificate
 * (one per connection) and shared by every request on it. Every configured name is removed from
 * every client request (runtime.ts adds them to the request header rules), so the gateway is the
 * only one that sets them: Envoy's SANITIZE_SET at the edge.
 *
 * Every value is visible ASCII and spaces (RFC 9110 §5.5): the subject is an RFC 4514 string
 * whose other characters are escaped as UTF-8 hex pairs; SAN values are percent-encoded outside
 * visible ASCII and double-quoted, with `\` and `"` escaped, when they hold `,` `;` `=` `"` `\`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc4514 String representation of distinguished names
 * @see https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#x-forwarded-client-cert
 */
import { X509Certificate } from 'node:crypto'
import type { ConfigProblem } from '../errors.js'
import { foldHeaderName, isGatewayOwned } from '../http/field-names.js'
import type { CertificateHeadersConfig } from './certificate-headers-schema.js'
import type { ClientCertificate } from './client-certificate.js'

const NO_HEADERS: readonly string[] = Object.freeze([])

/**
 * Removed from every client request even when renamed: an upstream written for the usual names
 * (these defaults, Envoy's XFCC) would trust them whatever this gateway calls its own.
 */
const USUAL_NAMES = [
  'x-client-cert-subject',
  'x-client-cert-san',
  'x-client-cert-sha256',
  'x-forwarded-client-cert',
] as const

export class CertificateHeaders {
  /** The configured names, lower case: subject, san, sha256, xfcc. */
  readonly names: readonly string[]
  /** Every name never taken from a client: the configured ones and the usual ones. */
  readonly removed: readonly string[]
  readonly #config: CertificateHeadersConfig
  /** The header list last built per certificate. */
  readonly #built = new WeakMap<ClientCertificate, readonly string[]>()

  constructor(config: CertificateHeadersConfig, names: readonly string[]) {
    this.#config = config
    this.names = names
    this.removed = [...new Set([...names, ...USUAL_NAMES])]
  }

  /** The headers for `certificate`, flat [name, value…]; the same array for every request. */
  of(certificate: ClientCertificate): readonly string[] {
    let headers = this.#built.get(certificate)
    if (headers === undefined) {
      headers = Object.freeze(this.#build(certificate))
      this.#built.set(certificate, headers)
    }
    return headers
  }

  #build(certificate: ClientCertificate): string[] {
    const config = this.#config
    if (config.format === 'none') return NO_HEADERS as string[]
    const subject = distinguishedName(certificate)
    if (config.format === 'xfcc') {
      let value = `Hash=${certificate.sha256};Subject="${escapeQuoted(subject)}"`
      for (const uri of certificate.sanUris) value += `;URI=${sanValue(uri)}`
      for (const dns of certificate.sanDns) value += `;DNS=${sanValue(dns)}`
      return [this.names[3]!, value]
    }
    const out = [this.names[2]!, certificate.sha256]
    if (subject !== '') out.push(this.names[0]!, subject)
    const sans = [
      ...certificate.sanUris.map((uri) => `URI=${sanValue(uri)}`),
      ...certificate.sanDns.map((dns) => `DNS=${sanValue(dns)}`),
    ]
    if (sans.length > 0) out.push(this.names[1]!, sans.join(', '))
    return out
  }
}

/**
 * Compiles `headers.client_certificate` (at that path). `taken`: lower-case names other header
 * families already use (headers.consumer).
 */
export function compileCertificateHeaders(
  config: CertificateHeadersConfig,
  taken: readonly string[],
  problems: ConfigProblem[],
): CertificateHeaders {
  const seen = new Set(taken.map(foldHeaderName))
  const names = (['subject', 'san', 'sha256', 'xfcc'] as const).map((key) => {
    const name = config[key]
    const header = name.toLowerCase()
    const folded = foldHeaderName(header)
    if (isGatewayOwned(header) || folded === 'authorization' || folded === 'cookie') {
      problems.push({
        path: `headers.client_certificate.${key}`,
        reason: `${name} is a header the gateway sets or reads itself; choose another name`,
      })
    } else if (seen.has(folded)) {
      problems.push({
        path: `headers.client_certificate.${key}`,
        reason: `${name} already carries another field (headers.consumer or client_certificate)`,
      })
    }
    seen.add(folded)
    return header
  })
  return new CertificateHeaders(config, names)
}

/**
 * The subject as an RFC 4514 string: RDNs from the last to the first (§2.1), each value escaped
 * (§2.4). Read from the DER rather than node:tls's line form, where a value holding a line break
 * could pose as another attribute.
 */
function distinguishedName(certificate: ClientCertificate): string {
  const subject = new X509Certificate(certificate.der).toLegacyObject().subject as unknown as
    Record<string, string | string[]> | undefined
  if (subject === undefined) return ''
  const parts: string[] = []
  for (const [type, value] of Object.entries(subject)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      parts.push(`${escapeDnValue(type)}=${escapeDnValue(one)}`)
    }
  }
  return parts.reverse().join(',')
}

const DN_SPECIAL = new Set(['"', '+', ',', ';', '<', '>', '\\', '='])

/** RFC 4514 §2.4, and any character outside visible ASCII as its UTF-8 bytes in hex pairs. */
export function escapeDnValue(value: string): string {
  let out = ''
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!
    const code = value.charCodeAt(i)
    if (code < 0x21 || code > 0x7e) {
      // A space is plain inside a value, escaped at its ends (§2.4).
      if (code === 0x20 && i !== 0 && i !== value.length - 1) {
        out += c
        continue
      }
      const char = String.fromCodePoint(value.codePointAt(i)!)
      if (char.length === 2) i++
      for (const byte of Buffer.from(char, 'utf8')) out += `\\${byte.toString(16).padStart(2, '0')}`
    } else if (DN_SPECIAL.has(c) || (c === '#' && i === 0)) out += `\\${c}`
    else out += c
  }
  return out
}

/** A SAN value: percent-encoded outside visible ASCII, double-quoted when it holds a delimiter. */
export function sanValue(value: string): string {
  let text = ''
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if (code > 0x20 && code < 0x7f) {
      text += value[i]
      continue
    }
    const char = String.fromCodePoint(value.codePointAt(i)!)
    if (char.length === 2) i++
    for (const byte of Buffer.from(char, 'utf8')) {
      text += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
    }
  }
  return /[,;="\\]/.test(text) ? `"${escapeQuoted(text)}"` : text
}

/** Inside a quoted value: `\` and `"` escaped with `\` (RFC 9110 §5.6.4; Envoy escapes `"`). */
function escapeQuoted(text: string): string {
  return text.replace(/["\\]/g, '\\$&')
}
