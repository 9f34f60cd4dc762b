/**
 * The node:http front (`--front node`), and the base of listeners uWS cannot serve (mutual TLS:
 * uWS 20.30 cannot request a client certificate). Same exchange, same request path as the uWS
 * front; llhttp parses, so malformed framing gets a 400 here, and `Expect: 100-continue` is
 * answered only once the route has accepted the declared length.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { Server as NetServer, Socket } from 'node:net'
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls'
import { performance } from 'node:perf_hooks'
import type { Duplex } from 'node:stream'
import {
  PortcullisError,
  REJECT,
  REJECT_HEAD,
  rejectionBody,
  rejectionContentType,
  type Rejection,
} from '../errors.js'
import { handleRequest } from '../gateway/request-path.js'
import type { Runtime } from '../gateway/runtime.js'
import { Exchange, type BodySink, type ListenerKind } from '../gateway/exchange.js'
import type { BoundListener, Front, FrontListener, StatusAnswer, StatusProbe } from './front.js'
import { completeHead, recordHeader } from './request-head.js'
import { newRequestId } from './request-id.js'
import { splitTarget } from '../gateway/normalize-path.js'
import { handleNodeUpgrade } from './websocket-node.js'
import {
  createProxyProtocolServer,
  ProxiedConnections,
  socketPeer,
} from './proxy-protocol-server.js'
import { NODE_TLS_PROFILE } from '../tls/profile.js'
import { contextOf, type ServerTls } from '../tls/server-tls.js'
import { SniTable } from '../tls/sni.js'
import { admitPeerCertificate, peerCertificateOf } from '../tls/peer-certificate.js'

/** Sockets whose connection was answered with a closing rejection. */
const CLOSING = new WeakSet<object>()

class NodeExchange extends Exchange {
  readonly #req: IncomingMessage
  readonly #res: ServerResponse
  #sink: BodySink | null = null
  #bodyTimer: NodeJS.Timeout | null = null

  constructor(runtime: Runtime, listener: ListenerKind, req: IncomingMessage, res: ServerResponse) {
    super(runtime, listener)
    this.#req = req
    this.#res = res
  }

  reject(rejection: Rejection, close = false): void {
    if (this.aborted || this.headSent) return
    this.headSent = true
    this.status = rejection.status
    this.#clearTimer()
    const res = this.#res
    const headers: string[] = [...rejection.headers]
    if (this.responseHeaders !== null) headers.push(...this.responseHeaders)
    headers.push('x-request-id', this.requestId)
    // A 204 (a preflight's answer, errors.ts createEmptyAnswer) has no content.
    const body = rejection.status === 204 ? '' : rejectionBody(rejection, this.requestId)
    if (body !== '') {
      const length = Buffer.byteLength(body)
      headers.push(
        'content-type',
        rejectionContentType(rejection),
        'content-length',
        String(length),
      )
      // node:http sends no content in answer to HEAD (RFC 9110 §9.3.2), only its length.
      if (this.method !== 'HEAD') this.responseBytes = length
    }
    // A body we will not read must not be parsed as the next request: close instead.
    if (close || (this.contentLength !== 0 && !this.#req.complete) || this.runtime.state.draining) {
      headers.push('connection', 'close')
      res.shouldKeepAlive = false
      // llhttp may already have parsed requests pipelined behind this one; none may be served.
      CLOSING.add(this.#req.socket)
    }
    res.writeHead(rejection.status, headers)
    if (body === '') res.end()
    else res.end(body)
  }

  writeHead(status: number, headers: readonly string[], contentLength: number): void {
    this.headSent = true
    this.status = status
    const out = headers as string[]
    if (contentLength >= 0) out.push('content-length', String(contentLength))
    if (this.runtime.state.draining) {
      out.push('connection', 'close')
      this.#res.shouldKeepAlive = false
    }
    this.#res.writeHead(status, out)
  }

  writeBody(chunk: Buffer): boolean {
    if (this.aborted) return true
    this.responseBytes += chunk.length
    if (this.#res.write(chunk)) return true
    this.#res.once('drain', () => this.upstreamCall?.onClientWritable())
    return false
  }

  endResponse(): void {
    if (!this.aborted) this.#res.end()
  }

  destroy(): void {
    this.#res.destroy()
  }

  readBody(sink: BodySink): void {
    this.#sink = sink
    const req = this.#req
    req.on('data', (chunk: Buffer) => {
      this.requestBytes += chunk.length
      sink.onBodyChunk(chunk)
    })
    req.on('end', () => {
      this.#clearTimer()
      sink.onBodyEnd()
    })
    this.#bodyTimer = setTimeout(() => {
      this.#bodyTimer = null
      if (!this.headSent) this.bodyTimedOut(REJECT.requestTimeout)
    }, this.runtime.requestTimeoutMs)
    // RFC 9110 §10.1.1: the client waits for this before sending a body we have now accepted.
    if (this.expectContinue) this.#res.writeContinue()
  }

  pauseBody(): void {
    this.#req.pause()
  }

  resumeBody(): void {
    this.#req.resume()
  }

  onResponseClosed(): void {
    this.#clearTimer()
    if (!this.#res.writableFinished) {
      this.aborted = true
      this.upstreamCall?.onClientAbort()
      const sink = this.#sink as { destroy?: (e: Error) => void } | null
      sink?.destroy?.(new Error('client aborted'))
    }
    this.finish()
  }

  #clearTimer(): void {
    if (this.#bodyTimer !== null) {
      clearTimeout(this.#bodyTimer)
      this.#bodyTimer = null
    }
  }
}

export class NodeFront implements Front {
  readonly description = 'node (node:http, llhttp)'
  #runtime: Runtime
  readonly #servers: { readonly listening: NetServer; readonly http: Server }[] = []
  readonly #tls = new Map<ListenerKind, TlsEntry>()

