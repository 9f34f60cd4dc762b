/**
 * HTTPS requests to a gateway's TLS listeners with everything a TLS test sets: the server name
 * (SNI), the CA to trust, a client certificate, the protocol versions. Each request opens its own
 * connection unless an agent is given, and reports the certificate the server presented.
 */
import { Agent, request } from 'node:https'
import type { IncomingHttpHeaders } from 'node:http'
import type { PeerCertificate, SecureVersion, TLSSocket } from 'node:tls'

export interface TlsRequestOptions {
  readonly port: number
  readonly path?: string
  readonly method?: string
  readonly body?: string
  /** SNI and Host; default: none sent (an IP address), Host 127.0.0.1. */
  readonly servername?: string
  /** Trusted CA (PEM); default: any certificate is accepted. */
  readonly ca?: string
  /** Client certificate chain and key (PEM). */
  readonly cert?: string
  readonly key?: string
  readonly minVersion?: SecureVersion
  readonly maxVersion?: SecureVersion
  readonly ciphers?: string
  readonly agent?: Agent
  readonly timeoutMs?: number
}

export interface TlsResult {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
  /** The server certificate's subject CN. */
  readonly serverCn: string | undefined
  /** TLS version and ALPN protocol of the connection. */
  readonly protocol: string | null
  readonly alpn: string | false
}

/** Rejects when the handshake or the request fails (a refused client certificate, a cut). */
export function tlsRequest(options: TlsRequestOptions): Promise<TlsResult> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: options.port,
      path: options.path ?? '/',
      method: options.method ?? 'GET',
      agent: options.agent ?? false,
      headers: { host: options.servername ?? '127.0.0.1' },
      ...(options.servername === undefined ? {} : { servername: options.servername }),
      ...(options.ca === undefined ? { rejectUnauthorized: false } : { ca: options.ca }),
      ...(options.cert === undefined ? {} : { cert: options.cert, key: options.key }),
      ...(options.minVersion === undefined ? {} : { minVersion: options.minVersion }),
      ...(options.maxVersion === undefined ? {} : { maxVersion: options.maxVersion }),
      ...(options.ciphers === undefined ? {} : { ciphers: options.ciphers }),
      // The CA's certificates name test hosts, not 127.0.0.1: trust is what is tested here.
      checkServerIdentity: () => undefined,
    })
    const timer = setTimeout(
      () => req.destroy(new Error('TLS request timed out')),
      options.timeoutMs ?? 10_000,
    )
    req.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    req.on('response', (res) => {
      const socket = res.socket as TLSSocket
      const peer: PeerCertificate = socket.getPeerCertificate()
      const protocol = socket.getProtocol()
      const alpn = socket.alpnProtocol
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
      res.on('end', () => {
        clearTimeout(timer)
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          serverCn: [peer.subject?.CN].flat().at(-1),
          protocol,
          alpn: alpn ?? false,
        })
      })
    })
    req.end(options.body)
  })
}
