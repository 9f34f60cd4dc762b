/**
 * The uWebSockets.js front: native HTTP/1.1 parsing and TLS (OpenSSL) in C++, one App per
 * listener, every worker binding the same port (uSockets sets SO_REUSEPORT).
 *
 * uWS request objects live only during the synchronous handler, so the handler copies what the
 * pipeline needs into a {@link UwsExchange} at once. Writes from later callbacks are corked so a
 * response head and its body leave in one syscall.
 *
 * Known limits of uWS 20.30, documented in docs/architecture.md: it answers `Expect: 100-continue`
 * itself before the handler runs, closes the connection without a status on malformed framing,
 * and refuses HTTP/1.0.
 */
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js'
import {
  PortcullisError,
  REJECT,
  rejectionBody,
  rejectionContentType,
  type Rejection,
} from '../errors.js'
import { handleRequest } from '../gateway/request-path.js'
import type { Runtime } from '../gateway/runtime.js'
import {
  Exchange,
  isBodylessResponse,
  type BodySink,
  type ListenerKind,
} from '../gateway/exchange.js'
import type { UwsModule } from './load-uws.js'
import { statusLine, writeFields } from './uws-head.js'
import type { UwsDirect } from './uws-direct.js'
import { UwsHeadReader } from './uws-request.js'
import type { BoundListener, Front, FrontListener, StatusAnswer, StatusProbe } from './front.js'
import { NodeFront } from './node.js'
import { TunnelDrainWatch, webSocketBehavior } from './websocket-uws.js'
import { TLS12_CIPHERS } from '../tls/profile.js'
import type { KeyPair, ServerTls } from '../tls/server-tls.js'

/** Bytes of request body held while no sink reads them yet, before the client is paused. */
const QUEUE_PAUSE_BYTES = 64 * 1024

const TASK_CHUNK = 1
const TASK_END = 2
const TASK_REJECT = 3

class UwsExchange extends Exchange {
  readonly #res: HttpResponse
  #sink: BodySink | null = null
  #queue: Buffer[] | null = null
  #queuedBytes = 0
  #bodyDone = false
  #paused = false
  #bodyTimer: NodeJS.Timeout | null = null
  #headWritten = false
  #statusLine = ''
  #head: readonly string[] = []
  #total = -1
  #noBody = false
  #pending: Buffer | null = null
  #pendingBase = 0
  #task = 0
  #taskChunk: Buffer | null = null
  #taskRejection: Rejection | null = null
  #taskBody = ''
  #taskClose = false
  #taskResult = true
  /** The chunk of the running task is a view, valid only during the call: keep a copy. */
  #viewChunk = false

  constructor(runtime: Runtime, listener: ListenerKind, res: HttpResponse) {
    super(runtime, listener)
    this.#res = res
  }

  readonly onAborted = (): void => {
    this.aborted = true
    this.#clearBodyTimer()
    this.upstreamCall?.onClientAbort()
    const sink = this.#sink as { destroy?: (e: Error) => void } | null
    sink?.destroy?.(new Error('client aborted'))
    this.finish()
  }

  handleData(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.aborted) return
    const sink = this.#sink
    if (sink === null) {
      // Answered before the body was read (a rejection): uWS still reads the rest of the body to
      // reach the next request, and the response may no longer be touched, so it is dropped.
      if (this.finished) return
      // No reader yet (a stage is still deciding): keep a copy, the ArrayBuffer dies with the call.
      ;(this.#queue ??= []).push(Buffer.from(new Uint8Array(chunk)))
      this.#queuedBytes += chunk.byteLength
      if (this.#queuedBytes > QUEUE_PAUSE_BYTES) this.pauseBody()
      if (isLast) this.#bodyDone = true
    } else {
      this.requestBytes += chunk.byteLength
      sink.onBodyChunk(Buffer.from(chunk))
      if (isLast) this.#endBody(sink)
    }
  }

  #onBodyTimeout(): void {
    this.#bodyTimer = null
    if (!this.headSent) this.bodyTimedOut(REJECT.requestTimeout)
  }

  #writableHandler: ((offset: number) => boolean) | null = null
  #whenWritable(): (offset: number) => boolean {
    return (this.#writableHandler ??= (offset) => this.#onWritable(offset))
  }

