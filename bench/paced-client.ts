/**
 * A minimal HTTP/1.1 keep-alive client for the paced (open-loop) loader.
 *
 * undici cost ~130 µs of loader CPU per request here, several times the upstream's cost; under
 * --pin the loader shares a core with the upstream, so that would have made the load side, not the
 * gateway, the limit well below saturation. This client writes pre-built request bytes and reads
 * only what it must: the status, Content-Length or chunked framing, and `Connection: close`.
 * One request in flight per connection (pipelining 1), like autocannon and wrk here.
 */
import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { buildRequests, expectsNoBody } from './request-bytes.js'
import type { BenchRequest } from './scenarios/types.js'

export interface Completion {
  /** What the caller passed to `submit`. */
  readonly id: number
  readonly status: number
  /** From the hand-off to the client (queueing for a free connection included) to the last byte. */
  readonly latencyMs: number
  readonly handedOffAt: number
}

export interface ClientOptions {
  readonly origin: string
  readonly requests: readonly BenchRequest[]
  readonly connections: number
  readonly timeoutMs: number
}

/** Where a run's outcomes go: set per run, so runs can share one client and its connections. */
export interface CompletionSink {
  onComplete(completion: Completion): void
  onError(error: Error, id: number): void
}

const CRLF = 0x0a
const HEAD_END = Buffer.from('\r\n\r\n')

type Framing =
  | { readonly kind: 'head' }
  | { readonly kind: 'length'; remaining: number }
  | { readonly kind: 'chunk-size' }
  | { readonly kind: 'chunk-data'; remaining: number }
  | { readonly kind: 'trailers' }
  | { readonly kind: 'until-close' }

interface InFlight {
  readonly id: number
  readonly handedOffAt: number
  readonly noBody: boolean
}

class Connection {
  /** Opened on first use and after the server or an error closed the previous one. */
  private socket: Socket | undefined
  private buffer: Buffer | undefined
  private framing: Framing = { kind: 'head' }
  private status = 0
  private closeAfter = false
  private inFlight: InFlight | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly client: PacedClient,
    private readonly host: string,
    private readonly port: number,
  ) {}

  private open(): Socket {
    const socket = connect({ host: this.host, port: this.port, noDelay: true })
    socket.on('data', (chunk: Buffer) => {
      if (this.socket === socket) this.onData(chunk)
    })
    socket.on('error', (error) => {
      if (this.socket === socket) this.fail(error)
    })
    socket.on('close', () => {
      if (this.socket !== socket) return
      this.socket = undefined
      if (this.inFlight === undefined) return
      if (this.framing.kind === 'until-close') this.complete()
      else this.fail(new Error('connection closed mid-response'))
    })
    return socket
  }

  /** Forgets the socket: the next send opens a new one. Reopening lazily keeps a refused
   * connection from spinning while nothing is due. */
  private drop(): void {
    const socket = this.socket
    this.socket = undefined
    socket?.destroy()
  }

  send(bytes: Buffer, id: number, handedOffAt: number, noBody: boolean): void {
    this.inFlight = { id, handedOffAt, noBody }
    this.framing = { kind: 'head' }
    this.buffer = undefined
    this.timer = setTimeout(() => this.fail(new Error('timeout')), this.client.timeoutMs)
    this.socket ??= this.open()
    this.socket.write(bytes)
  }

  private fail(error: Error): void {
    this.drop()
    const request = this.inFlight
    if (request === undefined) return
    this.finish()
    this.client.failed(this, error, request.id)
  }

  private finish(): void {
    clearTimeout(this.timer)
    this.inFlight = undefined
    this.buffer = undefined
    this.framing = { kind: 'head' }
  }

  private complete(): void {
    const request = this.inFlight
    if (request === undefined) return
    const status = this.status
    if (this.closeAfter) this.drop()
    this.finish()
    this.client.completed(this, status, request.id, request.handedOffAt)
  }

  private onData(chunk: Buffer): void {
    if (this.inFlight === undefined) return
    let data = this.buffer === undefined ? chunk : Buffer.concat([this.buffer, chunk])
    this.buffer = undefined
    for (;;) {
      const framing = this.framing
      switch (framing.kind) {
        case 'head': {
          const end = data.indexOf(HEAD_END)
          if (end < 0) {
            this.buffer = data
            return
          }
          const head = data.toString('latin1', 0, end)
          data = data.subarray(end + 4)
          this.status = Number(head.slice(9, 12))
          if (this.status >= 100 && this.status < 200) continue // 100 Continue and friends
          this.closeAfter = /\r\nconnection:[ \t]*close/i.test(head)
          const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head)
          if (this.inFlight.noBody || this.status === 204 || this.status === 304) {
            this.framing = { kind: 'length', remaining: 0 }
          } else if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) {
            this.framing = { kind: 'chunk-size' }
          } else if (length !== null) {
            this.framing = { kind: 'length', remaining: Number(length[1]) }
          } else {
            this.framing = { kind: 'until-close' }
          }
          continue
        }
        case 'length': {
          if (data.length < framing.remaining) {
            framing.remaining -= data.length
            return
          }
          this.complete()
          return
        }
        case 'chunk-size': {
          const eol = data.indexOf(CRLF)
          if (eol < 0) {
            this.buffer = data
            return
          }
          const size = parseInt(data.toString('latin1', 0, eol), 16)
          data = data.subarray(eol + 1)
          // Chunk data is followed by its own CRLF: count it as part of the chunk.
          this.framing =
            size === 0 ? { kind: 'trailers' } : { kind: 'chunk-data', remaining: size + 2 }
          continue
        }
        case 'chunk-data': {
          if (data.length < framing.remaining) {
            framing.remaining -= data.length
            return
          }
          data = data.subarray(framing.remaining)
          this.framing = { kind: 'chunk-size' }
          continue
        }
        case 'trailers': {
          // Trailer lines until an empty one; usually just the empty one.
          const eol = data.indexOf(CRLF)
          if (eol < 0) {
            this.buffer = data
            return
          }
          const empty = eol === 0 || (eol === 1 && data[0] === 0x0d)
          data = data.subarray(eol + 1)
          if (empty) {
            this.complete()
            return
          }
          continue
        }
        case 'until-close':
          return
      }
    }
  }

  destroy(): void {
    clearTimeout(this.timer)
    this.inFlight = undefined
    this.drop()
  }
}

