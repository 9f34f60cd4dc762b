/**
 * Exact bytes over node:net, for requests no HTTP client would send (smuggling, malformed heads,
 * unnormalized paths) and for watching the order of what comes back (100 Continue, then 413).
 */
import { connect, type Socket } from 'node:net'

export interface RawResponse {
  readonly status: number
  readonly reason: string
  /** Header names lowercased, in order. */
  readonly headers: readonly (readonly [string, string])[]
  readonly body: Buffer
  /** The body was read to its declared end (or the response has none). */
  readonly complete: boolean
}

export interface RawResult {
  /** Everything received, as latin1 text. */
  readonly text: string
  readonly data: Buffer
  /** The server closed (or reset) the connection within the wait. */
  readonly closed: boolean
  /** The connection was reset rather than closed cleanly. */
  readonly reset: boolean
  readonly responses: readonly RawResponse[]
}

export function header(response: RawResponse, name: string): string | undefined {
  return response.headers.find(([n]) => n === name)?.[1]
}

/**
 * Parses the responses in `data`. `headRequests` lists, by position, which responses answer a
 * HEAD (those have no body whatever their headers say).
 */
export function parseResponses(data: Buffer, headRequests: readonly boolean[] = []): RawResponse[] {
  const out: RawResponse[] = []
  let at = 0
  // Bounded: every iteration consumes at least a head.
  for (let n = 0; n < 1000 && at < data.length; n++) {
    const end = data.indexOf('\r\n\r\n', at, 'latin1')
    if (end < 0) break
    const lines = data.toString('latin1', at, end).split('\r\n')
    const statusLine = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0] ?? '')
    if (statusLine === null) break
    const status = Number(statusLine[1])
    const headers = lines.slice(1).map((line): [string, string] => {
      const colon = line.indexOf(':')
      return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]
    })
    at = end + 4
    const get = (name: string) => headers.find(([h]) => h === name)?.[1]
    const finals = out.filter((r) => r.status >= 200).length
    const noBody = status < 200 || status === 204 || status === 304 || headRequests[finals] === true
    if (noBody) {
      out.push({
        status,
        reason: statusLine[2] ?? '',
        headers,
        body: Buffer.alloc(0),
        complete: true,
      })
      continue
    }
    const length = get('content-length')
    if (get('transfer-encoding')?.toLowerCase() === 'chunked') {
      const chunks: Buffer[] = []
      let complete = false
      for (let c = 0; c < 100_000; c++) {
        const lineEnd = data.indexOf('\r\n', at, 'latin1')
        if (lineEnd < 0) break
        const size = parseInt(data.toString('latin1', at, lineEnd), 16)
        if (Number.isNaN(size)) break
        if (size === 0) {
          const trailerEnd = data.indexOf('\r\n\r\n', lineEnd, 'latin1')
          if (trailerEnd < 0) break
          at = trailerEnd + 4
          complete = true
          break
        }
        if (lineEnd + 2 + size + 2 > data.length) {
          chunks.push(data.subarray(lineEnd + 2, Math.min(data.length, lineEnd + 2 + size)))
          at = data.length
          break
        }
        chunks.push(data.subarray(lineEnd + 2, lineEnd + 2 + size))
        at = lineEnd + 2 + size + 2
      }
      out.push({
        status,
        reason: statusLine[2] ?? '',
        headers,
        body: Buffer.concat(chunks),
        complete,
      })
      if (!complete) break
      continue
    }
    if (length !== undefined) {
      const n = Number(length)
      const body = data.subarray(at, Math.min(data.length, at + n))
      out.push({ status, reason: statusLine[2] ?? '', headers, body, complete: body.length === n })
      at += body.length
      if (body.length < n) break
      continue
    }
    // Neither: the body runs to the end of the connection.
    out.push({
      status,
      reason: statusLine[2] ?? '',
      headers,
      body: data.subarray(at),
      complete: false,
    })
    break
  }
  return out
}

const openConnections = new Set<RawConnection>()

/** Destroys every raw connection still open (call it from afterEach). */
export function closeAllRaw(): void {
  for (const c of openConnections) c.destroy()
}

