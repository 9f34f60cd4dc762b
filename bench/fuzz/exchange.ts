/**
 * One fuzz case on the wire: a connection, the case's bytes written piece by piece, and what came
 * back, classified. An answer (a parseable status line) or a close is fine; silence is given a
 * half-close and another wait, and a connection still open and silent after that is a hang.
 */
import { connect, type Socket } from 'node:net'

export interface Timing {
  /** How long an answer or a close may take before the case counts as silent. */
  readonly answerMs: number
  /** After the half-close of a silent case, how long the close may take before it is a hang. */
  readonly closeMs: number
}

export type Outcome =
  /** At least one response; `statuses` in order (1xx included). */
  | {
      readonly kind: 'answered'
      readonly statuses: readonly number[]
      readonly complete: boolean
      readonly closed: boolean
    }
  /** Closed or reset without a status line. */
  | { readonly kind: 'closed' }
  /** Silent until the half-close, then closed: the server was waiting for more bytes. */
  | { readonly kind: 'waited' }
  /** Neither an answer nor a close. */
  | { readonly kind: 'hang'; readonly received: Buffer }
  | { readonly kind: 'connect-failed'; readonly error: string }

export interface ParsedResponses {
  readonly statuses: number[]
  /** The last response was read to its end (a 101 counts as complete). */
  readonly complete: boolean
  /** Bytes past the last complete response. */
  readonly rest: number
  readonly keepAlive: boolean
}

/** Parses back-to-back responses; `firstIsHead`: the first final one answers a HEAD. */
export function parseResponses(
  data: Buffer,
  firstIsHead: boolean,
  closed: boolean,
): ParsedResponses {
  const statuses: number[] = []
  let at = 0
  let complete = false
  let keepAlive = true
  let finals = 0
  while (at < data.length && statuses.length < 1000) {
    const end = data.indexOf('\r\n\r\n', at, 'latin1')
    if (end < 0) break
    const lines = data.toString('latin1', at, end).split('\r\n')
    const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '')
    if (status === null) break
    const code = Number(status[1])
    statuses.push(code)
    const fields = new Map<string, string>()
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':')
      if (colon > 0)
        fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
    }
    keepAlive = !/\bclose\b/i.test(fields.get('connection') ?? '')
    at = end + 4
    complete = false
    if (code === 101) {
      complete = true
      at = data.length
      break
    }
    if (code < 200) {
      complete = true
      continue
    }
    const isHead = finals === 0 && firstIsHead
    finals++
    if (isHead || code === 204 || code === 304) {
      complete = true
      continue
    }
    if (/chunked/i.test(fields.get('transfer-encoding') ?? '')) {
      const after = chunkedEnd(data, at)
      if (after < 0) break
      at = after
      complete = true
      continue
    }
    const length = fields.get('content-length')
    if (length !== undefined) {
      const n = Number(length)
      if (!Number.isSafeInteger(n) || at + n > data.length) break
      at += n
      complete = true
      continue
    }
    // Neither: the body runs to the close.
    complete = closed
    at = data.length
    break
  }
  return { statuses, complete, rest: data.length - at, keepAlive }
}

/** The offset after a chunked body starting at `at`, or -1 while it is incomplete. */
function chunkedEnd(data: Buffer, at: number): number {
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at, 'latin1')
    if (lineEnd < 0) return -1
    const size = parseInt(data.toString('latin1', at, lineEnd), 16)
    if (Number.isNaN(size)) return -1
    if (size === 0) {
      const end = data.indexOf('\r\n\r\n', lineEnd, 'latin1')
      if (end >= 0) return end + 4
      return data.indexOf('\r\n', lineEnd + 2, 'latin1') === lineEnd + 2 ? lineEnd + 4 : -1
    }
    at = lineEnd + 2 + size + 2
    if (at > data.length) return -1
  }
}

/** One client connection whose bytes are read and classified by hand. */
export class Wire {
  readonly #socket: Socket
  #chunks: Buffer[] = []
  #closed = false
  #wake: (() => void) | null = null

