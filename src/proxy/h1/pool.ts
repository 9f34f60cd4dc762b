/**
 * H1Pool: the native HTTP/1.1 transport for plain `http://` upstreams, implementing undici's
 * Dispatcher contract (dispatch with the new handler API, close, destroy) so the proxy's
 * handlers, retries and interceptors work unchanged on it.
 *
 * Up to `connections` keep-alive sockets per origin, no pipelining (RFC 9112 §9.3.2 lets a
 * client pipeline, but a request that fails on a pipelined socket cannot be told apart from its
 * neighbours). Idle connections are reused last-in first-out, so the warmest socket serves and
 * surplus ones age out by `keepAliveTimeout`; requests beyond `connections` wait in a FIFO queue,
 * for at most `queueTimeout`.
 * A request given to an idle socket is written at the next check phase (see H1Connection.assign),
 * which batches the writes of one event-loop turn. All the pool's timeouts run on one coarse
 * interval, never on a timer per request.
 */
import { performance } from 'node:perf_hooks'
import { errors, type Dispatcher } from 'undici'
import { H1Connection, type ConnectionPool } from './connection.js'
import { QueueTimeoutError } from '../upstream-errors.js'
import { HeadBuilder, H1Request } from './request.js'
import type { UpstreamSockets } from './socket-choice.js'

export interface H1PoolOptions {
  /** Sockets per origin (default 128). */
  readonly connections?: number | null
  /** Idle time before a pooled socket is closed, ms (default 4000). */
  readonly keepAliveTimeout?: number
  readonly connect?: { readonly timeout?: number | null }
  /** Defaults when a request gives none, ms (undici's: 300 s). */
  readonly headersTimeout?: number
  readonly bodyTimeout?: number
  /**
   * Longest wait of a queued request for a connection, ms; over it the request ends with a
   * QueueTimeoutError (upstream-errors.ts). 0 (default): no bound.
   */
  readonly queueTimeout?: number
  /** Period of the timeout check, ms: timeouts fire up to two periods late. */
  readonly tickMs?: number
}

const DEFAULT_TICK_MS = 250

export class H1Pool implements ConnectionPool {
  readonly origin: string
  readonly host: string
  readonly port: number
  /** host[:port] of the origin, sent when the request has no Host of its own. */
  readonly hostHeader: string
  readonly connectTimeout: number
  readonly keepAliveTimeout: number
  readonly sockets: UpstreamSockets
  /** Builds this pool's request heads (dispatch is synchronous: one at a time). */
  readonly #heads: HeadBuilder
  readonly #max: number
  readonly #headersTimeout: number
  readonly #bodyTimeout: number
  readonly #tickMs: number
  readonly #queueTimeout: number
  readonly #all = new Set<H1Connection>()
  readonly #idle: H1Connection[] = []
  readonly #queue: H1Request[] = []
  #timer: NodeJS.Timeout | null = null
  /** Connections with a request to write at the next check phase. */
  #toFlush: H1Connection[] = []
  #flushing: NodeJS.Immediate | null = null
  #closed = false
  #destroyed = false
  #destroyReason: Error | null = null
  #onClosed: (() => void) | null = null
  #closing: Promise<void> | null = null

  /** `sockets`: the serving process's (socket-choice.ts), on which connections are opened. */
  constructor(origin: string | URL, sockets: UpstreamSockets, options: H1PoolOptions = {}) {
    const url = new URL(origin)
    if (url.protocol !== 'http:') {
      throw new errors.InvalidArgumentError('the native transport speaks plain http: only')
    }
    this.origin = url.origin
    // URL keeps the brackets of an IPv6 literal; net.connect wants the bare address.
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    this.port = url.port === '' ? 80 : Number(url.port)
    this.hostHeader = url.host
    this.sockets = sockets
    this.#heads = new HeadBuilder(sockets.checkFieldSection)
    this.#max = options.connections ?? 128
    this.keepAliveTimeout = options.keepAliveTimeout ?? 4000
    this.connectTimeout = options.connect?.timeout ?? 10_000
    this.#headersTimeout = options.headersTimeout ?? 300_000
    this.#bodyTimeout = options.bodyTimeout ?? 300_000
    this.#tickMs = options.tickMs ?? DEFAULT_TICK_MS
    this.#queueTimeout = options.queueTimeout ?? 0
  }

