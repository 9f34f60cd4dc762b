/**
 * WebSocket on the uws front: bridged at the message level. uWebSockets.js 20.30 cannot hand a
 * raw socket over, so uWS terminates the client's WebSocket and the gateway is the upstream's
 * WebSocket client (proxy/websocket.ts makes the handshake, proxy/websocket-frames.ts speaks the
 * frames). Each message is relayed whole with its kind (text or binary); close codes and reasons
 * cross over (§7.4: 1005/1006 are never sent, the other side gets 1001 instead of 1006); each leg
 * answers its own pings. The node front splices bytes instead (websocket-node.ts).
 *
 * What message level adds: one message is at most {@link MAX_MESSAGE_BYTES} either way (1009
 * beyond), no extension is negotiated on either leg, and the gateway holds at most a bounded
 * backlog per tunnel. uWS 20.30 cannot pause a WebSocket's reads, so the two directions differ:
 * - upstream → client: over {@link PAUSE_BYTES} waiting for the client, the upstream socket is
 *   paused until uWS drains (TCP backpressure to the upstream); past {@link MAX_BUFFERED_BYTES}
 *   (uWS maxBackpressure) the client is too slow and is closed with 1008.
 * - client → upstream: past {@link MAX_BUFFERED_BYTES} not yet written to the upstream socket,
 *   the client is closed with 1013 (Try Again Later).
 */
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type {
  HttpRequest,
  HttpResponse,
  us_socket_context_t,
  WebSocket,
  WebSocketBehavior,
} from 'uWebSockets.js'
import { rejectionBody, rejectionContentType, type Rejection } from '../errors.js'
import { clientResponseHeaders } from '../proxy/headers.js'
import {
  CloseCode,
  encodeClose,
  encodeFrame,
  FrameDecoder,
  isSendableCloseCode,
  Opcode,
  type FrameSink,
} from '../proxy/websocket-frames.js'
import type { IncomingHeaders, TunnelClient } from '../proxy/websocket.js'
import { handleUpgrade } from '../gateway/request-path.js'
import type { Runtime } from '../gateway/runtime.js'
import { Exchange, type BodySink, type ListenerKind } from '../gateway/exchange.js'
import type { UwsModule } from './load-uws.js'
import { statusLine, writeFields } from './uws-head.js'
import type { UwsHeadReader } from './uws-request.js'

/** Largest message either way: uWS maxPayloadLength, and the upstream decoder's limit. */
const MAX_MESSAGE_BYTES = 1024 * 1024
/** Bytes waiting for the client above which the upstream is paused. */
const PAUSE_BYTES = 256 * 1024
/** Most bytes a tunnel holds for one side before it closes that side. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024
/** uWS pings a silent client and closes it after this (its default). */
const IDLE_TIMEOUT_SECONDS = 120
/** How long the upstream has to answer a close frame and close (RFC 6455 §7.1.1) before a reset. */
const CLOSE_WAIT_MS = 5000
/** How often open tunnels look at the worker's draining flag (it has no event). */
const DRAIN_POLL_MS = 250

/** uWS.WebSocket.send: the message was dropped because maxBackpressure was exceeded. */
const SEND_DROPPED = 2

/** What uWS keeps with each client WebSocket (it copies the object's own properties). */
interface TunnelData {
  readonly tunnel: UwsTunnel
}

const decoder = new TextDecoder()

/**
 * The `app.ws('/*', …)` behaviour of one listener; `runtime` gives the current generation,
 * `heads` reads requests as the front's HTTP handler does, `tunnels` watches the front's tunnels.
 */
export function webSocketBehavior(
  uws: UwsModule,
  kind: ListenerKind,
  runtime: () => Runtime,
  heads: UwsHeadReader,
  tunnels: TunnelDrainWatch,
): WebSocketBehavior<TunnelData> {
  return {
    compression: uws.DISABLED,
    maxPayloadLength: MAX_MESSAGE_BYTES,
    maxBackpressure: MAX_BUFFERED_BYTES,
    idleTimeout: IDLE_TIMEOUT_SECONDS,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => onUpgrade(runtime(), kind, heads, tunnels, res, req, context),
    open: onOpen,
    message: onMessage,
    drain: onDrain,
    close: onClose,
  }
}

