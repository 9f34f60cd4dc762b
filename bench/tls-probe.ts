/**
 * What a TLS target negotiates, read once before any load: protocol, cipher, key-exchange group,
 * ALPN and the server key, so a comparison of two servers shows they did the same work. The client
 * is node:tls with OpenSSL's default offers (every TLS 1.3 suite, X25519 first), as the loaders
 * (wrk, `openssl s_time`, autocannon) make them.
 */
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { connect, type ConnectionOptions } from 'node:tls'
import { Agent } from 'undici'
import type { TargetTls } from './scenarios/types.js'

const TIMEOUT_MS = 5000

/** node:tls options of a connection to a TLS target, verifying its certificate. */
function connectOptions(tls: TargetTls): ConnectionOptions {
  return {
    ca: readFileSync(tls.caFile),
    servername: tls.servername,
    ALPNProtocols: ['http/1.1'],
    ...(tls.client === undefined
      ? {}
      : { cert: readFileSync(tls.client.certFile), key: readFileSync(tls.client.keyFile) }),
  }
}

/** An undici dispatcher for the probe requests of a TLS target. */
export function tlsDispatcher(tls: TargetTls): Agent {
  return new Agent({ connect: connectOptions(tls) })
}

/** `RSA-2048`, `EC P-256`: the server certificate's key. */
function keyOf(certificate: X509Certificate | undefined): string {
  const key = certificate?.publicKey
  if (key === undefined) return 'no certificate'
  const details = key.asymmetricKeyDetails
  if (key.asymmetricKeyType === 'rsa') return `RSA-${details?.modulusLength ?? '?'}`
  if (key.asymmetricKeyType === 'ec') return `EC ${details?.namedCurve ?? '?'}`
  return key.asymmetricKeyType ?? '?'
}

/** What one handshake settled. */
export interface Negotiated {
  /** What the server's handshake costs depend on: `TLSv1.3 TLS_AES_256_GCM_SHA384, X25519, server
   * key EC prime256v1`. Two gateways compared on one target must agree on it. */
  readonly params: string
  /** The ALPN protocol chosen, or `none`: it does not change the cost. */
  readonly alpn: string
}

/** One handshake with the target at `host:port`, and what it settled. */
export function negotiated(host: string, port: number, tls: TargetTls): Promise<Negotiated> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, ...connectOptions(tls) })
    socket.setTimeout(TIMEOUT_MS, () => socket.destroy(new Error('TLS probe timed out')))
    socket.once('error', reject)
    socket.once('secureConnect', () => {
      const group = socket.getEphemeralKeyInfo()
      const groupName = group !== null && 'name' in group ? group.name : undefined
      const params =
        `${socket.getProtocol() ?? '?'} ${socket.getCipher().standardName}, ` +
        `${groupName ?? 'no ephemeral key'}, server key ${keyOf(socket.getPeerX509Certificate())}`
      socket.end()
      resolve({ params, alpn: socket.alpnProtocol || 'none' })
    })
  })
}
