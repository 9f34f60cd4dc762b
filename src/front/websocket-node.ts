/**
 * WebSocket on the node front: bridged at the byte level. node:http hands the client's socket
 * over at the 'upgrade' event; the handshake goes through the same checks and stages as any
 * request (request-path.ts handleUpgrade), then to the upstream (proxy/websocket.ts). Once the
 * upstream has answered 101, its answer is written to the client and the two sockets are piped
 * into each other, with pipe's backpressure both ways, until either closes.
 *
 * The gateway never parses a frame here, unlike the uws front which relays messages
 * (websocket-uws.ts): extensions such as permessage-deflate are negotiated end to end, there is
 * no per-message size limit, close codes pass untouched, and a shutdown cannot send a close frame
 * (it would land inside whatever frame is passing): a tunnel counts as in flight and runs until
 * the drain grace is over.
 */
import { peerCertificateOf } from '../tls/peer-certificate.js'
import { STATUS_CODES, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { Duplex } from 'node:stream'
import { rejectionBody, rejectionContentType, type Rejection } from '../errors.js'
import { clientResponseHeaders } from '../proxy/headers.js'
import { REJECT_WEBSOCKET, type IncomingHeaders, type TunnelClient } from '../proxy/websocket.js'
import { handleUpgrade } from '../gateway/request-path.js'
import type { Runtime } from '../gateway/runtime.js'
import { Exchange, type BodySink, type ListenerKind } from '../gateway/exchange.js'
import { splitTarget } from '../gateway/normalize-path.js'
import { completeHead, recordHeader } from './request-head.js'
import { socketPeer, type ProxiedConnections } from './proxy-protocol-server.js'

/** The 'upgrade' listener of a node:http(s) server. */
export function handleNodeUpgrade(
  runtime: Runtime,
  kind: ListenerKind,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  proxied: ProxiedConnections | null,
): void {
  // node:http hands over the net.Socket (tls.TLSSocket on https) it parsed the head from.
  const client = socket as Socket
  const exchange = new NodeUpgradeExchange(runtime, kind, client, head)
  if (kind === 'mtls') exchange.clientCertificate = peerCertificateOf(client)
  exchange.startedAt = performance.now()
  exchange.method = req.method ?? 'GET'
  const target = splitTarget(req.url ?? '/')
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    recordHeader(exchange, raw[i]!.toLowerCase(), raw[i + 1]!)
  }
  if ('status' in target) exchange.invalid = target
  else {
    exchange.rawPath = target.path
    exchange.query = target.query
    // RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host.
    if (target.authority !== null) exchange.host = target.authority.replace(/:\d*$/, '')
  }
  // RFC 6455 §4.1: the handshake is HTTP/1.1 (llhttp also reports upgrades of HTTP/1.0).
  if (req.httpVersion !== '1.1') exchange.invalid ??= REJECT_WEBSOCKET.notHttp11
  completeHead(exchange)
  const peer = socketPeer(client)
  exchange.peerAddress = peer
  exchange.clientAddress = proxied === null ? peer : proxied.clientOf(client) || peer
  handleUpgrade(exchange)
}

/**
 * Most bytes a client may send before the upstream has answered its handshake. RFC 6455 §4.1
 * has it wait for the answer; they are kept for the upstream, but no more than this.
 */
const EARLY_BYTES_LIMIT = 64 * 1024

class NodeUpgradeExchange extends Exchange implements TunnelClient {
  readonly splicesBytes = true
  readonly #client: Socket
  /** What the client sent after its handshake, until the tunnel opens: frames for the upstream. */
  readonly #early: Buffer[] = []
  #earlyBytes = 0
  #upstream: Socket | null = null
  /** Sockets of the tunnel still open; the exchange ends when both are closed. */
  #open = 0

