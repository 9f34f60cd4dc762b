/**
 * limits.min_body_rate: a request body that is not buffered whole must keep arriving at a
 * minimum rate, averaged over a window, or it is ended (as Apache mod_reqtimeout's MinRate and
 * nginx's client_body_timeout, against clients that trickle a body to hold the gateway's sockets
 * and the upstream's connections). One coarse interval per worker checks every body being
 * received, never a timer per request; time in which the gateway itself holds the client back
 * (upstream backpressure, a busy pool) is not counted against it.
 */
import { performance } from 'node:perf_hooks'

/** A body being received, as the watch sees it. */
export interface WatchedBody {
  /** Body bytes received so far. */
  readonly received: number
  /** The gateway is not reading (backpressure): the client cannot be blamed for the pause. */
  readonly held: boolean
  /** Bytes per second it must average over each window, and the window, ms. */
  readonly minRate: number
  readonly windowMs: number
  /** Start of the current window (performance.now()) and `received` at that moment. */
  windowStart: number
  windowMark: number
  /** Fell below minRate over a whole window; it has been removed from the watch. */
  onTooSlow(): void
}

/** Period of the check: a verdict comes at most this late after a window ends. */
const TICK_MS = 250

export class BodyRateWatch {
  readonly #bodies = new Set<WatchedBody>()
  #timer: NodeJS.Timeout | null = null

  add(body: WatchedBody): void {
    body.windowStart = performance.now()
    body.windowMark = body.received
    this.#bodies.add(body)
    if (this.#timer === null) {
      this.#timer = setInterval(this.#tick, TICK_MS)
      this.#timer.unref()
    }
  }

  remove(body: WatchedBody): void {
    if (!this.#bodies.delete(body) || this.#bodies.size > 0 || this.#timer === null) return
    clearInterval(this.#timer)
    this.#timer = null
  }

  readonly #tick = (): void => {
    const now = performance.now()
    for (const body of this.#bodies) {
      if (body.held) {
        body.windowStart = now
        body.windowMark = body.received
        continue
      }
      const elapsed = now - body.windowStart
      if (elapsed < body.windowMs) continue
      if ((body.received - body.windowMark) * 1000 < body.minRate * elapsed) {
        this.remove(body)
        body.onTooSlow()
      } else {
        body.windowStart = now
        body.windowMark = body.received
      }
    }
  }
}
