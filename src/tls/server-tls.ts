/**
 * Reads a TLS listener's certificates, keys, client CA bundle and CRLs from their files and checks
 * them, at config load and again on every reload: a file that does not load, a key that is not
 * its certificate's, or a certificate outside its validity is a problem naming the file; one that
 * expires within `tls.warn_expiry` is returned to be logged. The fronts build their TLS contexts
 * from what this returns, so a listener serves exactly the bytes that were checked (uWS reads the
 * same files again itself, right after).
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import type { ConfigProblem } from '../errors.js'
import type { MtlsListenerConfig, TlsListenerConfig } from '../front/schema.js'

/** A certificate chain and its key, as read. */
export interface KeyPair {
  readonly certFile: string
  readonly keyFile: string
  readonly cert: Buffer
  readonly key: Buffer
  readonly passphrase: string | undefined
}

/** A certificate chosen by SNI for the names of `hosts` (exact or `*.` wildcards). */
export interface SniKeyPair {
  readonly hosts: readonly string[]
  readonly pair: KeyPair
}

/** What a mutual-TLS listener verifies client certificates against. */
export interface ClientVerification {
  readonly ca: Buffer
  readonly crl: readonly Buffer[]
  /** Most intermediate CAs between a client certificate and its trust anchor. */
  readonly verifyDepth: number
}

/** Everything a front needs to serve TLS on one listener. */
export interface ServerTls {
  readonly main: KeyPair
  readonly sni: readonly SniKeyPair[]
  readonly clients: ClientVerification | null
}

/** A certificate that expires within tls.warn_expiry. */
export interface ExpiringCertificate {
  readonly path: string
  readonly file: string
  readonly expiresAt: Date
}