  constructor(runtime: Runtime) {
    this.#runtime = runtime
  }

  setRuntime(runtime: Runtime): void {
    this.#runtime = runtime
  }

  listen(listener: FrontListener): Promise<BoundListener> {
    const options = {
      maxHeaderSize: this.#runtime.maxHeaderBytes,
      // Checked by the gateway, so the 400 carries the JSON body and the request id.
      requireHostHeader: false,
      // The gateway enforces its own body timeout (limits.request_timeout) per request.
      requestTimeout: 0,
      keepAliveTimeout: 5000,
    }
    // proxy_protocol: the client address of each connection, read from its PROXY header.
    const proxied = listener.proxyProtocol === true ? new ProxiedConnections() : null
    const handler = (req: IncomingMessage, res: ServerResponse) =>
      this.#onRequest(listener.kind, req, res, proxied)
    const tls = listener.tls
    let server: Server
    if (tls === null) server = createHttpServer(options, handler)
    else {
      const entry: TlsEntry = { server: null, served: new ServedTls(tls) }
      const https = createHttpsServer(
        {
          ...options,
          ...NODE_TLS_PROFILE,
          ...contextOf(tls.main, tls.clients),
          SNICallback: (name, done) => done(null, entry.served.contextFor(name)),
          // mTLS: a connection without a certificate of client_ca (or revoked by a CRL) fails
          // its handshake; no request is ever read from it.
          requestCert: tls.clients !== null,
          rejectUnauthorized: tls.clients !== null,
        },
        handler,
      )
      if (tls.clients !== null) {
        https.on('secureConnection', (socket: TLSSocket) => {
          if (!admitPeerCertificate(socket, entry.served.verifyDepth)) socket.destroy()
        })
      }
      entry.server = https
      this.#tls.set(listener.kind, entry)
      server = https
    }
    // The head is checked (routes, max_body) before the client is told to send its body.
    server.on('checkContinue', handler)
    server.on('clientError', onClientError)
    // Upgrade + Connection: upgrade requests come here instead (websocket-node.ts).
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      handleNodeUpgrade(this.#runtime, listener.kind, req, socket, head, proxied),
    )
    if (proxied === null) return this.#bind(server, listener)
    return this.#bind(
      server,
      listener,
      true,
      createProxyProtocolServer(server, () => this.#runtime, proxied),
    )
  }

  updateTls(kind: ListenerKind, tls: ServerTls): Promise<void> {
    const entry = this.#tls.get(kind)
    if (entry?.server == null) return Promise.resolve()
    try {
      const next = new ServedTls(tls)
      // Replaces the default context; open connections keep the one they were made with.
      entry.server.setSecureContext(contextOf(tls.main, tls.clients))
      entry.served = next
      return Promise.resolve()
    } catch (error) {
      return Promise.reject(error as Error)
    }
  }