  #onWritable(offset: number): boolean {
    const pending = this.#pending
    if (pending === null) {
      this.upstreamCall?.onClientWritable()
      return true
    }
    const [ok, done] = this.#res.tryEnd(pending.subarray(offset - this.#pendingBase), this.#total)
    if (done) this.#completed()
    else if (ok) {
      this.#pending = null
      this.upstreamCall?.onClientWritable()
    }
    return ok
  }

  readonly #runTask = (): void => {
    const res = this.#res
    if (this.#task === TASK_REJECT) {
      const rejection = this.#taskRejection!
      res.writeStatus(statusLine(rejection.status))
      writeFields(res, rejection.headers)
      const extra = this.responseHeaders
      if (extra !== null) writeFields(res, extra)
      res.writeHeader('x-request-id', this.requestId)
      const body = this.#taskBody
      if (body === '') {
        // A 204 (a preflight's answer, errors.ts createEmptyAnswer): no content and no length
        // (RFC 9110 §8.6), except when the connection must close: uWS 20.30 closes only after a
        // length it writes itself (see below), and 0 is the one that frames nothing.
        if (this.#taskClose) res.endWithoutBody(0, true)
        else res.endWithoutBody()
        return
      }
      res.writeHeader('content-type', rejectionContentType(rejection))
      if (this.method !== 'HEAD') res.end(body, this.#taskClose)
      else if (this.#taskClose) {
        // uWS 20.30 closes after a bodyless answer only with a length it writes itself, and
        // never completes one whose length is not 0 (see TASK_END): 0 is the one it can close on.
        res.endWithoutBody(0, true)
      } else {
        // RFC 9110 §9.3.2: the head a GET would get, without its content.
        res.writeHeader('content-length', String(Buffer.byteLength(body)))
        res.endWithoutBody()
      }
      return
    }
    if (!this.#headWritten) {
      this.#headWritten = true
      res.writeStatus(this.#statusLine)
      writeFields(res, this.#head)
      if (this.#noBody && this.#total >= 0) res.writeHeader('content-length', String(this.#total))
    }
    if (this.#task === TASK_CHUNK) {
      const chunk = this.#taskChunk!
      this.#taskChunk = null
      const total = this.#total
      if (total >= 0) {
        // Body bytes already written: every earlier chunk went out whole before this one came.
        const base = this.responseBytes - chunk.length
        if (base === 0 && chunk.length === total) {
          // The whole body at once: end() keeps what the socket does not take now, and costs no
          // [ok, done] array (tryEnd builds one per call).
          res.end(chunk)
          this.#completed()
          this.#taskResult = true
          return
        }
        const [ok, done] = res.tryEnd(chunk, total)
        if (done) this.#completed()
        else if (!ok) {
          this.#pending = this.#viewChunk ? Buffer.from(chunk) : chunk
          this.#pendingBase = base
          res.onWritable(this.#whenWritable())
        }
        this.#taskResult = ok
      } else {
        const ok = res.write(chunk)
        if (!ok) res.onWritable(this.#whenWritable())
        this.#taskResult = ok
      }
      return
    }
    // TASK_END
    if (this.#noBody) {
      // Without an argument, so that uWS writes no length of its own: uWS 20.30 turns an
      // undefined one into 2^63, and leaves a response ended with a length other than 0 pending,
      // closing the connection when the next request arrives. The length a HEAD or 304 answer
      // announces is written as a field with the head instead.
      res.endWithoutBody()
    } else if (this.#total > 0 && this.responseBytes < this.#total) {
      // The upstream ended short of its Content-Length: cut, so the client sees a truncation.
      res.close()
      return
    } else res.end()
    this.#completed()
  }

  reject(rejection: Rejection, close = false): void {
    if (this.aborted || this.headSent) return
    if (this.invalid !== null) {
      // A malformed head (ambiguous lengths, two Hosts…): uWS has already framed whatever follows
      // on this connection its own way and goes on parsing it, even after end(…, close). Only
      // closing at once keeps a smuggled request from being served, as uWS itself does for the
      // framing errors it detects.
      this.headSent = true
      this.status = rejection.status
      this.errorDetail = 'malformed request head: connection closed'
      this.#clearBodyTimer()
      this.#res.close()
      return
    }
    this.headSent = true
    this.status = rejection.status
    this.#clearBodyTimer()
    this.#task = TASK_REJECT
    this.#taskRejection = rejection
    const body = rejection.status === 204 ? '' : rejectionBody(rejection, this.requestId)
    this.#taskBody = body
    if (this.method !== 'HEAD') this.responseBytes = Buffer.byteLength(body)
    // A body we will not read must not be parsed as the next request: close instead.
    this.#taskClose =
      close || (this.contentLength !== 0 && !this.#bodyDone) || this.runtime.state.draining
    this.#res.cork(this.#runTask)
    this.finish()
  }

  writeHead(status: number, headers: readonly string[], contentLength: number): void {
    this.headSent = true
    this.status = status
    this.#statusLine = statusLine(status)
    this.#head = headers
    this.#total = contentLength
    this.#noBody = isBodylessResponse(this.method, status)
  }

  writeBody(chunk: Buffer): boolean {
    if (this.aborted || this.finished) return true
    this.responseBytes += chunk.length
    this.#task = TASK_CHUNK
    this.#taskChunk = chunk
    this.#res.cork(this.#runTask)
    return this.#taskResult
  }

  /** uWS copies what the socket does not take (end, write); only a refused tryEnd keeps it. */
  override writeBodyView(view: Buffer): boolean {
    this.#viewChunk = true
    const ok = this.writeBody(view)
    this.#viewChunk = false
    return ok
  }

  endResponse(): void {
    if (this.aborted || this.finished) return
    this.#task = TASK_END
    this.#res.cork(this.#runTask)
  }

  destroy(): void {
    if (this.aborted || this.finished) return
    this.#res.close()
  }

  readBody(sink: BodySink): void {
    this.#sink = sink
    const queue = this.#queue
    if (queue !== null) {
      this.#queue = null
      for (let i = 0; i < queue.length; i++) {
        this.requestBytes += queue[i]!.length
        sink.onBodyChunk(queue[i]!)
      }
      this.resumeBody()
    }
    if (this.#bodyDone) this.#endBody(sink)
  }

  // uWS 20.30 stops delivering body chunks for good when resume() is called on a response that
  // is not paused, so both calls are made only on a real state change.
  pauseBody(): void {
    if (this.#paused || this.aborted || this.finished || this.#bodyDone) return
    this.#paused = true
    this.#res.pause()
  }

  resumeBody(): void {
    if (!this.#paused || this.aborted || this.finished) return
    this.#paused = false
    this.#res.resume()
  }

  startBodyTimer(timeoutMs: number): void {
    this.#bodyTimer = setTimeout(() => this.#onBodyTimeout(), timeoutMs)
  }

  #endBody(sink: BodySink): void {
    this.#bodyDone = true
    this.#clearBodyTimer()
    sink.onBodyEnd()
  }

  #clearBodyTimer(): void {
    if (this.#bodyTimer !== null) {
      clearTimeout(this.#bodyTimer)
      this.#bodyTimer = null
    }
  }

  #completed(): void {
    this.#clearBodyTimer()
    this.finish()
  }
}

export class UwsFront implements Front {
  readonly #uws: UwsModule
  readonly description: string
  #runtime: Runtime
  readonly #sockets: us_listen_socket[] = []
  readonly #heads: UwsHeadReader
  readonly #tunnels = new TunnelDrainWatch()
  /** Serves the listeners with proxy_protocol (proxy-protocol-server.ts); made for the first. */
  #proxied: NodeFront | null = null
  /** The TLS listeners, for updateTls: the address bound and the app serving it now. */
  readonly #tls = new Map<
    ListenerKind,
    { listener: FrontListener; port: number; app: TemplatedApp }
  >()
  readonly #socketApps = new WeakMap<us_listen_socket, TemplatedApp>()
  readonly #retired: TemplatedApp[] = []
  #closed = false

  /** `direct`: how this front reads requests (bindUwsDirect), for the front's life. */
  constructor(uws: UwsModule, description: string, runtime: Runtime, direct: UwsDirect) {
    this.#uws = uws
    this.description = `${description}, requests read by ${direct.description}`
    this.#runtime = runtime
    this.#heads = new UwsHeadReader(direct)
  }

  setRuntime(runtime: Runtime): void {
    this.#runtime = runtime
    this.#proxied?.setRuntime(runtime)
  }

  listen(listener: FrontListener): Promise<BoundListener> {
    if (listener.proxyProtocol === true) {
      return (this.#proxied ??= new NodeFront(this.#runtime)).listen(listener)
    }
    const tls = listener.tls
    const app = tls === null ? this.#uws.App() : this.#sslApp(listener.kind, tls)
    if (tls === null) this.#route(app, listener.kind)
    return this.#bind(app, listener).then((bound) => {
      if (tls !== null) this.#tls.set(listener.kind, { listener, port: bound.port, app })
      return bound
    })
  }

  /**
   * uWS 20.30 cannot change an SSLApp's default certificate, and removing an SNI name frees the
   * router its open connections still use. So a new SSLApp binds the same port beside the old one
   * (SO_REUSEPORT), then the old listen socket closes: new connections reach the new app, and
   * the old app goes on serving the connections it has (its SSL contexts stay alive with it).
   * Those still queued on the closed socket survive only by net.ipv4.tcp_migrate_req
   * (migrate-req.ts warns at start without it).
   */
  updateTls(kind: ListenerKind, tls: ServerTls): Promise<void> {
    const entry = this.#tls.get(kind)
    // A proxy_protocol listener of this kind is served by the node front.
    if (entry === undefined) return this.#proxied?.updateTls(kind, tls) ?? Promise.resolve()
    if (this.#closed) return Promise.resolve()
    const app = this.#sslApp(kind, tls)
    const old = this.#sockets.find((s) => this.#socketApps.get(s) === entry.app)
    return this.#bind(app, { ...entry.listener, port: entry.port }).then(() => {
      if (old !== undefined) {
        this.#sockets.splice(this.#sockets.indexOf(old), 1)
        this.#uws.us_listen_socket_close(old)
      }
      // uWS.js 20.30 has no way to free an App: keep it reachable while its connections live.
      this.#retired.push(entry.app)
      entry.app = app
    })
  }

  /** An SSLApp serving `tls` (default pair, SNI pairs), routed to the gateway on every name. */
  #sslApp(kind: ListenerKind, tls: ServerTls): TemplatedApp {
    const app = this.#uws.SSLApp({ ...uwsPair(tls.main), ssl_ciphers: TLS12_CIPHERS })
    this.#route(app, kind)
    const named = new Set<string>()
    for (const { hosts, pair } of tls.sni) {
      for (const name of hosts) {
        // The first entry naming a host wins, as on the node front (tls/sni.ts).
        const host = name.toLowerCase()
        if (named.has(host)) continue
        named.add(host)
        app.addServerName(host, { ...uwsPair(pair), ssl_ciphers: TLS12_CIPHERS })
        // Each server name has its own router in uWS: route it to the gateway as well.
        this.#route(app.domain(host), kind)
      }
    }
    return app
  }

  #route(app: TemplatedApp, kind: ListenerKind): void {
    app.any('/*', (res: HttpResponse, req: HttpRequest) => this.#onRequest(kind, res, req))
    // WebSocket handshakes (websocket-uws.ts); uWS tries this route first and yields the rest.
    const runtime = (): Runtime => this.#runtime
    app.ws('/*', webSocketBehavior(this.#uws, kind, runtime, this.#heads, this.#tunnels))
  }

  listenStatus(listener: FrontListener, probe: StatusProbe): Promise<BoundListener> {
    const app = this.#uws.App()
    const write = (res: HttpResponse, answer: StatusAnswer): void => {
      res
        .writeStatus(statusLine(answer.status))
        .writeHeader('content-type', answer.contentType)
        .end(answer.body)
    }
    app.any('/*', (res: HttpResponse, req: HttpRequest) => {
      const answer = probe(req.getUrl(), req.getHeader('accept'))
      if (!(answer instanceof Promise)) return write(res, answer)
      // uWS forbids touching a response after its client left.
      let gone = false
      res.onAborted(() => (gone = true))
      void answer.then((a) => {
        if (!gone) res.cork(() => write(res, a))
      })
    })
    // Kept out of #sockets: the status listener outlives closeListeners() (front.ts).
    return this.#bind(app, listener, false)
  }

  closeListeners(): void {
    this.#closed = true
    for (const socket of this.#sockets.splice(0)) this.#uws.us_listen_socket_close(socket)
    this.#proxied?.closeListeners()
  }

  #bind(app: TemplatedApp, listener: FrontListener, traffic = true): Promise<BoundListener> {
    return new Promise((resolve, reject) => {
      app.listen(listener.host, listener.port, (socket) => {
        if (socket === false) {
          reject(
            new PortcullisError(
              'PCL_ERR_LISTEN',
              `cannot listen on ${listener.host}:${listener.port} (address in use, not local, or a port below 1024 without privilege)`,
            ),
          )
          return
        }
        if (traffic) {
          this.#sockets.push(socket)
          this.#socketApps.set(socket, app)
        }
        resolve({ host: listener.host, port: this.#uws.us_socket_local_port(socket) })
      })
    })
  }

  #onRequest(kind: ListenerKind, res: HttpResponse, req: HttpRequest): void {
    const runtime = this.#runtime
    const exchange = new UwsExchange(runtime, kind, res)
    this.#heads.copyRequestHead(exchange, res, req)
    res.onAborted(exchange.onAborted)
    if (exchange.contentLength !== 0 && exchange.invalid === null) {
      res.onData((chunk, isLast) => exchange.handleData(chunk, isLast))
      exchange.startBodyTimer(runtime.requestTimeoutMs)
    }
    handleRequest(exchange)
  }
}

/** uSockets reads the files itself (the same ones tls/server-tls.ts checked). */
function uwsPair(pair: KeyPair): {
  cert_file_name: string
  key_file_name: string
  passphrase?: string
} {
  return {
    cert_file_name: pair.certFile,
    key_file_name: pair.keyFile,
    ...(pair.passphrase === undefined ? {} : { passphrase: pair.passphrase }),
  }
}
