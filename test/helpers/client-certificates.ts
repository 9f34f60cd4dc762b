/**
 * A throwaway CA and client certificates made with `openssl` at run time (no private key is ever
 * committed), and the {@link ClientCertificate} a front would build from each, for stage tests
 * that need no TLS connection. SANs go through a config section, so a URI may hold a comma.
 */
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  clientCertificateOf,
  type ClientCertificate,
  type PeerCertificateFields,
} from '../../src/tls/client-certificate.js'

export interface IssuedCertificate {
  readonly certPath: string
  readonly keyPath: string
  readonly pem: string
  /** As a front builds it from the peer certificate. */
  readonly certificate: ClientCertificate
}

export interface ClientCertificateSpec {
  /** `/CN=api/O=Example`: the openssl -subj form. */
  readonly subject: string
  readonly uris?: readonly string[]
  readonly dns?: readonly string[]
}

export class TestCa {
  readonly dir: string
  readonly certPath: string
  readonly keyPath: string
  #serial = 1

  constructor(name = 'Test CA') {
    this.dir = mkdtempSync(join(tmpdir(), 'pcl-ca-'))
    this.certPath = join(this.dir, 'ca.pem')
    this.keyPath = join(this.dir, 'ca.key')
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-days',
      '2',
      '-keyout',
      this.keyPath,
      '-out',
      this.certPath,
    ])
  }

  get pem(): string {
    return readFileSync(this.certPath, 'utf8')
  }

  /** A client certificate (or, with `server`, a server one) signed by this CA. */
  issue(spec: ClientCertificateSpec, server = false): IssuedCertificate {
    const n = this.#serial++
    const base = join(this.dir, `cert-${n}`)
    const keyPath = `${base}.key`
    const certPath = `${base}.pem`
    openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      spec.subject,
      '-keyout',
      keyPath,
      '-out',
      `${base}.csr`,
    ])
    const alt = [
      ...(spec.uris ?? []).map((uri, i) => `URI.${i + 1} = ${uri}`),
      ...(spec.dns ?? []).map((dns, i) => `DNS.${i + 1} = ${dns}`),
    ]
    const ext = [
      '[ext]',
      'basicConstraints = CA:FALSE',
      `extendedKeyUsage = ${server ? 'serverAuth' : 'clientAuth'}`,
      ...(alt.length > 0 ? ['subjectAltName = @alt', '[alt]', ...alt] : []),
    ]
    writeFileSync(`${base}.ext`, `${ext.join('\n')}\n`)
    openssl([
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      this.certPath,
      '-CAkey',
      this.keyPath,
      '-set_serial',
      String(1000 + n),
      '-days',
      '1',
      '-extfile',
      `${base}.ext`,
      '-extensions',
      'ext',
      '-out',
      certPath,
    ])
    const pem = readFileSync(certPath, 'utf8')
    return { certPath, keyPath, pem, certificate: certificateOfPem(pem) }
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** The ClientCertificate of a PEM certificate: node's legacy object is getPeerCertificate()'s. */
export function certificateOfPem(pem: string): ClientCertificate {
  const legacy = new X509Certificate(pem).toLegacyObject() as unknown as PeerCertificateFields
  return clientCertificateOf(legacy)
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}
