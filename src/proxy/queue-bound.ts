/**
 * queue_timeout for undici's Pool, which has no bound of its own on how long a request waits for
 * a connection: each request's handler is wrapped, and a request that has not been started
 * (undici calls onRequestStart as it writes the request on a socket) once the bound has passed
 * while every connection of the pool is busy is answered with a QueueTimeoutError. undici still
 * holds it in its queue; when its turn comes it is aborted before a byte is written. The native
 * transport bounds its own queue (h1/pool.ts).
 */
import { performance } from 'node:perf_hooks'
import type { Dispatcher, Pool } from 'undici'
import type { Transport } from './transport.js'
import { QueueTimeoutError } from './upstream-errors.js'

type Controller = Dispatcher.DispatchController
type Headers = Record<string, string | string[] | undefined>

/** Period of the check: a request waits at most this much past the bound. */
const TICK_MS = 250

/** Stands for the controller of a request undici has not started, when it is answered early. */
const NOT_STARTED: Controller = Object.freeze({
  aborted: false,
  paused: false,
  reason: null,
  abort(): void {},
  pause(): void {},
  resume(): void {},
})

export class QueueBoundPool implements Transport {
  readonly #pool: Pool
  readonly #limitMs: number
  readonly #connections: number
  /** Requests dispatched and not started yet, oldest first (a Set keeps insertion order). */
  readonly #waiting = new Set<WaitingRequest>()
  #timer: NodeJS.Timeout | null = null

  constructor(pool: Pool, limitMs: number, connections: number) {
    this.#pool = pool
    this.#limitMs = limitMs
    this.#connections = connections
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const request = new WaitingRequest(this, handler, performance.now())
    this.#waiting.add(request)
    if (this.#timer === null) {
      this.#timer = setInterval(this.#tick, TICK_MS)
      this.#timer.unref()
    }
    return this.#pool.dispatch(options, request)
  }

  close(): Promise<void> {
    return this.#pool.close()
  }

  /** The wrapped Pool's counters (openConnections in transport.ts). */
  get stats(): Pool['stats'] {
    return this.#pool.stats
  }

  started(request: WaitingRequest): void {
    this.#waiting.delete(request)
    if (this.#waiting.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer)
      this.#timer = null
    }
  }

  readonly #tick = (): void => {
    const now = performance.now()
    const limit = this.#limitMs
    let saturated: boolean | null = null
    for (const request of this.#waiting) {
      if (now - request.dispatchedAt < limit) return
      // A request still waiting on a connection being opened is connect_timeout's business.
      saturated ??= isSaturated(this.#pool, this.#connections)
      if (!saturated) return
      request.expire(new QueueTimeoutError(limit))
    }
  }
}

function isSaturated(pool: Pool, connections: number): boolean {
  const stats = pool.stats
  return stats.connected >= connections && stats.free === 0
}

/** The handler undici sees: passes everything on, until the request expired in the queue. */
class WaitingRequest implements Dispatcher.DispatchHandler {
  readonly dispatchedAt: number
  readonly #owner: QueueBoundPool
  readonly #handler: Dispatcher.DispatchHandler
  #expired: Error | null = null

  constructor(owner: QueueBoundPool, handler: Dispatcher.DispatchHandler, dispatchedAt: number) {
    this.#owner = owner
    this.#handler = handler
    this.dispatchedAt = dispatchedAt
  }

  expire(error: Error): void {
    this.#expired = error
    this.#owner.started(this)
    this.#handler.onResponseError?.(NOT_STARTED, error)
  }

  onRequestStart(controller: Controller, context: unknown): void {
    if (this.#expired !== null) {
      controller.abort(this.#expired)
      return
    }
    this.#owner.started(this)
    this.#handler.onRequestStart?.(controller, context)
  }

  onResponseStart(
    controller: Controller,
    statusCode: number,
    headers: Headers,
    statusMessage?: string,
  ): void {
    this.#handler.onResponseStart?.(controller, statusCode, headers, statusMessage)
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    this.#handler.onResponseData?.(controller, chunk)
  }

  onResponseEnd(controller: Controller, trailers: Headers): void {
    this.#handler.onResponseEnd?.(controller, trailers)
  }

  onResponseError(controller: Controller, error: Error): void {
    if (this.#expired !== null) return
    this.#owner.started(this)
    this.#handler.onResponseError?.(controller, error)
  }
}