export class PacedClient {
  readonly timeoutMs: number
  private readonly host: string
  private readonly port: number
  private readonly bytes: Buffer[]
  private readonly noBody: boolean[]
  private readonly connections: Connection[] = []
  private readonly idle: Connection[] = []
  /** Ids and hand-off times of requests waiting for a free connection, FIFO, interleaved. */
  private readonly queue: number[] = []
  private queueHead = 0
  private next = 0
  /** The current run's; a request of an earlier run that is still in flight reports here too. */
  sink: CompletionSink = { onComplete: () => undefined, onError: () => undefined }

  constructor(private readonly options: ClientOptions) {
    const origin = new URL(options.origin)
    this.host = origin.hostname
    this.port = Number(origin.port || 80)
    this.timeoutMs = options.timeoutMs
    this.bytes = buildRequests(origin, options.requests)
    this.noBody = options.requests.map(expectsNoBody)
  }

  /** Hands one request to the client: sent now on an idle connection, else queued. */
  submit(id: number): void {
    const handedOffAt = performance.now()
    const connection = this.idle.pop() ?? this.grow()
    if (connection === undefined) this.queue.push(id, handedOffAt)
    else this.dispatch(connection, id, handedOffAt)
  }

  private grow(): Connection | undefined {
    if (this.connections.length >= this.options.connections) return undefined
    const connection = new Connection(this, this.host, this.port)
    this.connections.push(connection)
    return connection
  }

  private dispatch(connection: Connection, id: number, handedOffAt: number): void {
    const index = this.next
    this.next = (index + 1) % this.bytes.length
    connection.send(this.bytes[index]!, id, handedOffAt, this.noBody[index]!)
  }

  private release(connection: Connection): void {
    if (this.queueHead < this.queue.length) {
      const id = this.queue[this.queueHead]!
      const handedOffAt = this.queue[this.queueHead + 1]!
      this.queueHead += 2
      // Compact now and then instead of shift()ing, which is O(n) per request.
      if (this.queueHead > 4096 && this.queueHead * 2 > this.queue.length) {
        this.queue.splice(0, this.queueHead)
        this.queueHead = 0
      }
      this.dispatch(connection, id, handedOffAt)
    } else {
      this.idle.push(connection)
    }
  }

  completed(connection: Connection, status: number, id: number, handedOffAt: number): void {
    this.sink.onComplete({ id, status, latencyMs: performance.now() - handedOffAt, handedOffAt })
    this.release(connection)
  }

  failed(connection: Connection, error: Error, id: number): void {
    this.sink.onError(error, id)
    this.release(connection)
  }

  close(): void {
    for (const connection of this.connections) connection.destroy()
  }
}