/** One TCP connection whose bytes the test writes and reads by hand. */
export class RawConnection {
  readonly #socket: Socket
  #chunks: Buffer[] = []
  #length = 0
  #closed = false
  #reset = false
  readonly #waiters = new Set<() => void>()

  private constructor(socket: Socket) {
    this.#socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk)
      this.#length += chunk.length
      this.#notify()
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') this.#reset = true
    })
    socket.on('close', () => {
      this.#closed = true
      openConnections.delete(this)
      this.#notify()
    })
    // Half-close from the server: the answer is complete.
    socket.on('end', () => {
      this.#closed = true
      this.#notify()
      socket.destroy()
    })
  }

  /** `from`: the local address to connect from (any of 127/8 on Linux: a distinct peer). */
  static open(
    port: number,
    timeoutMs = 5000,
    from?: string,
    host = '127.0.0.1',
  ): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, ...(from === undefined ? {} : { localAddress: from }) })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error(`connect to ${host}:${port} timed out`))
      }, timeoutMs)
      socket.once('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
      socket.once('connect', () => {
        clearTimeout(timer)
        socket.removeAllListeners('error')
        const connection = new RawConnection(socket)
        openConnections.add(connection)
        resolve(connection)
      })
    })
  }

  get data(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks)]
    return this.#chunks[0] ?? Buffer.alloc(0)
  }

  get text(): string {
    return this.data.toString('latin1')
  }

  get closed(): boolean {
    return this.#closed
  }

  get reset(): boolean {
    return this.#reset
  }

  /** Writes bytes; resolves false instead of failing when the server already closed. */
  write(bytes: string | Buffer): Promise<boolean> {
    if (this.#closed || this.#socket.destroyed) return Promise.resolve(false)
    return new Promise((resolve) => {
      this.#socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, (e) =>
        resolve(e === undefined || e === null),
      )
    })
  }

  /** Resolves true once `done(text)` holds, false if the connection closes or time runs out first. */
  waitFor(done: (text: string) => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = () => {
        if (done(this.text)) finish(true)
        else if (this.#closed) finish(false)
      }
      const finish = (value: boolean) => {
        clearTimeout(timer)
        this.#waiters.delete(check)
        resolve(value)
      }
      const timer = setTimeout(() => finish(done(this.text)), timeoutMs)
      this.#waiters.add(check)
      check()
    })
  }

  /** Resolves true when the server closes the connection within `timeoutMs`. */
  waitForClose(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.#closed) finish(true)
      }
      const finish = (value: boolean) => {
        clearTimeout(timer)
        this.#waiters.delete(check)
        resolve(value)
      }
      const timer = setTimeout(() => finish(this.#closed), timeoutMs)
      this.#waiters.add(check)
      check()
    })
  }

  responses(headRequests: readonly boolean[] = []): RawResponse[] {
    return parseResponses(this.data, headRequests)
  }

  result(): RawResult {
    const data = this.data
    return {
      text: data.toString('latin1'),
      data,
      closed: this.#closed,
      reset: this.#reset,
      responses: parseResponses(data),
    }
  }

  destroy(): void {
    this.#socket.destroy()
    openConnections.delete(this)
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter()
  }
}

export interface RawRequestOptions {
  /** Longest wait for the server to close the connection (default 1000 ms). */
  readonly waitMs?: number
  /** Stop waiting as soon as this holds for the responses read so far. */
  readonly until?: (responses: readonly RawResponse[]) => boolean
}

/**
 * Sends `bytes` on a fresh connection and reads until the server closes it, `until` holds, or
 * `waitMs` passes; then closes the connection.
 */
export async function rawRequest(
  port: number,
  bytes: string | Buffer,
  options: RawRequestOptions = {},
): Promise<RawResult> {
  const connection = await RawConnection.open(port)
  try {
    await connection.write(bytes)
    const until = options.until
    await connection.waitFor(
      until === undefined ? () => false : () => until(connection.responses()),
      options.waitMs ?? 1000,
    )
    return connection.result()
  } finally {
    connection.destroy()
  }
}
