/**
 * One keep-alive HTTP/1.1 connection to an upstream: writes a request, parses its response and
 * hands the events to the request's undici handler. Socket listeners are bound once per
 * connection and the parser is reused, so a request on a warm connection costs no closure and no
 * timer (timeouts.ts). The socket (socket.ts) reads into one shared buffer: no Buffer and no event
 * object per read.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { performance } from 'node:perf_hooks'
import { errors } from 'undici'
import { ResponseParser } from './parser.js'
import { deliver, takesViews, type ResponseSink } from './reader.js'
import type { H1Request, RequestSocket } from './request.js'
import type { UpstreamSockets } from './socket-choice.js'
import type { SocketOwner, UpstreamSocket } from './socket.js'
import {
  PhaseClock,
  T_BODY,
  T_CONNECT,
  T_HEADERS,
  T_IDLE,
  T_NONE,
  timeoutError,
} from './timeouts.js'
import { writeRequest, type BodyWriter, type BodyWriterOwner } from './writer.js'

const C_CONNECTING = 0
const C_BUSY = 1
const C_IDLE = 2
const C_CLOSED = 3
/** Reused for a request not written yet (see assign()). */
const C_ASSIGNED = 4

/** Margin under the server's announced Keep-Alive timeout, so we never reuse a closing socket. */
const KEEP_ALIVE_MARGIN_MS = 1000
const NO_TRAILERS: IncomingHttpHeaders = Object.freeze({})

/** What a connection needs from its pool. */
export interface ConnectionPool {
  readonly host: string
  readonly port: number
  readonly connectTimeout: number
  readonly keepAliveTimeout: number
  /** Where the connection's socket is opened. */
  readonly sockets: UpstreamSockets
  /** The response ended and the connection can carry another request. */
  onReady(connection: H1Connection): void
  /** The connection is closed (its socket destroyed) and must be forgotten. */
  onGone(connection: H1Connection): void
  /** `connection` was given a request: call its flush() once the poll phase is over. */
  scheduleFlush(connection: H1Connection): void
  /** A request that never reached the socket of a connection now gone: give it another. */
  requeue(request: H1Request): void
}

export class H1Connection implements RequestSocket, BodyWriterOwner, ResponseSink, SocketOwner {
  readonly #pool: ConnectionPool
  readonly #socket: UpstreamSocket
  readonly #parser = new ResponseParser()
  #state = C_CONNECTING
  #request: H1Request | null
  #writer: BodyWriter | null = null
  /** The server ended its side: what is buffered is all there will be. */
  #eof = false
  /** Inside the parse loop: a resume() from a handler callback lets the loop continue. */
  #running = false
  /** Has carried a request before: it came from the idle list, where the upstream may close it. */
  #reused = false
  #keepAliveMs: number
  readonly #clock = new PhaseClock(T_CONNECT, performance.now())

  constructor(pool: ConnectionPool, request: H1Request) {
    this.#pool = pool
    this.#keepAliveMs = pool.keepAliveTimeout
    this.#request = request
    request.socket = this
    this.#parser.reset(request.method === 'HEAD', takesViews(request.handler))
    this.#socket = pool.sockets.open(pool.host, pool.port, this)
  }

  /**
   * Carries `request` next (the connection is idle). The write waits for the check phase, as
   * undici's does (GHSA-35p6-xmwp-9g52): a FIN, RST or unsolicited bytes already pending on the
   * idle socket are seen first, and the request goes to another connection instead of reading
   * someone else's answer. It also batches the sends of one loop turn, which measured cheaper.
   */
  assign(request: H1Request): void {
    this.#reused = true
    this.#request = request
    request.socket = this
    this.#state = C_ASSIGNED
    this.#clock.enter(T_NONE)
    this.#parser.reset(request.method === 'HEAD', takesViews(request.handler))
    this.#pool.scheduleFlush(this)
  }

  /** Writes the request assign() gave, if the connection is still fit for it. */
  flush(): void {
    const request = this.#request
    if (this.#state === C_ASSIGNED && request !== null) this.#send(request)
  }

  #send(request: H1Request): void {
    this.#state = C_BUSY
    this.#clock.enter(T_HEADERS)
    this.#writer = writeRequest(this.#socket, request, this)
    if (request.paused) this.#socket.pause()
  }

  onBodyProgress(): void {
    this.#clock.progress++
  }

  onBodySent(): void {
    this.#writer = null
  }

  pauseReading(): void {
    this.#socket.pause()
  }

  resumeReading(): void {
    const request = this.#request
    if (request === null || this.#state !== C_BUSY) return
    this.#socket.resume()
    // Delivers what was buffered when the pause came (undici resumes synchronously too).
    this.#run(request)
  }

  /**
   * Nothing of the current request went out: assigned and not flushed yet, or sent with a body
   * whose first chunk (which carries the head, writer.ts) has not come.
   */
  #sentNothing(): boolean {
    const state = this.#state
    if (state === C_ASSIGNED) return true
    const writer = this.#writer
    return state === C_BUSY && writer !== null && writer.untouched
  }