  constructor(runtime: Runtime, listener: ListenerKind, client: Socket, head: Buffer) {
    super(runtime, listener)
    this.#client = client
    // node:http leaves the socket without listeners after 'upgrade': an error would throw.
    client.on('error', this.#onClientError)
    client.on('close', this.#onClientClose)
    // Read while the upstream handshake runs: a socket nobody reads never reports that the
    // client has gone, and the handshake would go on for nobody.
    if (head.length > 0) this.#onEarlyData(head)
    client.on('data', this.#onEarlyData)
    client.on('end', this.#onEarlyEnd)
  }

  readonly #onEarlyData = (chunk: Buffer): void => {
    this.#earlyBytes += chunk.length
    if (this.#earlyBytes > EARLY_BYTES_LIMIT) this.#client.destroy()
    else this.#early.push(chunk)
  }

  readonly #onEarlyEnd = (): void => {
    // Half-closed before the answer: nobody will read the tunnel.
    this.#client.destroy()
  }

  reject(rejection: Rejection, _close?: boolean): void {
    if (this.aborted || this.headSent) return
    this.headSent = true
    this.status = rejection.status
    const body = rejectionBody(rejection, this.requestId)
    let head = `HTTP/1.1 ${rejection.status} ${STATUS_CODES[rejection.status] ?? 'Unknown'}\r\n`
    head += headerLines(rejection.headers)
    if (this.responseHeaders !== null) head += headerLines(this.responseHeaders)
    head += `content-type: ${rejectionContentType(rejection)}\r\nx-request-id: ${this.requestId}\r\n`
    // Whatever follows a refused upgrade on this connection is not HTTP we could trust.
    const length = Buffer.byteLength(body)
    head += `content-length: ${length}\r\nconnection: close\r\n\r\n`
    this.responseBytes = length
    this.#client.write(head + body)
    // Closed once written, whether or not the client closes its side.
    this.#client.destroySoon()
    this.finish()
  }

  /** The upstream's refusal of the handshake, passed on (proxy/websocket.ts). */
  writeHead(status: number, headers: readonly string[], contentLength: number): void {
    this.headSent = true
    this.status = status
    // Field values are latin1, one char per byte as the upstream sent them (obs-text).
    this.#client.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n${headerLines(headers)}` +
        `content-length: ${contentLength}\r\nconnection: close\r\n\r\n`,
      'latin1',
    )
  }

  writeBody(chunk: Buffer): boolean {
    if (this.aborted) return true
    this.responseBytes += chunk.length
    return this.#client.write(chunk)
  }

  endResponse(): void {
    if (!this.aborted) this.#client.destroySoon()
    this.finish()
  }

  destroy(): void {
    this.#client.destroy()
  }

  readBody(sink: BodySink): void {
    // checkHandshake refuses a handshake with a body: there is never one to read.
    sink.onBodyEnd()
  }

  pauseBody(): void {}

  resumeBody(): void {}

  onUpstreamOpen(socket: Duplex, headers: IncomingHeaders): void {
    const upstream = socket as Socket
    if (this.aborted) {
      upstream.destroy()
      return
    }
    this.headSent = true
    this.status = 101
    // The upstream's Sec-WebSocket-Accept/Protocol/Extensions (and cookies…) go to the client,
    // which checks them against its own key and offer; Upgrade and Connection are rewritten.
    const out = clientResponseHeaders(this, headers)
    const client = this.#client
    client.write(
      'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' +
        `${headerLines(out)}\r\n`,
      'latin1',
    )
    this.#upstream = upstream
    this.#open = 2
    upstream.on('error', this.#onUpstreamError)
    upstream.on('close', this.#onUpstreamClose)
    client.off('data', this.#onEarlyData)
    client.off('end', this.#onEarlyEnd)
    for (const chunk of this.#early) upstream.write(chunk)
    this.#early.length = 0
    // A WebSocket has no use for half a connection (RFC 6455 §7.1.1): when the client ends its
    // side, the tunnel ends (pipe passes the end on to the upstream, whose socket does the same).
    client.allowHalfOpen = false
    client.pipe(upstream)
    upstream.pipe(client)
  }

  // The 'close' that follows an error tears the tunnel down; the first cause goes to the log.
  readonly #onClientError = (error: NodeJS.ErrnoException): void => {
    this.errorDetail ??= `client: ${error.code ?? error.message}`
  }

  readonly #onUpstreamError = (error: NodeJS.ErrnoException): void => {
    this.errorDetail ??= `upstream: ${error.code ?? error.message}`
  }

  readonly #onClientClose = (): void => {
    const upstream = this.#upstream
    if (upstream === null) {
      // Gone before the tunnel opened: stop the upstream handshake.
      if (!this.headSent) {
        this.aborted = true
        this.upstreamCall?.onClientAbort()
      }
      this.finish()
      return
    }
    // Let what the client sent last (its close frame) reach the upstream, then close.
    upstream.destroySoon()
    this.#tunnelSocketClosed()
  }

  readonly #onUpstreamClose = (): void => {
    this.#client.destroySoon()
    this.#tunnelSocketClosed()
  }

  #tunnelSocketClosed(): void {
    if (--this.#open > 0) return
    this.requestBytes = this.#client.bytesRead
    this.responseBytes = this.#client.bytesWritten
    this.finish()
  }
}

function headerLines(headers: readonly string[]): string {
  let out = ''
  for (let i = 0; i < headers.length; i += 2) out += `${headers[i]!}: ${headers[i + 1]!}\r\n`
  return out
}
