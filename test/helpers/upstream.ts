/**
 * A node:http upstream a test controls: records every request it sees (at the moment its head
 * arrives, so a request that never completes is counted too) and answers with a JSON echo unless
 * the test installs another handler.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/** What the upstream saw of one request. `bodyBytes` grows while the body arrives. */
export interface SeenRequest {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
  bodyBytes: number
  /** The whole body arrived. */
  complete: boolean
  /** The gateway closed the connection before the body was complete. */
  aborted: boolean
}

/** The JSON body of the default echo handler. */
export interface Echo {
  readonly upstream: string
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
  readonly bodyBytes: number
}

export type Handler = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => void

export interface TestUpstream {
  readonly name: string
  readonly port: number
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  readonly requests: readonly SeenRequest[]
  /** Replaces the handler for the requests that arrive from now on; null restores the echo. */
  handle(handler: Handler | null): void
  /** Forgets the requests seen so far. */
  reset(): void
  close(): Promise<void>
}

const open = new Set<TestUpstream>()

/** Closes every upstream still open (call it from afterAll). */
export async function closeAllUpstreams(): Promise<void> {
  await Promise.all([...open].map((u) => u.close()))
}

/** Reads the whole body, then answers 200 with an {@link Echo}. */
export function echo(name: string): Handler {
  return (req, res, seen) => {
    const respond = () => {
      const body = JSON.stringify({
        upstream: name,
        method: seen.method,
        url: seen.url,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        bodyBytes: seen.bodyBytes,
      } satisfies Echo)
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      })
      res.end(body)
    }
    // The upstream reads every body as it arrives, so a delayed handler may find it ended.
    if (req.readableEnded) respond()
    else req.on('end', respond)
  }
}

/** Echoes after `ms` milliseconds (the delay starts when the head arrives). */
export function slow(name: string, ms: number): Handler {
  const inner = echo(name)
  return (req, res, seen) => {
    const timer = setTimeout(() => inner(req, res, seen), ms)
    res.on('close', () => clearTimeout(timer))
  }
}

/** Never answers; the socket stays open until the gateway gives up or the upstream closes. */
export function hang(): Handler {
  return (req) => {
    req.on('data', () => undefined)
  }
}

/** Destroys the connection as soon as the request head arrived. */
export function closeSocket(): Handler {
  return (req) => {
    req.socket.destroy()
  }
}

export interface StreamOptions {
  /** Send a Content-Length (default) or stream chunked. */
  readonly contentLength?: boolean
  /** Destroy the socket after this many bytes instead of finishing the body. */
  readonly cutAfter?: number
  /** Makes the `size` bytes of body at `offset`; default {@link patternChunk}. */
  readonly chunk?: (offset: number, size: number) => Buffer
}

const CHUNK_SIZE = 64 * 1024

/** A deterministic pattern for large bodies: byte i is (i * 31 + (i >> 16)) & 0xff. */
export function patternChunk(offset: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) {
    const n = offset + i
    out[i] = (n * 31 + Math.floor(n / 65536)) & 0xff
  }
  return out
}

/** Streams `total` bytes with backpressure. */
export function streamBytes(total: number, options: StreamOptions = {}): Handler {
  const make = options.chunk ?? patternChunk
  return (req, res) => {
    req.on('data', () => undefined)
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' }
    if (options.contentLength !== false) headers['content-length'] = String(total)
    res.writeHead(200, headers)
    let sent = 0
    const limit = options.cutAfter ?? total
    const pump = (): void => {
      while (sent < limit) {
        const size = Math.min(CHUNK_SIZE, limit - sent)
        const chunk = make(sent, size)
        sent += size
        if (!res.write(chunk)) {
          res.once('drain', pump)
          return
        }
      }
      if (options.cutAfter !== undefined) {
        // Let the written bytes leave before the reset.
        setTimeout(() => res.socket?.destroy(), 50)
      } else res.end()
    }
    pump()
  }
}

export async function startUpstream(name = 'upstream'): Promise<TestUpstream> {
  const requests: SeenRequest[] = []
  const sockets = new Set<Socket>()
  let handler: Handler = echo(name)
  const server: Server = createServer((req, res) => {
    const seen: SeenRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      bodyBytes: 0,
      complete: false,
      aborted: false,
    }
    requests.push(seen)
    req.on('data', (chunk: Buffer) => (seen.bodyBytes += chunk.length))
    req.on('end', () => (seen.complete = true))
    req.on('aborted', () => (seen.aborted = true))
    req.on('close', () => {
      if (!seen.complete) seen.aborted = true
    })
    handler(req, res, seen)
  })
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  let closed: Promise<void> | null = null
  const upstream: TestUpstream = {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    handle(next: Handler | null): void {
      handler = next ?? echo(name)
    },
    reset(): void {
      requests.length = 0
    },
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve) => {
        open.delete(upstream)
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
      })
      return closed
    },
  }
  open.add(upstream)
  return upstream
}