  /** Closes the connection with `error` for its request, if any; it is never reused. */
  fail(error: Error): void {
    const state = this.#state
    if (state === C_CLOSED) return
    // A pooled connection the upstream closed (or spoke on) before any byte of the request was
    // written: nothing reached the upstream, so another connection can carry the request, of any
    // method, its body untouched. A new connection failing so is a failing upstream instead.
    const requeue = this.#reused && this.#sentNothing()
    this.#state = C_CLOSED
    this.#clock.enter(T_NONE)
    this.#socket.destroy()
    const writer = this.#writer
    if (writer !== null) {
      this.#writer = null
      if (requeue) writer.release()
      else writer.stop()
    }
    const request = this.#request
    this.#request = null
    this.#pool.onGone(this)
    if (request === null) return
    if (requeue && !request.aborted) {
      request.socket = null
      this.#pool.requeue(request)
    } else {
      request.settleError(error)
    }
  }

  /** Closes an idle connection. */
  close(): void {
    if (this.#request === null) this.fail(new errors.InformationalError('socket idle'))
  }

  /** Called by the pool a few times a second: ends the current phase if it lasted too long. */
  tick(now: number): void {
    const clock = this.#clock
    const request = this.#request
    let limit: number
    switch (clock.phase) {
      case T_CONNECT:
        limit = this.#pool.connectTimeout
        break
      case T_HEADERS:
        // As undici: no headers timeout while the request body is still flowing out.
        if (this.#writer !== null && !this.#socket.needDrain) return clock.hold()
        limit = request!.headersTimeout
        break
      case T_BODY:
        // A paused response waits for the client, not for the upstream (as undici).
        if (request!.paused) return clock.hold()
        limit = request!.bodyTimeout
        break
      case T_IDLE:
        limit = this.#keepAliveMs
        break
      default:
        return
    }
    if (!clock.expired(now, limit)) return
    if (clock.phase === T_IDLE) this.close()
    else this.fail(timeoutError(clock.phase, `${this.#pool.host}:${this.#pool.port}`, limit))
  }

  onConnect(): void {
    const request = this.#request
    if (this.#state !== C_CONNECTING || request === null) return
    this.#send(request)
  }

  /** Bytes [start, end) of `buffer` arrived; pause() stops the reads at once. */
  onRead(buffer: Buffer, start: number, end: number): void {
    const request = this.#request
    if (request === null || this.#state !== C_BUSY || this.#sentNothing()) {
      // Bytes nobody asked for: no response can be matched to them (RFC 9112 §9.3). A request
      // not written yet goes to another connection.
      this.fail(new errors.SocketError('unsolicited data from the upstream'))
      return
    }
    if (this.#clock.phase === T_BODY) this.#clock.progress++
    const parser = this.#parser
    parser.feed(buffer.subarray(start, end), true)
    try {
      if (request.paused) this.#socket.pause()
      else this.#run(request)
    } finally {
      // A later loop turn's reads, on any connection, overwrite the buffer.
      parser.detach()
    }
  }

  onEnd(): void {
    this.#eof = true
    const request = this.#request
    // Idle, or nothing of the request written yet (it goes to another connection).
    if (request === null || this.#state !== C_BUSY || this.#sentNothing())
      this.fail(new errors.SocketError('other side closed'))
    else if (!request.paused) this.#run(request)
  }

  onError(error: Error): void {
    this.fail(error) // errno errors keep their code: ECONNREFUSED, ECONNRESET, EPIPE…
  }

  onClose(): void {
    // A paused response keeps what the parser holds: resume() delivers it, then sees the end.
    const request = this.#request
    if (this.#eof && request !== null && request.paused && this.#state === C_BUSY) return
    this.fail(new errors.SocketError('other side closed'))
  }

  onDrain(): void {
    this.#writer?.onDrain()
  }

  #run(request: H1Request): void {
    if (this.#running) return
    this.#running = true
    try {
      deliver(this.#parser, request, this)
    } catch (error) {
      // A handler threw: as undici, the request ends with that error and the socket goes.
      this.fail(error instanceof Error ? error : new Error(String(error)))
    } finally {
      this.#running = false
    }
  }

  /** The server ended its side: what is buffered is all there will be. */
  get eof(): boolean {
    return this.#eof
  }

  onFinalHead(): void {
    this.#clock.enter(T_BODY)
  }

  stopReading(): void {
    this.#socket.pause()
  }

  /** The response is complete: the connection goes back to the pool if it can be reused. */
  complete(request: H1Request): void {
    const parser = this.#parser
    // Reusable only when the response said so, nothing extra arrived, and the request body was
    // sent completely (a response may end before its request, RFC 9112 §9.6).
    const reusable =
      parser.keepAlive &&
      !request.closeAfter &&
      parser.drained &&
      !this.#eof &&
      this.#writer === null
    const trailers = parser.chunked ? parser.trailers : NO_TRAILERS
    this.#request = null
    if (reusable) {
      const hint = parser.keepAliveHintMs
      const base = this.#pool.keepAliveTimeout
      this.#keepAliveMs = hint > 0 ? Math.min(base, hint - KEEP_ALIVE_MARGIN_MS) : base
      this.#state = C_IDLE
      this.#clock.enter(T_IDLE)
    } else {
      this.fail(new errors.InformationalError('connection not reusable'))
    }
    request.settleEnd(trailers)
    if (this.#state === C_IDLE) {
      if (this.#keepAliveMs <= 0) this.close()
      else this.#pool.onReady(this)
    }
  }
}
