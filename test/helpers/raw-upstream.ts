/**
 * An upstream that answers with exact bytes, for heads no HTTP server library would send
 * (control characters, obs-text, a 204 with a Content-Length). It reads each request head, and
 * a Content-Length body, on a keep-alive connection and writes what the responder returns;
 * chunked request bodies are not read.
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export interface RawUpstreamRequest {
  readonly method: string
  readonly target: string
  /** The head as latin1 text, CRLFs included. */
  readonly head: string
}

/** The response bytes; a string is sent as latin1, one byte per char. */
export type RawResponder = (request: RawUpstreamRequest) => string | Buffer

export interface RawUpstream {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  readonly requests: readonly RawUpstreamRequest[]
  close(): Promise<void>
}

const open = new Set<RawUpstream>()

/** Closes every raw upstream still open (call it from afterAll). */
export async function closeAllRawUpstreams(): Promise<void> {
  await Promise.all([...open].map((u) => u.close()))
}

export async function startRawUpstream(respond: RawResponder): Promise<RawUpstream> {
  const requests: RawUpstreamRequest[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
    let buffered = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n', 0, 'latin1')
        if (end < 0) return
        const head = buffered.toString('latin1', 0, end + 4)
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? '0')
        if (buffered.length < end + 4 + length) return
        buffered = buffered.subarray(end + 4 + length)
        const [method = '', target = ''] = head.slice(0, head.indexOf('\r\n')).split(' ')
        const request: RawUpstreamRequest = { method, target, head }
        requests.push(request)
        const answer = respond(request)
        socket.write(typeof answer === 'string' ? Buffer.from(answer, 'latin1') : answer)
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  let closed: Promise<void> | null = null
  const upstream: RawUpstream = {
    url: `http://127.0.0.1:${port}`,
    requests,
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
