/**
 * Listeners with `proxy_protocol`: a node:net server that reads each connection's PROXY header
 * (net/proxy-protocol.ts) before handing the connection to the listener's node:http or
 * node:https server, on either front. uWS 20.30 parses only version 2, from any peer, and cannot
 * be told to refuse a connection before it reads, so it never serves these listeners.
 *
 * A connection is closed at once (a TCP reset) when its peer is not in trusted_proxies: the
 * protocol must only be accepted from trusted sources (proxy-protocol.txt §2), and a peer that
 * is not one has no business on a listener that expects a proxy. It is closed too when the header
 * is malformed, larger than the protocol allows, or not complete within
 * limits.proxy_header_timeout. Bytes after the header (the request, or the TLS ClientHello) are
 * put back on the socket for the server to read: the header comes before TLS.
 */
import { Server as NetServer, type Socket } from 'node:net'
import { Server as TlsServer } from 'node:tls'
import type { Logger } from 'pino'
import type { TrustedProxies } from '../net/trusted-proxies.js'
import { parseProxyHeader } from '../net/proxy-protocol.js'

/** What the acceptor reads of the running config generation at each connection. */
export interface ProxyProtocolSettings {
  readonly trustedProxies: TrustedProxies | null
  readonly proxyHeaderTimeoutMs: number
  readonly logger: Logger
}

/**
 * The client address each accepted connection's header named (its peer's for LOCAL and
 * UNKNOWN), for the front to read per request. node:https wraps the accepted socket in a
 * TLSSocket the front sees instead; both report the same peer address and port, which tell one
 * open connection of the listener from another.
 */
export class ProxiedConnections {
  readonly #byEndpoint = new Map<string, string>()
  readonly #bySocket = new WeakMap<Socket, string>()

  add(socket: Socket, client: string): void {
    const endpoint = endpointOf(socket)
    this.#byEndpoint.set(endpoint, client)
    this.#bySocket.set(socket, client)
    socket.once('close', () => this.#byEndpoint.delete(endpoint))
  }

  /** The client address of the connection `socket` (accepted or its TLS socket); '' if unknown. */
  clientOf(socket: Socket): string {
    let client = this.#bySocket.get(socket)
    if (client === undefined) {
      client = this.#byEndpoint.get(endpointOf(socket))
      if (client === undefined) return ''
      this.#bySocket.set(socket, client)
    }
    return client
  }
}

function endpointOf(socket: Socket): string {
  return `${socket.remoteAddress ?? ''} ${socket.remotePort ?? 0}`
}

/** The peer of an accepted socket as the fronts write it (an IPv4-mapped one as IPv4). */
export function socketPeer(socket: Socket): string {
  const address = socket.remoteAddress ?? ''
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

/** A server that admits trusted peers' connections to `target` once their header is read. */
export function createProxyProtocolServer(
  target: NetServer,
  settings: () => ProxyProtocolSettings,
  connections: ProxiedConnections,
): NetServer {
  // A TLS server reads through the TLSSocket it wraps the connection in; a plain one must be
  // resumed to read what the header reader put back.
  const resume = !(target instanceof TlsServer)
  return new NetServer((socket) => {
    const current = settings()
    const peer = socketPeer(socket)
    if (current.trustedProxies === null || !current.trustedProxies.trusts(peer)) {
      current.logger.debug({ peer }, 'PROXY protocol connection from an untrusted peer refused')
      socket.resetAndDestroy()
      return
    }
    readHeader(socket, peer, current, (client) => {
      connections.add(socket, client)
      target.emit('connection', socket)
      if (resume) socket.resume()
    })
  })
}

function readHeader(
  socket: Socket,
  peer: string,
  settings: ProxyProtocolSettings,
  admit: (client: string) => void,
): void {
  let received: Buffer | null = null
  const refuse = (reason: string): void => {
    cleanUp()
    settings.logger.debug({ peer, reason }, 'PROXY protocol connection refused')
    socket.destroy()
  }
  const timer = setTimeout(
    () => refuse('no complete PROXY header within limits.proxy_header_timeout'),
    settings.proxyHeaderTimeoutMs,
  )
  const onData = (chunk: Buffer): void => {
    received = received === null ? chunk : Buffer.concat([received, chunk])
    const header = parseProxyHeader(received)
    if (header.state === 'incomplete') return
    if (header.state === 'invalid') return refuse(header.reason)
    cleanUp()
    socket.pause()
    if (received.length > header.length) socket.unshift(received.subarray(header.length))
    admit(header.source ?? peer)
  }
  const onError = (): void => cleanUp()
  const cleanUp = (): void => {
    clearTimeout(timer)
    socket.off('data', onData)
    socket.off('error', onError)
    socket.off('end', onEnd)
  }
  const onEnd = (): void => refuse('the connection ended before its PROXY header')
  socket.on('data', onData)
  socket.on('error', onError)
  socket.on('end', onEnd)
}
