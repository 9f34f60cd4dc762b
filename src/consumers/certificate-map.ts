/**
 * The config's certificate rules (`consumers[].certificates`) as exact-match maps, one per kind,
 * so finding the consumer of a client certificate is a few map probes. The most specific rule
 * wins: the fingerprint names one certificate, a SAN URI one workload (SPIFFE), a DNS name a
 * host, a CN whatever the CA put there.
 */
import type { ConfigProblem } from '../errors.js'
import type { ClientCertificate } from '../tls/client-certificate.js'
import type { ConsumerCertificateConfig } from './schema.js'

const KINDS = ['sha256', 'uri', 'dns', 'cn'] as const
type Kind = (typeof KINDS)[number]

export class CertificateMap {
  /** Each map: the rule's value (normalized) → the consumer's name. */
  readonly #sha256 = new Map<string, string>()
  readonly #uri = new Map<string, string>()
  readonly #dns = new Map<string, string>()
  readonly #cn = new Map<string, string>()
  /** Where each rule was declared, for a second declaration's problem. */
  readonly #paths = new Map<string, string>()

  get size(): number {
    return this.#sha256.size + this.#uri.size + this.#dns.size + this.#cn.size
  }

  /** Adds one rule of `consumer`; a rule that is not exactly one kind, or is taken, is a problem. */
  add(
    consumer: string,
    rule: ConsumerCertificateConfig,
    path: string,
    problems: ConfigProblem[],
  ): void {
    const kinds = KINDS.filter((kind) => rule[kind] !== undefined)
    if (kinds.length !== 1) {
      problems.push({
        path,
        reason:
          kinds.length === 0
            ? 'name the certificate by one of uri, dns, cn or sha256'
            : `holds ${kinds.join(' and ')}: give each its own entry (a rule is one match)`,
      })
      return
    }
    const kind = kinds[0]!
    const value = normalize(kind, rule[kind]!)
    const id = `${kind}:${value}`
    const earlier = this.#paths.get(id)
    if (earlier !== undefined) {
      problems.push({
        path: `${path}.${kind}`,
        reason: `the same rule as ${earlier}: a certificate rule names one consumer, once`,
      })
      return
    }
    this.#paths.set(id, `${path}.${kind}`)
    this.#byKind(kind).set(value, consumer)
  }

  /** The name of the consumer `certificate` maps to, or undefined when no rule matches it. */
  consumerOf(certificate: ClientCertificate): string | undefined {
    let found = this.#sha256.get(certificate.sha256)
    if (found !== undefined) return found
    const uris = certificate.sanUris
    for (let i = 0; i < uris.length; i++) {
      found = this.#uri.get(uris[i]!)
      if (found !== undefined) return found
    }
    const names = certificate.sanDns
    for (let i = 0; i < names.length; i++) {
      // DNS names compare without case (RFC 4343); V8 returns a lower-case string as it is.
      found = this.#dns.get(names[i]!.toLowerCase())
      if (found !== undefined) return found
    }
    return certificate.commonName === null ? undefined : this.#cn.get(certificate.commonName)
  }

  #byKind(kind: Kind): Map<string, string> {
    return kind === 'sha256'
      ? this.#sha256
      : kind === 'uri'
        ? this.#uri
        : kind === 'dns'
          ? this.#dns
          : this.#cn
  }
}

/** The form a certificate's own value takes (client-certificate.ts): hex without colons, lower case. */
function normalize(kind: Kind, value: string): string {
  if (kind === 'sha256') return value.replace(/:/g, '').toLowerCase()
  return kind === 'dns' ? value.toLowerCase() : value
}