  private constructor(socket: Socket) {
    this.#socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk)
      this.#wake?.()
    })
    socket.on('error', () => undefined)
    socket.on('close', () => {
      this.#closed = true
      this.#wake?.()
    })
  }

  static open(port: number, timeoutMs: number): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error(`connect timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      socket.once('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
      socket.once('connect', () => {
        clearTimeout(timer)
        socket.removeAllListeners('error')
        resolve(new Wire(socket))
      })
    })
  }

  get closed(): boolean {
    return this.#closed
  }

  get data(): Buffer {
    if (this.#chunks.length !== 1) this.#chunks = [Buffer.concat(this.#chunks)]
    return this.#chunks[0]!
  }

  /** Forgets what was read so far (the answer to a request before the case). */
  clear(): void {
    this.#chunks = []
  }

  /** Writes the pieces a tick apart; stops at a close. */
  async write(pieces: readonly Buffer[]): Promise<void> {
    for (const piece of pieces) {
      if (this.#closed || this.#socket.destroyed) return
      this.#socket.write(piece)
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  /** Resolves when `done()` holds, the connection closes, or `ms` pass: true if done() held. */
  waitFor(done: () => boolean, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (value: boolean) => {
        clearTimeout(timer)
        this.#wake = null
        resolve(value)
      }
      const check = () => {
        if (done()) finish(true)
        else if (this.#closed) finish(false)
      }
      const timer = setTimeout(() => finish(done()), ms)
      this.#wake = check
      check()
    })
  }

  /** Waits until nothing new arrives for `quietMs` (or the close, or `maxMs`). */
  async settle(quietMs: number, maxMs: number): Promise<void> {
    const until = Date.now() + maxMs
    let length = -1
    while (!this.#closed && Date.now() < until && this.data.length !== length) {
      length = this.data.length
      await this.waitFor(() => this.data.length !== length, quietMs)
    }
  }

  halfClose(): void {
    if (!this.#socket.destroyed) this.#socket.end()
  }

  /** Closes with a reset: a fuzz run opens tens of thousands of connections, none may linger. */
  destroy(): void {
    if (!this.#socket.destroyed) this.#socket.resetAndDestroy()
  }
}

/**
 * Reads the answer to what was just written: until `expected` final responses are complete (then
 * briefly more, for bytes past them), the close, or the answer timeout; then classifies it.
 */
export async function readOutcome(
  wire: Wire,
  expected: number,
  firstIsHead: boolean,
  timing: Timing,
): Promise<Outcome> {
  const parse = () => parseResponses(wire.data, firstIsHead, wire.closed)
  const enough = () => {
    const p = parse()
    const finals = p.statuses.filter((s) => s >= 200).length
    return p.complete && (finals >= expected || p.statuses.includes(101))
  }
  await wire.waitFor(enough, timing.answerMs)
  let parsed = parse()
  if (parsed.statuses.length > 0 && parsed.complete) {
    // Fewer answers than requests (a mutation merged or cut them): wait for a quiet moment.
    await wire.settle(50, timing.answerMs)
    parsed = parse()
    return {
      kind: 'answered',
      statuses: parsed.statuses,
      complete: parsed.complete,
      closed: wire.closed,
    }
  }
  if (wire.closed) {
    return parsed.statuses.length > 0
      ? { kind: 'answered', statuses: parsed.statuses, complete: parsed.complete, closed: true }
      : { kind: 'closed' }
  }
  // Silent, or a response that stopped half-way: say we are done and see whether it closes.
  wire.halfClose()
  const closed = await wire.waitFor(() => wire.closed, timing.closeMs)
  parsed = parse()
  if (!closed && !wire.closed) return { kind: 'hang', received: wire.data }
  if (parsed.statuses.length > 0) {
    return { kind: 'answered', statuses: parsed.statuses, complete: parsed.complete, closed: true }
  }
  return { kind: 'waited' }
}
