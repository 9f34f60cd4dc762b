/**
 * A paced open-loop client for the chaos run: a fixed rate of requests over keep-alive
 * connections (node:http Agent), each recorded with the client port it went out on, so the run
 * can tell which connection — and so which worker — every failure belonged to.
 */
import { Agent, request } from 'node:http'
import type { Socket } from 'node:net'

export interface LoadRequest {
  readonly path: string
  readonly headers: Record<string, string>
  /** A name the report groups by (`jwt`, `revoked`, `rate-limited`…). */
  readonly kind: string
}

export interface Sample {
  readonly id: number
  readonly kind: string
  readonly sentAt: number
  endAt: number | null
  status: number | null
  error: string | null
  /** The client's port of the connection it went out on; null before connecting. */
  port: number | null
}

const TICK_MS = 5
const TIMEOUT_MS = 5000
/**
 * A kept-alive connection idle this long is closed by the client, before any front closes it
 * (uWS after 10 s; the node front announces 5 s, which the Agent already honours). A server
 * closing an idle connection as the client reuses it fails that request (RFC 9112 §9.5).
 */
const IDLE_MS = 4000
/** An open loop still needs a bound: past it the client waits rather than piling up. */
const MAX_IN_FLIGHT = 256

export class PacedLoad {
  readonly samples: Sample[] = []
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 32, timeout: IDLE_MS })
  readonly #url: URL
  readonly #rate: number
  readonly #next: () => LoadRequest
  #timer: NodeJS.Timeout | null = null
  #started = 0
  #sent = 0
  #inFlight = 0

  constructor(url: string, rate: number, next: () => LoadRequest) {
    this.#url = new URL(url)
    this.#rate = rate
    this.#next = next
  }

  start(): void {
    this.#started = Date.now()
    this.#timer = setInterval(() => this.#tick(), TICK_MS)
  }

  /** Requests sent but not finished. */
  inFlight(): Sample[] {
    return this.samples.filter((s) => s.endAt === null)
  }

  /** Stops sending and waits (bounded) for what is in flight. */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    const until = Date.now() + TIMEOUT_MS + 1000
    while (this.#inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    this.#agent.destroy()
  }

  #tick(): void {
    const due = Math.floor(((Date.now() - this.#started) * this.#rate) / 1000)
    while (this.#sent < due && this.#inFlight < MAX_IN_FLIGHT) {
      this.#sent++
      this.#send(this.#next())
    }
    // Behind by more than a second (a stalled machine): skip rather than burst.
    if (due - this.#sent > this.#rate) this.#sent = due
  }

  #send(what: LoadRequest): void {
    const sample: Sample = {
      id: this.samples.length,
      kind: what.kind,
      sentAt: Date.now(),
      endAt: null,
      status: null,
      error: null,
      port: null,
    }
    this.samples.push(sample)
    this.#inFlight++
    const finish = (status: number | null, error: string | null) => {
      if (sample.endAt !== null) return
      sample.endAt = Date.now()
      sample.status = status
      sample.error = error
      this.#inFlight--
    }
    const req = request({
      host: this.#url.hostname,
      port: this.#url.port,
      path: what.path,
      headers: what.headers,
      agent: this.#agent,
      timeout: TIMEOUT_MS,
    })
    req.on('socket', (socket: Socket) => {
      if (socket.connecting) socket.once('connect', () => (sample.port = socket.localPort ?? null))
      else sample.port = socket.localPort ?? null
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (error: NodeJS.ErrnoException) => finish(null, error.code ?? error.message))
    req.on('response', (res) => {
      res.resume()
      res.on('end', () => finish(res.statusCode ?? 0, null))
      res.on('error', (error: NodeJS.ErrnoException) => finish(null, error.code ?? error.message))
    })
    req.end()
  }
}