/**
 * uWS calls this for any GET with a 24-character Sec-WebSocket-Key, before the HTTP handler.
 * Only a WebSocket handshake is ours: any other request (h2c included) is yielded to the HTTP
 * handler, whose rules refuse other upgrades.
 */
function onUpgrade(
  runtime: Runtime,
  kind: ListenerKind,
  heads: UwsHeadReader,
  tunnels: TunnelDrainWatch,
  res: HttpResponse,
  req: HttpRequest,
  context: us_socket_context_t,
): void {
  if (req.getHeader('upgrade').trim().toLowerCase() !== 'websocket') {
    req.setYield(true)
    return
  }
  // The request object lives only during this call: copy what the path and the upgrade need.
  const exchange = new UwsUpgradeExchange(runtime, kind, res, context, tunnels)
  heads.copyRequestHead(exchange, res, req)
  // The upstream handshake is asynchronous: uWS must know when the client goes meanwhile.
  res.onAborted(exchange.onAborted)
  handleUpgrade(exchange)
}

function onOpen(ws: WebSocket<TunnelData>): void {
  ws.getUserData().tunnel.attach(ws)
}

function onMessage(ws: WebSocket<TunnelData>, message: ArrayBuffer, isBinary: boolean): void {
  ws.getUserData().tunnel.onClientMessage(message, isBinary)
}

function onDrain(ws: WebSocket<TunnelData>): void {
  ws.getUserData().tunnel.onClientDrain(ws)
}

function onClose(ws: WebSocket<TunnelData>, code: number, message: ArrayBuffer): void {
  ws.getUserData().tunnel.onClientClose(code, message)
}

class UwsUpgradeExchange extends Exchange implements TunnelClient {
  readonly splicesBytes = false
  readonly #res: HttpResponse
  readonly #context: us_socket_context_t
  readonly #tunnels: TunnelDrainWatch
  // What the corked writes below need, set just before each cork.
  #rejection: Rejection | null = null
  #head: readonly string[] = []
  #body: Buffer | null = null
  #tunnel: UwsTunnel | null = null
  #protocol = ''

  constructor(
    runtime: Runtime,
    listener: ListenerKind,
    res: HttpResponse,
    context: us_socket_context_t,
    tunnels: TunnelDrainWatch,
  ) {
    super(runtime, listener)
    this.#res = res
    this.#context = context
    this.#tunnels = tunnels
  }

  readonly onAborted = (): void => {
    this.aborted = true
    this.upstreamCall?.onClientAbort()
    this.finish()
  }

  reject(rejection: Rejection, _close?: boolean): void {
    if (this.aborted || this.headSent) return
    this.headSent = true
    this.status = rejection.status
    this.#rejection = rejection
    this.#res.cork(this.#writeRejection)
    this.finish()
  }

