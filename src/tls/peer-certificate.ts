/**
 * The client certificate of a mutual-TLS connection, read once when its handshake completes and
 * kept on the socket: every request of the connection shares it (a connection's certificate
 * cannot change; node:tls refuses renegotiation on servers by default).
 */
import type { TLSSocket } from 'node:tls'
import type { Socket } from 'node:net'
import { clientCertificateOf, type ClientCertificate } from './client-certificate.js'

const CERTIFICATE = Symbol('portcullis.clientCertificate')

type Marked = Socket & { [CERTIFICATE]?: ClientCertificate }

/**
 * Checks the verified chain's length against `verifyDepth` (node:tls has no verify-depth option:
 * the chain node:tls verified is walked here, before any request of the connection is read) and
 * keeps the certificate on the socket. False: the connection must be closed.
 */
export function admitPeerCertificate(socket: TLSSocket, verifyDepth: number): boolean {
  const peer = socket.getPeerCertificate(true)
  if (peer.raw === undefined) return false
  // Certificates above the client's, up to the self-signed trust anchor.
  let above = 0
  let certificate = peer
  while (
    certificate.issuerCertificate !== undefined &&
    certificate.issuerCertificate !== certificate &&
    certificate.issuerCertificate.fingerprint256 !== certificate.fingerprint256
  ) {
    above++
    certificate = certificate.issuerCertificate
  }
  // The anchor is not an intermediate; a chain ending at a non-self-signed anchor counts it too.
  const intermediates = Math.max(0, above - 1)
  if (intermediates > verifyDepth) return false
  ;(socket as Marked)[CERTIFICATE] = clientCertificateOf({
    raw: peer.raw,
    // node's Certificate type lists a few RDNs as optional fields; it is a string record.
    subject: peer.subject as unknown as Readonly<Record<string, string | string[]>>,
    subjectaltname: peer.subjectaltname,
  })
  return true
}

/** The certificate admitPeerCertificate kept for this connection, or null. */
export function peerCertificateOf(socket: Socket): ClientCertificate | null {
  return (socket as Marked)[CERTIFICATE] ?? null
}
