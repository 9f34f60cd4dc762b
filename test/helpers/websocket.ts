/**
 * A WebSocket upstream a test controls, on node:http's 'upgrade' event with a hand-rolled server
 * side of RFC 6455 (handshake §4.2.2; text, binary, close, ping and pong frames §5), so no
 * WebSocket library is needed: the tests' client side is undici's WebSocket, or raw bytes.
 *
 * Every connection echoes each message with its kind, except these text commands:
 * `close:CODE:REASON` (the upstream starts the closing handshake), `drop` (the socket is
 * destroyed without a close frame), `ping:PAYLOAD` (a ping; the pong is recorded),
 * `flood:COUNT:SIZE` (COUNT binary messages of SIZE bytes, written without waiting),
 * `stall` (the upstream stops reading). Handshakes to `/ws/refuse…` are answered 403, those to
 * `/ws/slow…` get their 101 after 500 ms. Plain HTTP requests get a JSON echo.
 */
import { createHash, randomBytes } from 'node:crypto'
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

export function acceptFor(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64')
}

export interface WsHandshake {
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
  /** The upstream's end of the connection the handshake came on. */
  readonly socket: Socket
}

export interface WsClose {
  readonly code: number
  readonly reason: string
}

export interface WsUpstream {
  readonly url: string
  readonly port: number
  readonly handshakes: readonly WsHandshake[]
  /** Plain HTTP requests (url) the upstream answered. */
  readonly httpRequests: readonly string[]
  /** Close frames received from the gateway. */
  readonly closes: readonly WsClose[]
  readonly pongs: readonly string[]
  /** The server sockets of upgraded connections, for backpressure checks. */
  readonly sockets: readonly Socket[]
  /** Forgets what was seen so far. */
  reset(): void
  close(): Promise<void>
}

/** One frame of the server side; `payload` is unmasked. */
interface Frame {
  readonly fin: boolean
  readonly opcode: number
  readonly payload: Buffer
}

/** Parses masked client frames from `data`; returns the frames and the bytes consumed. */
export function parseFrames(data: Buffer, masked: boolean): { frames: Frame[]; used: number } {
  const frames: Frame[] = []
  let at = 0
  for (let n = 0; n < 100_000; n++) {
    if (data.length - at < 2) break
    const b0 = data[at]!
    const b1 = data[at + 1]!
    let length = b1 & 0x7f
    let offset = at + 2
    if (length === 126) {
      if (data.length - offset < 2) break
      length = data.readUInt16BE(offset)
      offset += 2
    } else if (length === 127) {
      if (data.length - offset < 8) break
      length = data.readUInt32BE(offset) * 2 ** 32 + data.readUInt32BE(offset + 4)
      offset += 8
    }
    const hasMask = (b1 & 0x80) !== 0
    if (hasMask !== masked) throw new Error(`frame masking is ${hasMask}, expected ${masked}`)
    const mask = hasMask ? data.subarray(offset, offset + 4) : null
    if (hasMask) offset += 4
    if (data.length - offset < length) break
    const payload = Buffer.from(data.subarray(offset, offset + length))
    if (mask !== null) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!
    frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload })
    at = offset + length
  }
  return { frames, used: at }
}

/** One frame; masked as a client sends it when `masked`. */
export function encodeFrame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  const length = payload.length
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10
  const out = Buffer.alloc(head + (masked ? 4 : 0) + length)
  out[0] = 0x80 | opcode
  const maskBit = masked ? 0x80 : 0
  if (length < 126) out[1] = maskBit | length
  else if (length < 65536) {
    out[1] = maskBit | 126
    out.writeUInt16BE(length, 2)
  } else {
    out[1] = maskBit | 127
    out.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    out.writeUInt32BE(length >>> 0, 6)
  }
  if (!masked) {
    payload.copy(out, head)
    return out
  }
  const mask = randomBytes(4)
  mask.copy(out, head)
  for (let i = 0; i < length; i++) out[head + 4 + i] = payload[i]! ^ mask[i & 3]!
  return out
}

export function closePayload(code: number, reason: string): Buffer {
  const text = Buffer.from(reason)
  const out = Buffer.alloc(2 + text.length)
  out.writeUInt16BE(code, 0)
  text.copy(out, 2)
  return out
}

const open = new Set<WsUpstream>()

export async function closeAllWsUpstreams(): Promise<void> {
  await Promise.all([...open].map((u) => u.close()))
}