  readonly #writeRejection = (): void => {
    const rejection = this.#rejection!
    const res = this.#res
    res.writeStatus(statusLine(rejection.status))
    writeFields(res, rejection.headers)
    if (this.responseHeaders !== null) writeFields(res, this.responseHeaders)
    res.writeHeader('content-type', rejectionContentType(rejection))
    res.writeHeader('x-request-id', this.requestId)
    const body = rejectionBody(rejection, this.requestId)
    this.responseBytes = Buffer.byteLength(body)
    // Whatever follows a refused upgrade on this connection is not HTTP we could trust.
    res.end(body, true)
  }

  /** The upstream's refusal of the handshake, passed on (proxy/websocket.ts). */
  writeHead(status: number, headers: readonly string[]): void {
    this.headSent = true
    this.status = status
    this.#head = headers
  }

  writeBody(chunk: Buffer): boolean {
    this.#body = chunk
    this.responseBytes += chunk.length
    return true
  }

  endResponse(): void {
    if (!this.aborted) this.#res.cork(this.#writeRefusal)
    this.finish()
  }

  readonly #writeRefusal = (): void => {
    const res = this.#res
    res.writeStatus(statusLine(this.status))
    writeFields(res, this.#head)
    res.end(this.#body ?? '', true)
  }

  destroy(): void {
    if (!this.aborted && !this.finished && this.#tunnel === null) this.#res.close()
  }

  readBody(sink: BodySink): void {
    // checkHandshake refuses a handshake with a body: there is never one to read.
    sink.onBodyEnd()
  }

  pauseBody(): void {}

  resumeBody(): void {}

  onUpstreamOpen(socket: Duplex, headers: IncomingHeaders, protocol: string): void {
    if (this.aborted) {
      socket.destroy()
      return
    }
    this.headSent = true
    this.status = 101
    // uWS writes Upgrade, Connection and Sec-WebSocket-Accept/Protocol itself; the upstream's
    // other headers (cookies…) pass like on any response. No extension is negotiated.
    const out = clientResponseHeaders(this, headers)
    const head: string[] = []
    for (let i = 0; i < out.length; i += 2) {
      if (!out[i]!.startsWith('sec-websocket-')) head.push(out[i]!, out[i + 1]!)
    }
    this.#head = head
    this.#protocol = protocol
    this.#tunnel = new UwsTunnel(this, socket as Socket, this.#tunnels)
    // Outside the upgrade handler uWS needs the upgrade corked.
    this.#res.cork(this.#upgrade)
  }

  readonly #upgrade = (): void => {
    const res = this.#res
    // Headers of our own on a 101 need the status first, or uWS would write 200 (its manual).
    res.writeStatus('101 Switching Protocols')
    writeFields(res, this.#head)
    const data: TunnelData = { tunnel: this.#tunnel! }
    res.upgrade(data, this.header('sec-websocket-key')!, this.#protocol, '', this.#context)
  }

  /** Called by the tunnel once both legs are closed. */
  tunnelEnded(): void {
    this.finish()
  }
}

/**
 * One relayed WebSocket: the uWS client socket on one side, the upstream's socket (with our frame
 * codec) on the other. uWS calls the client side through the behaviour's named handlers; every
 * upstream listener is created once per tunnel.
 */
class UwsTunnel implements FrameSink, DrainingTunnel {
  readonly #exchange: UwsUpgradeExchange
  readonly #upstream: Socket
  readonly #tunnels: TunnelDrainWatch
  readonly #decoder: FrameDecoder
  #ws: WebSocket<TunnelData> | null = null
  #clientClosed = false
  #upstreamCloseSent = false
  #upstreamClosed = false
  #paused = false
  #closeTimer: NodeJS.Timeout | null = null

  constructor(exchange: UwsUpgradeExchange, upstream: Socket, tunnels: TunnelDrainWatch) {
    this.#exchange = exchange
    this.#upstream = upstream
    this.#tunnels = tunnels
    this.#decoder = new FrameDecoder(this, MAX_MESSAGE_BYTES)
    upstream.on('error', this.#onUpstreamError)
    upstream.on('close', this.#onUpstreamClose)
    tunnels.add(this)
  }

  get draining(): boolean {
    return this.#exchange.runtime.state.draining
  }

  attach(ws: WebSocket<TunnelData>): void {
    this.#ws = ws
    // Frames the upstream sent right after its 101 wait in the socket until now.
    this.#upstream.on('data', this.#onUpstreamData)
  }

  // ---- client side (uWS) ----

  onClientMessage(message: ArrayBuffer, isBinary: boolean): void {
    if (this.#upstreamCloseSent || this.#upstreamClosed) return
    this.#exchange.requestBytes += message.byteLength
    const upstream = this.#upstream
    // Masking copies the message, which uWS reclaims when this call returns.
    upstream.write(encodeFrame(isBinary ? Opcode.Binary : Opcode.Text, new Uint8Array(message)))
    if (upstream.writableLength > MAX_BUFFERED_BYTES) {
      this.#exchange.errorDetail = 'upstream too slow: client closed with 1013'
      this.#closeUpstream(CloseCode.GoingAway, 'client closed')
      this.#ws?.end(CloseCode.TryAgainLater, 'upstream too slow')
    }
  }

  onClientDrain(ws: WebSocket<TunnelData>): void {
    if (this.#paused && ws.getBufferedAmount() < PAUSE_BYTES) {
      this.#paused = false
      this.#upstream.resume()
    }
  }

  /** uWS closed the client's WebSocket, whoever started it (the client, us, a timeout). */
  onClientClose(code: number, message: ArrayBuffer): void {
    this.#ws = null
    this.#clientClosed = true
    if (this.#paused) {
      this.#paused = false
      this.#upstream.resume()
    }
    // 1006: the client vanished without a close frame; the upstream hears that it went away.
    if (
      code === CloseCode.Abnormal ||
      (code !== CloseCode.NoStatus && !isSendableCloseCode(code))
    ) {
      this.#closeUpstream(CloseCode.GoingAway, 'client gone')
    } else {
      this.#closeUpstream(code, decoder.decode(message))
    }
    this.#endIfDone()
  }

  // ---- upstream side (FrameSink) ----

  readonly #onUpstreamData = (chunk: Buffer): void => {
    this.#decoder.push(chunk)
  }

  onMessage(payload: Buffer, binary: boolean): void {
    const ws = this.#ws
    if (ws === null) return
    if (ws.send(payload, binary, false) === SEND_DROPPED) {
      this.#exchange.errorDetail = 'client too slow: closed with 1008'
      this.#closeUpstream(CloseCode.GoingAway, 'client too slow')
      ws.end(CloseCode.PolicyViolation, 'client too slow')
      return
    }
    this.#exchange.responseBytes += payload.length
    if (!this.#paused && ws.getBufferedAmount() > PAUSE_BYTES) {
      this.#paused = true
      this.#upstream.pause()
    }
  }

  onPing(payload: Buffer): void {
    if (!this.#upstreamCloseSent) this.#upstream.write(encodeFrame(Opcode.Pong, payload))
  }

  onClose(code: number, reason: string): void {
    // §5.5.1: answer with a close frame (echoing the code), then the TCP connection may close.
    this.#closeUpstream(code, reason)
    this.#upstream.end()
    this.#ws?.end(code, reason)
  }

  onProtocolError(code: number, reason: string): void {
    this.#exchange.errorDetail = `upstream broke the WebSocket protocol: ${reason}`
    this.#closeUpstream(code, reason)
    this.#upstream.end()
    this.#ws?.end(CloseCode.InternalError, 'upstream protocol error')
  }

  readonly #onUpstreamError = (error: NodeJS.ErrnoException): void => {
    this.#exchange.errorDetail ??= `upstream: ${error.code ?? error.message}`
  }

  readonly #onUpstreamClose = (): void => {
    this.#upstreamClosed = true
    this.#tunnels.delete(this)
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer)
    // Closed without a close frame of its own (a crash, a reset): RFC 6455 §7.4.1 1011.
    this.#ws?.end(CloseCode.InternalError, 'upstream connection closed')
    this.#endIfDone()
  }

  // ---- both ----

  /** The worker is shutting down: both sides hear 1001 (RFC 6455 §7.4.1 "going away"). */
  goAway(): void {
    this.#closeUpstream(CloseCode.GoingAway, 'gateway shutting down')
    this.#ws?.end(CloseCode.GoingAway, 'gateway shutting down')
  }

  /** Starts the closing handshake with the upstream, once; its answer or a timer ends it. */
  #closeUpstream(code: number, reason: string): void {
    if (this.#upstreamCloseSent || this.#upstreamClosed) return
    this.#upstreamCloseSent = true
    this.#upstream.write(encodeClose(code, reason))
    this.#closeTimer = setTimeout(this.#onCloseTimeout, CLOSE_WAIT_MS)
  }

  readonly #onCloseTimeout = (): void => {
    this.#closeTimer = null
    this.#upstream.destroy()
  }

  #endIfDone(): void {
    if (this.#clientClosed && this.#upstreamClosed) this.#exchange.tunnelEnded()
  }
}

/** What the drain watch needs of a tunnel. */
interface DrainingTunnel {
  /** The worker is draining (runtime.ts WorkerState.draining). */
  readonly draining: boolean
  /** Closes both sides with 1001. */
  goAway(): void
}

/**
 * The open tunnels of one uws front. The drain sets a flag (runtime.ts WorkerState.draining) and
 * has no event: while tunnels are open, one timer looks at it so that they close with 1001 at
 * once instead of being cut when the grace is over.
 */
export class TunnelDrainWatch {
  readonly #tunnels = new Set<DrainingTunnel>()
  #timer: NodeJS.Timeout | null = null

  add(tunnel: DrainingTunnel): void {
    this.#tunnels.add(tunnel)
    if (this.#timer === null) {
      this.#timer = setInterval(this.#check, DRAIN_POLL_MS)
      this.#timer.unref()
    }
  }

  delete(tunnel: DrainingTunnel): void {
    this.#tunnels.delete(tunnel)
    if (this.#tunnels.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer)
      this.#timer = null
    }
  }

  readonly #check = (): void => {
    for (const tunnel of this.#tunnels) if (tunnel.draining) tunnel.goAway()
  }
}
