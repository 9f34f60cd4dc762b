/**
 * The two upstreams of a fuzz run, in the fuzzer's own process on loopback:
 *
 * - the echo upstream: a strict node:http server that reads every body to its end and answers
 *   200 with the byte count; WebSocket handshakes get a 101 and their bytes echoed. A request it
 *   cannot parse (`clientError`) means the gateway forwarded something malformed: counted.
 * - the raw upstream: a TCP server that answers `GET /rf/<case>` with the bytes the case
 *   registered (a mutated response), and `GET /rf/ok-…` with a valid one.
 */
import { createHash } from 'node:crypto'
import { createServer, type Server as HttpServer } from 'node:http'
import {
  createServer as createTcpServer,
  type AddressInfo,
  type Server,
  type Socket,
} from 'node:net'

export interface EchoUpstream {
  readonly url: string
  /** Requests node:http refused to parse, with the bytes it was given. */
  readonly clientErrors: { code: string; bytes: Buffer }[]
  requests: number
  close(): Promise<void>
}

const CUT_SHORT = new Set(['ECONNRESET', 'ERR_HTTP_REQUEST_TIMEOUT', 'HPE_INVALID_EOF_STATE'])
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

export async function startEchoUpstream(): Promise<EchoUpstream> {
  const sockets = new Set<Socket>()
  const upstream: EchoUpstream = {
    url: '',
    clientErrors: [],
    requests: 0,
    close: () => Promise.resolve(),
  }
  const server: HttpServer = createServer({ keepAlive: true }, (req, res) => {
    upstream.requests++
    let bytes = 0
    req.on('data', (chunk: Buffer) => (bytes += chunk.length))
    req.on('end', () => {
      const body = `{"ok":true,"method":${JSON.stringify(req.method)},"bytes":${bytes}}`
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      })
      res.end(body)
    })
    req.on('error', () => undefined)
  })
  server.keepAliveTimeout = 30_000
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.on('clientError', (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket) => {
    // Resets, timeouts and a close mid-request are the gateway cutting a request short (its client
    // went away), not a malformed one.
    if (!CUT_SHORT.has(error.code ?? '')) {
      upstream.clientErrors.push({
        code: error.code ?? 'unknown',
        bytes: error.rawPacket ?? Buffer.alloc(0),
      })
    }
    socket.destroy()
  })
  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    upstream.requests++
    const key = req.headers['sec-websocket-key'] ?? ''
    const accept = createHash('sha1').update(`${key}${WS_GUID}`).digest('base64')
    socket.on('error', () => undefined)
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    )
    if (head.length > 0) socket.write(head)
    socket.on('data', (chunk: Buffer) => socket.write(chunk))
    // Bounded: an upgraded connection lives a second at most.
    setTimeout(() => socket.destroy(), 1000).unref()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return Object.assign(upstream, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  })
}

/** A mutated response and how the raw upstream delivers it. */
export interface UpstreamAnswer {
  readonly writes: readonly Buffer[]
  /** Close the connection after the last write (else keep it open for the next request). */
  readonly closeAfter: boolean
}

export const CONTROL_BODY = 'ok'
const CONTROL_ANSWER: UpstreamAnswer = {
  writes: [Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${CONTROL_BODY}`)],
  closeAfter: false,
}
const HEAD_END = Buffer.from('\r\n\r\n')
const MAX_HEAD = 64 * 1024

export interface RawUpstream {
  readonly url: string
  /** Registers the answer to `GET /rf/<id>`; it is used once. */
  answer(id: string, answer: UpstreamAnswer): void
  close(): Promise<void>
}

export async function startRawUpstream(): Promise<RawUpstream> {
  const answers = new Map<string, UpstreamAnswer>()
  const sockets = new Set<Socket>()
  const server: Server = createTcpServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
    let pending = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk])
      // The gateway sends GETs without bodies: every head is one request.
      for (;;) {
        const end = pending.indexOf(HEAD_END)
        if (end < 0) {
          if (pending.length > MAX_HEAD) socket.destroy()
          return
        }
        const head = pending.toString('latin1', 0, end)
        pending = pending.subarray(end + 4)
        const target = /^[A-Z]+ \/rf\/([^ ?]+)/.exec(head)?.[1] ?? ''
        const answer = target.startsWith('ok-') ? CONTROL_ANSWER : answers.get(target)
        answers.delete(target)
        if (answer === undefined) {
          socket.destroy()
          return
        }
        deliver(socket, answer)
        if (answer.closeAfter) return
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    answer(id, answer) {
      answers.set(id, answer)
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

/** Writes the parts a tick apart, so the gateway's parser sees them split where the case says. */
function deliver(socket: Socket, answer: UpstreamAnswer): void {
  let i = 0
  const next = (): void => {
    if (socket.destroyed) return
    const part = answer.writes[i++]
    if (part === undefined) {
      if (answer.closeAfter) socket.end()
      return
    }
    socket.write(part)
    setImmediate(next)
  }
  next()
}