export async function startWsUpstream(): Promise<WsUpstream> {
  const handshakes: WsHandshake[] = []
  const httpRequests: string[] = []
  const closes: WsClose[] = []
  const pongs: string[] = []
  const upgraded: Socket[] = []
  const sockets = new Set<Socket>()

  const server: Server = createServer((req, res) => {
    httpRequests.push(req.url ?? '')
    req.resume()
    req.on('end', () => {
      const body = JSON.stringify({ url: req.url, headers: req.headers })
      res.writeHead(200, { 'content-type': 'application/json' }).end(body)
    })
  })
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    handshakes.push({
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      socket,
    })
    socket.on('error', () => undefined)
    if ((req.url ?? '').startsWith('/ws/refuse')) {
      const body = '{"error":"forbidden"}'
      socket.end(
        'HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\nx-upstream: refused\r\n' +
          `content-length: ${body.length}\r\n\r\n${body}`,
      )
      return
    }
    // `/ws/slow…`: the 101 comes late, for clients that leave during the handshake.
    const delay = (req.url ?? '').startsWith('/ws/slow') ? 500 : 0
    if (delay > 0) {
      // Read meanwhile (nothing comes before a 101) so that a close of the gateway is seen.
      socket.resume()
      setTimeout(() => accept(req, socket, head, upgraded, closes, pongs), delay)
      return
    }
    accept(req, socket, head, upgraded, closes, pongs)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  let closed: Promise<void> | null = null
  const upstream: WsUpstream = {
    url: `http://127.0.0.1:${port}`,
    port,
    handshakes,
    httpRequests,
    closes,
    pongs,
    sockets: upgraded,
    reset(): void {
      handshakes.length = 0
      httpRequests.length = 0
      closes.length = 0
      pongs.length = 0
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

function accept(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  upgraded: Socket[],
  closes: WsClose[],
  pongs: string[],
): void {
  if (socket.destroyed) return
  const key = req.headers['sec-websocket-key'] ?? ''
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim())
  const protocol = offered.includes('chat') ? 'sec-websocket-protocol: chat\r\n' : ''
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n${protocol}x-upstream-cookie: yes\r\n\r\n`,
  )
  upgraded.push(socket)
  serve(socket, head, closes, pongs)
}

/** The server side of one upgraded connection. */
function serve(socket: Socket, head: Buffer, closes: WsClose[], pongs: string[]): void {
  let buffered = head
  let fragments: Buffer[] = []
  let fragmentOpcode = 0
  let closeSent = false
  const send = (opcode: number, payload: Buffer): boolean => {
    if (closeSent || socket.destroyed) return false
    return socket.write(encodeFrame(opcode, payload, false))
  }
  const onMessage = (opcode: number, payload: Buffer): void => {
    const text = opcode === 1 ? payload.toString('utf8') : ''
    if (text.startsWith('close:')) {
      const [, code, reason] = text.split(':')
      send(8, closePayload(Number(code), reason ?? ''))
      closeSent = true
    } else if (text === 'drop') socket.destroy()
    else if (text.startsWith('ping:')) send(9, Buffer.from(text.slice(5)))
    else if (text.startsWith('flood:')) {
      const [, count, size] = text.split(':')
      const chunk = Buffer.alloc(Number(size), 0x61)
      for (let i = 0; i < Number(count); i++) send(2, chunk)
    } else if (text === 'stall') socket.pause()
    else send(opcode, payload)
  }
  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
    const { frames, used } = parseFrames(buffered, true)
    buffered = buffered.subarray(used)
    for (const frame of frames) {
      if (frame.opcode === 8) {
        const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005
        closes.push({ code, reason: frame.payload.subarray(2).toString('utf8') })
        // RFC 6455 §5.5.1: answer the close (echoing its code), then the server closes TCP.
        if (!closeSent) send(8, frame.payload.subarray(0, 2))
        closeSent = true
        socket.end()
        return
      }
      if (frame.opcode === 9) send(10, frame.payload)
      else if (frame.opcode === 10) pongs.push(frame.payload.toString('utf8'))
      else if (frame.opcode === 0) {
        fragments.push(frame.payload)
        if (frame.fin) {
          onMessage(fragmentOpcode, Buffer.concat(fragments))
          fragments = []
        }
      } else if (!frame.fin) {
        fragmentOpcode = frame.opcode
        fragments = [frame.payload]
      } else onMessage(frame.opcode, frame.payload)
    }
  }
  socket.on('data', onData)
  if (head.length > 0) {
    buffered = Buffer.alloc(0)
    onData(head)
  }
}
