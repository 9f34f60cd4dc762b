/**
 * What the stages read of a client certificate: node:tls's SAN string split without letting a
 * crafted entry forge another, checked on strings and on the peer certificate of a real mTLS
 * handshake.
 */
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect, createServer, type TLSSocket } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  clientCertificateOf,
  splitAltNames,
  type PeerCertificateFields,
} from '../../../src/tls/client-certificate.js'
import { createPki, type Authority, type Pki } from '../../../scripts/pki.js'

/** A URI that, split naively on ", ", would add the SAN URI an attacker wants mapped. */
const FORGING_URI = 'spiffe://example.org/ns/guest, URI:spiffe://example.org/ns/admin'

let pki: Pki
let ca: Authority

beforeAll(() => {
  pki = createPki()
  ca = pki.ca()
})

afterAll(() => pki.cleanup())

/** A client certificate whose SANs are written through a config section, so a URI may hold a comma. */
function issueWithSans(sans: readonly string[]): { cert: string; key: string } {
  const key = join(pki.dir, 'forging.key')
  const csr = join(pki.dir, 'forging.csr')
  const cert = join(pki.dir, 'forging.pem')
  const ext = pki.file(
    'forging.ext',
    ['[ext]', 'extendedKeyUsage = clientAuth', 'subjectAltName = @alt', '[alt]', ...sans, ''].join(
      '\n',
    ),
  )
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' })
  openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    '/CN=guest',
    '-keyout',
    key,
    '-out',
    csr,
  ])
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-set_serial',
    '77',
    '-days',
    '1',
    '-extfile',
    ext,
    '-extensions',
    'ext',
    '-out',
    cert,
  ])
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') }
}

describe('splitAltNames', () => {
  it('splits plain entries of every type', () => {
    expect(
      splitAltNames('DNS:a.example, URI:spiffe://example.org/x, IP Address:10.0.0.1, email:a@b'),
    ).toEqual(['DNS:a.example', 'URI:spiffe://example.org/x', 'IP Address:10.0.0.1', 'email:a@b'])
  })

  it('reads a quoted entry as one, whatever it holds', () => {
    const quoted = `URI:${JSON.stringify(FORGING_URI).replace(',', '\\u002c')}, DNS:b.example`
    expect(splitAltNames(quoted)).toEqual([`URI:${FORGING_URI}`, 'DNS:b.example'])
    expect(splitAltNames('URI:"a\\"b, URI:c"')).toEqual(['URI:a"b, URI:c'])
  })

  it('returns nothing for an empty string', () => {
    expect(splitAltNames('')).toEqual([])
  })
})

describe('the client certificate of a real mTLS handshake', () => {
  it('keeps a SAN URI holding ", URI:" as one entry, forging none', async () => {
    const server = pki.issue(ca, { cn: 'localhost', dns: ['localhost'] })
    const client = issueWithSans([`URI.1 = ${FORGING_URI}`, 'DNS.1 = guest.example'])
    const tls = createServer({
      cert: server.cert,
      key: server.key,
      ca: ca.cert,
      requestCert: true,
      rejectUnauthorized: true,
    })
    const peer = new Promise<PeerCertificateFields>((resolve) => {
      tls.on('secureConnection', (socket: TLSSocket) => {
        resolve(socket.getPeerCertificate(true) as unknown as PeerCertificateFields)
        socket.end()
      })
    })
    tls.listen(0, '127.0.0.1')
    await once(tls, 'listening')
    const address = tls.address() as { port: number }
    const socket = connect({
      host: '127.0.0.1',
      port: address.port,
      servername: 'localhost',
      ca: ca.cert,
      cert: client.cert,
      key: client.key,
    })
    socket.on('error', () => {})
    const certificate = clientCertificateOf(await peer)
    socket.destroy()
    tls.close()
    expect(certificate.sanUris).toEqual([FORGING_URI])
    expect(certificate.sanDns).toEqual(['guest.example'])
    expect(certificate.commonName).toBe('guest')
  })
})