export interface LoadedTls {
  /** null when a problem was found. */
  readonly tls: ServerTls | null
  readonly problems: readonly ConfigProblem[]
  readonly expiring: readonly ExpiringCertificate[]
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g

/**
 * Loads and checks the TLS files of one listener (`path`: `listeners.https`). `warnExpiryMs`:
 * tls.warn_expiry; `now`: the time the validity is checked against.
 */
export function loadServerTls(
  listener: TlsListenerConfig | MtlsListenerConfig,
  path: string,
  warnExpiryMs: number,
  now = Date.now(),
): LoadedTls {
  const problems: ConfigProblem[] = []
  const expiring: ExpiringCertificate[] = []
  const context = { problems, expiring, warnExpiryMs, now }
  const main = loadPair(listener, path, context)
  const sni: SniKeyPair[] = []
  listener.certificates.forEach((entry, index) => {
    const pair = loadPair(entry, `${path}.certificates[${index}]`, context)
    if (pair !== null) sni.push({ hosts: entry.hosts, pair })
  })
  const clients = 'client_ca' in listener ? loadClientVerification(listener, path, problems) : null
  if (main === null || problems.length > 0) return { tls: null, problems, expiring }
  return { tls: { main, sni, clients }, problems, expiring }
}

interface CheckContext {
  readonly problems: ConfigProblem[]
  readonly expiring: ExpiringCertificate[]
  readonly warnExpiryMs: number
  readonly now: number
}

function readFile(file: string, path: string, problems: ConfigProblem[]): Buffer | null {
  try {
    return readFileSync(file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error'
    problems.push({ path, reason: `cannot read "${file}" (${code})` })
    return null
  }
}

function loadPair(
  entry: { readonly cert: string; readonly key: string; readonly passphrase?: string | undefined },
  path: string,
  { problems, expiring, warnExpiryMs, now }: CheckContext,
): KeyPair | null {
  const cert = readFile(entry.cert, `${path}.cert`, problems)
  const key = readFile(entry.key, `${path}.key`, problems)
  if (cert === null || key === null) return null
  let leaf: X509Certificate
  try {
    leaf = new X509Certificate(firstCertificate(cert, entry.cert))
  } catch (error) {
    problems.push({ path: `${path}.cert`, reason: `"${entry.cert}": ${(error as Error).message}` })
    return null
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(
      entry.passphrase === undefined ? key : { key, passphrase: entry.passphrase },
    )
  } catch (error) {
    problems.push({
      path: `${path}.key`,
      reason: `"${entry.key}" does not load as a PEM private key: ${(error as Error).message}`,
    })
    return null
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    problems.push({
      path: `${path}.key`,
      reason: `"${entry.key}" is not the private key of the certificate in "${entry.cert}"`,
    })
    return null
  }
  const notBefore = Date.parse(leaf.validFrom)
  const notAfter = Date.parse(leaf.validTo)
  if (notAfter <= now) {
    // Every client would refuse it: serving it only turns a config mistake into an outage.
    problems.push({
      path: `${path}.cert`,
      reason: `the certificate in "${entry.cert}" expired on ${new Date(notAfter).toISOString()}`,
    })
    return null
  }
  if (notBefore > now) {
    problems.push({
      path: `${path}.cert`,
      reason: `the certificate in "${entry.cert}" is not valid before ${new Date(notBefore).toISOString()}`,
    })
    return null
  }
  if (notAfter - now <= warnExpiryMs) {
    expiring.push({ path: `${path}.cert`, file: entry.cert, expiresAt: new Date(notAfter) })
  }
  const pair: KeyPair = {
    certFile: entry.cert,
    keyFile: entry.key,
    cert,
    key,
    passphrase: entry.passphrase,
  }
  try {
    // What else OpenSSL refuses (a chain it cannot parse, a key too weak for its security level).
    createSecureContext(contextOf(pair))
  } catch (error) {
    problems.push({ path, reason: `"${entry.cert}" cannot be served: ${(error as Error).message}` })
    return null
  }
  return pair
}

function firstCertificate(pem: Buffer, file: string): string {
  const first = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(pem.toString())
  if (first === null) throw new Error(`no PEM certificate in the file (${file})`)
  return first[0]
}

function loadClientVerification(
  listener: MtlsListenerConfig,
  path: string,
  problems: ConfigProblem[],
): ClientVerification | null {
  const ca = readFile(listener.client_ca, `${path}.client_ca`, problems)
  if (ca !== null) {
    const found = ca.toString().match(PEM_CERTIFICATE) ?? []
    let reason = found.length === 0 ? 'holds no PEM certificate' : ''
    for (const pem of found) {
      try {
        new X509Certificate(pem)
      } catch (error) {
        reason = `holds a certificate that does not parse: ${(error as Error).message}`
      }
    }
    if (reason !== '')
      problems.push({ path: `${path}.client_ca`, reason: `"${listener.client_ca}" ${reason}` })
  }
  const crl: Buffer[] = []
  listener.crl.forEach((file, index) => {
    const at = `${path}.crl[${index}]`
    const data = readFile(file, at, problems)
    if (data === null) return
    try {
      if (!data.toString().includes('-----BEGIN X509 CRL-----')) throw new Error('no PEM CRL')
      createSecureContext({ crl: data })
      crl.push(data)
    } catch (error) {
      problems.push({
        path: at,
        reason: `"${file}" does not load as a CRL: ${(error as Error).message}`,
      })
    }
  })
  if (ca === null) return null
  return { ca, crl, verifyDepth: listener.verify_depth }
}

/** node:tls secure-context options of a pair, with the listener's client verification if any. */
export function contextOf(
  pair: KeyPair,
  clients: ClientVerification | null = null,
): { cert: Buffer; key: Buffer; passphrase?: string; ca?: Buffer; crl?: Buffer[] } {
  return {
    cert: pair.cert,
    key: pair.key,
    ...(pair.passphrase === undefined ? {} : { passphrase: pair.passphrase }),
    ...(clients === null
      ? {}
      : { ca: clients.ca, ...(clients.crl.length === 0 ? {} : { crl: [...clients.crl] }) }),
  }
}