  /**
   * Starts a request. Throws (undici's InvalidArgumentError) for options it will not send;
   * otherwise every request ends in exactly one onResponseEnd or onResponseError. Returns false
   * only for a closed pool: the pool emits no 'drain', so a queued request is no reason for a
   * caller to hold back (the queue is served in order as connections free up).
   */
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const request = new H1Request(
      options,
      handler,
      this.#heads,
      this.hostHeader,
      this.#headersTimeout,
      this.#bodyTimeout,
    )
    handler.onRequestStart?.(request, undefined)
    if (request.done) return true // aborted from onRequestStart
    if (this.#closed) {
      request.settleError(
        this.#destroyed ? new errors.ClientDestroyedError() : new errors.ClientClosedError(),
      )
      return false
    }
    const idle = this.#idle.pop()
    if (idle !== undefined) idle.assign(request)
    else if (this.#all.size < this.#max) this.#open(request)
    else {
      request.queuedAt = performance.now()
      this.#queue.push(request)
    }
    return true
  }

  /** Lets in-flight and queued requests finish, then closes every socket. */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing
    this.#closed = true
    this.#closing = new Promise<void>((resolve) => {
      this.#onClosed = resolve
    })
    this.#closeIfDone()
    return this.#closing
  }

  /** Fails every request with `error` (default ClientDestroyedError) and closes every socket. */
  destroy(error?: Error): Promise<void> {
    const reason = error ?? new errors.ClientDestroyedError()
    this.#destroyed = true
    this.#destroyReason = reason
    const closing = this.close()
    const queued = this.#queue.splice(0)
    for (const request of queued) request.settleError(reason)
    for (const connection of [...this.#all]) connection.fail(reason)
    this.#closeIfDone()
    return closing
  }

  /** Connections open (connecting, busy or idle) and idle; for tests and metrics. */
  get stats(): { connections: number; idle: number; queued: number } {
    return { connections: this.#all.size, idle: this.#idle.length, queued: this.#queue.length }
  }

  onReady(connection: H1Connection): void {
    const next = this.#dequeue()
    if (next !== null) {
      connection.assign(next)
    } else if (this.#closed) {
      connection.close()
    } else {
      this.#idle.push(connection)
    }
  }

  scheduleFlush(connection: H1Connection): void {
    this.#toFlush.push(connection)
    this.#flushing ??= setImmediate(this.#flush)
  }

  requeue(request: H1Request): void {
    if (request.done) return
    if (this.#destroyReason !== null) {
      request.settleError(this.#destroyReason)
      return
    }
    const idle = this.#idle.pop()
    if (idle !== undefined) idle.assign(request)
    else if (this.#all.size < this.#max) this.#open(request)
    else {
      // First in line, and its wait counts from when it first queued, if it did.
      if (request.queuedAt === 0) request.queuedAt = performance.now()
      this.#queue.unshift(request)
    }
  }

  readonly #flush = (): void => {
    this.#flushing = null
    const connections = this.#toFlush
    this.#toFlush = []
    for (const connection of connections) connection.flush()
  }

  onGone(connection: H1Connection): void {
    this.#all.delete(connection)
    const at = this.#idle.lastIndexOf(connection)
    if (at !== -1) this.#idle.splice(at, 1)
    // A connection lost while requests wait: open one for the next of them.
    if (!this.#destroyed && this.#all.size < this.#max) {
      const next = this.#dequeue()
      if (next !== null) this.#open(next)
    }
    if (this.#all.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer)
      this.#timer = null
    }
    this.#closeIfDone()
  }

  #open(request: H1Request): void {
    this.#all.add(new H1Connection(this, request))
    if (this.#timer === null) {
      this.#timer = setInterval(this.#tick, this.#tickMs)
      this.#timer.unref()
    }
  }

  /** The oldest queued request still waiting (one aborted while queued is dropped). */
  #dequeue(): H1Request | null {
    const queue = this.#queue
    while (queue.length > 0) {
      const request = queue.shift()!
      if (!request.done) return request
    }
    return null
  }

  #closeIfDone(): void {
    if (!this.#closed || this.#onClosed === null) return
    for (const request of this.#queue) if (!request.done) return
    for (const connection of [...this.#idle]) connection.close()
    const resolve = this.#onClosed
    // (Closing an idle connection re-enters here and may have resolved already.)
    if (this.#all.size > 0 || resolve === null) return
    this.#onClosed = null
    resolve()
  }

  readonly #tick = (): void => {
    const now = performance.now()
    for (const connection of this.#all) connection.tick(now)
    if (this.#queueTimeout > 0) this.#expireQueued(now)
  }

  /**
   * Ends the requests that waited longer than queueTimeout, from the head of the queue (the
   * oldest: only a request given back by a lost connection jumps the line, and its wait counts
   * from its first queueing too).
   */
  #expireQueued(now: number): void {
    const queue = this.#queue
    const limit = this.#queueTimeout
    while (queue.length > 0) {
      const request = queue[0]!
      if (!request.done && now - request.queuedAt < limit) return
      queue.shift()
      request.settleError(new QueueTimeoutError(limit))
    }
  }
}