  listenStatus(listener: FrontListener, probe: StatusProbe): Promise<BoundListener> {
    const write = (res: ServerResponse, answer: StatusAnswer) =>
      res.writeHead(answer.status, { 'content-type': answer.contentType }).end(answer.body)
    const server = createHttpServer((req, res) => {
      const answer = probe(req.url ?? '/', req.headers.accept ?? '')
      if (answer instanceof Promise) void answer.then((a) => write(res, a))
      else write(res, answer)
    })
    // Kept out of #servers: the status listener outlives closeListeners() (front.ts).
    return this.#bind(server, listener, false)
  }

  closeListeners(): void {
    for (const server of this.#servers.splice(0)) {
      // With proxy_protocol the header reader listens; the http server holds the connections.
      server.listening.close()
      server.http.closeIdleConnections()
    }
  }

  /** Binds `listening` (the server itself, or the PROXY header reader in front of it). */
  #bind(
    server: Server,
    listener: FrontListener,
    traffic = true,
    listening: NetServer = server,
  ): Promise<BoundListener> {
    return new Promise((resolve, reject) => {
      const fail = (error: NodeJS.ErrnoException) =>
        reject(
          new PortcullisError(
            'PCL_ERR_LISTEN',
            `cannot listen on ${listener.host}:${listener.port}: ${error.code ?? error.message}`,
          ),
        )
      listening.once('error', fail)
      listening.listen(listener.port, listener.host, () => {
        listening.off('error', fail)
        if (traffic) this.#servers.push({ listening, http: server })
        const address = listening.address()
        resolve({
          host: listener.host,
          port: typeof address === 'object' && address !== null ? address.port : listener.port,
        })
      })
    })
  }

  #onRequest(
    kind: ListenerKind,
    req: IncomingMessage,
    res: ServerResponse,
    proxied: ProxiedConnections | null,
  ): void {
    if (CLOSING.has(req.socket)) {
      req.socket.destroy()
      return
    }
    const exchange = new NodeExchange(this.#runtime, kind, req, res)
    exchange.startedAt = performance.now()
    exchange.method = req.method ?? 'GET'
    const target = splitTarget(req.url ?? '/')
    const raw = req.rawHeaders
    for (let i = 0; i < raw.length; i += 2)
      recordHeader(exchange, raw[i]!.toLowerCase(), raw[i + 1]!)
    if ('status' in target) exchange.invalid = target
    else {
      exchange.rawPath = target.path
      exchange.query = target.query
      // RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host; with neither,
      // an HTTP/1.1 request is a 400 (§3.2).
      if (target.authority !== null) exchange.host = target.authority.replace(/:\d*$/, '')
      else if (exchange.hostHeader === '' && req.httpVersion === '1.1') {
        exchange.invalid ??= REJECT_HEAD.missingHost
      }
    }
    completeHead(exchange)
    const peer = socketPeer(req.socket)
    exchange.peerAddress = peer
    exchange.clientAddress = proxied === null ? peer : proxied.clientOf(req.socket) || peer
    if (kind === 'mtls') exchange.clientCertificate = peerCertificateOf(req.socket)
    res.on('close', () => exchange.onResponseClosed())
    handleRequest(exchange)
  }
}

/** A TLS listener's server and what it serves now (replaced whole on a reload). */
interface TlsEntry {
  server: HttpsServer | null
  served: ServedTls
}

/** The SNI contexts of one TLS listener, replaced whole on a reload. */
class ServedTls {
  readonly verifyDepth: number
  readonly #table: SniTable<SecureContext>

  constructor(tls: ServerTls) {
    this.verifyDepth = tls.clients?.verifyDepth ?? 0
    this.#table = new SniTable(
      tls.sni.map(({ hosts, pair }) => ({
        hosts,
        // Each SNI context verifies clients too: OpenSSL verifies with the chosen context's store.
        value: createSecureContext({ ...NODE_TLS_PROFILE, ...contextOf(pair, tls.clients) }),
      })),
    )
  }

  /** undefined: the server's default context. */
  contextFor(serverName: string): SecureContext | undefined {
    return this.#table.size === 0 ? undefined : this.#table.find(serverName)
  }
}

const CLIENT_ERRORS: Record<string, [number, Rejection]> = {
  HPE_HEADER_OVERFLOW: [431, REJECT.headersTooLarge],
}

/** llhttp refused the request head: answer with our JSON error instead of a bare 400. */
function onClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const [status, rejection] = CLIENT_ERRORS[error.code ?? ''] ?? [400, REJECT.badRequest]
  const body = rejectionBody(rejection, newRequestId())
  socket.end(
    `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  )
}
