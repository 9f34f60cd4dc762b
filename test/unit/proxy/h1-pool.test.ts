import { createHash, randomBytes } from 'node:crypto'
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http'
import { createServer as createNetServer, type Server, type Socket } from 'node:net'
import { PassThrough, Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { H1Pool, type H1PoolOptions } from '../../../src/proxy/h1/pool.js'
import { createUpstreamSockets } from '../../../src/proxy/h1/socket-choice.js'
import type { ResponseFieldsHandler } from '../../../src/proxy/h1/reader.js'
import { QUEUE_TIMEOUT } from '../../../src/proxy/upstream-errors.js'
import { startBlackhole } from '../../helpers/blackhole.js'
import { refusingPort } from '../../helpers/ports.js'
import { sleep, waitUntil } from '../../helpers/wait.js'

type Controller = Dispatcher.DispatchController

interface Outcome {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: Buffer
  readonly trailers: Record<string, string | string[] | undefined>
  readonly error: (Error & { code?: string }) | null
  /** Every handler call, in order: to check that exactly one of end / error ends a request. */
  readonly calls: string[]
}

/** A handler recording everything; `hooks` may act on the controller along the way. */
function collect(
  hooks: {
    onData?: (controller: Controller, chunk: Buffer, received: number) => void
    onStart?: (controller: Controller) => void
  } = {},
): { handler: Dispatcher.DispatchHandler; done: Promise<Outcome> } {
  const calls: string[] = []
  const chunks: Buffer[] = []
  let status = 0
  let headers: Outcome['headers'] = {}
  let received = 0
  let settle!: (outcome: Outcome) => void
  const done = new Promise<Outcome>((resolve) => (settle = resolve))
  const finish = (trailers: Outcome['trailers'], error: Outcome['error']) =>
    // Later calls, if any, still show in `calls` when the test looks a moment afterwards.
    settle({ status, headers, body: Buffer.concat(chunks), trailers, error, calls })
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(controller) {
      calls.push('start')
      hooks.onStart?.(controller)
    },
    onResponseStart(_controller, statusCode, responseHeaders) {
      calls.push('headers')
      status = statusCode
      headers = responseHeaders
    },
    onResponseData(controller, chunk) {
      if (calls[calls.length - 1] !== 'data') calls.push('data')
      received += chunk.length
      chunks.push(chunk) // kept by reference: the transport hands out chunks a handler may keep
      hooks.onData?.(controller, chunk, received)
    },
    onResponseEnd(_controller, trailers) {
      calls.push('end')
      finish(trailers, null)
    },
    onResponseError(_controller, error) {
      calls.push('error')
      finish({}, error)
    },
  }
  return { handler, done }
}

function request(
  pool: H1Pool,
  options: Partial<Dispatcher.DispatchOptions> = {},
  hooks: Parameters<typeof collect>[0] = {},
): Promise<Outcome> {
  const { handler, done } = collect(hooks)
  pool.dispatch({ method: 'GET', path: '/', ...options }, handler)
  return done
}

const cleanups: (() => Promise<void> | void)[] = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

interface TestServer {
  readonly url: string
  readonly connections: () => number
  readonly open: () => number
}

async function listen(server: HttpServer | Server): Promise<TestServer> {
  let connections = 0
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  )
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    open: () => sockets.size,
  }
}

function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  return listen(createHttpServer(handler))
}

/** A TCP server answering every request head it sees with `answer(socket, head)`. */
function rawServer(answer: (socket: Socket, head: string) => void) {
  return listen(
    createNetServer((socket) => {
      let buffered = ''
      socket.on('data', (data) => {
        buffered += data.toString('latin1')
        let at: number
        while ((at = buffered.indexOf('\r\n\r\n')) !== -1) {
          const head = buffered.slice(0, at)
          buffered = buffered.slice(at + 4)
          answer(socket, head)
        }
      })
      socket.on('error', () => undefined)
    }),
  )
}

/** A chunked response of `body` in chunks of 1 to 5000 bytes, with an x-sum trailer. */
function chunkedResponse(body: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n')]
  for (let at = 0; at < body.length;) {
    const part = body.subarray(at, at + 1 + ((at * 31) % 5000))
    at += part.length
    parts.push(Buffer.from(`${part.length.toString(16)};ext=x\r\n`), part, Buffer.from('\r\n'))
  }
  parts.push(Buffer.from(`0\r\nx-sum: ${body.length}\r\n\r\n`))
  return Buffer.concat(parts)
}

/** This process's sockets, as the environment chose them (h1-pool-net.test.ts: node's). */
const sockets = createUpstreamSockets()

function pool(url: string, options: H1PoolOptions = {}): H1Pool {
  const p = new H1Pool(url, sockets, { tickMs: 50, ...options })
  cleanups.push(() => p.destroy())
  return p
}

describe('H1Pool', () => {
  it('sends method, path and headers, and reuses one keep-alive connection', async () => {
    let seen: IncomingMessage | null = null
    const server = await httpServer((req, res) => {
      seen = req
      res.setHeader('set-cookie', 'a=1')
      res.end(`${req.method} ${req.url}`)
    })
    const p = pool(server.url)
    for (let i = 0; i < 5; i++) {
      const out = await request(p, { path: `/x/${i}?q=1`, headers: ['x-trace', 'abc'] })
      expect(out.status).toBe(200)
      expect(out.body.toString()).toBe(`GET /x/${i}?q=1`)
      expect(out.headers['set-cookie']).toEqual(['a=1'])
      expect(out.calls).toEqual(['start', 'headers', 'data', 'end'])
    }
    expect(seen!.headers['x-trace']).toBe('abc')
    expect(seen!.headers['host']).toBe(server.url.slice('http://'.length))
    expect(server.connections()).toBe(1)
    expect(p.stats).toEqual({ connections: 1, idle: 1, queued: 0 })
  })

  it('hands a handler with onResponseFields the field list and Content-Length, not an object', async () => {
    const server = await httpServer((_req, res) => {
      res.setHeader('x-one', ['a', 'b'])
      res.end('hello')
    })
    const p = pool(server.url)
    const seen: { status: number; fields: readonly string[]; length: number }[] = []
    let started = false
    const done = new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = []
      p.dispatch({ method: 'GET', path: '/' }, {
        onResponseStart: () => (started = true),
        onResponseFields: (_controller, status, fields, length) =>
          seen.push({ status, fields: [...fields], length }),
        onResponseData: (_controller, chunk) => chunks.push(chunk),
        onResponseEnd: () => resolve(Buffer.concat(chunks)),
        onResponseError: (_controller, error) => reject(error),
      } as ResponseFieldsHandler)
    })
    expect((await done).toString()).toBe('hello')
    expect(started).toBe(false)
    expect(seen).toHaveLength(1)
    expect(seen[0]!.status).toBe(200)
    expect(seen[0]!.length).toBe(5)
    const fields = seen[0]!.fields
    expect(fields.filter((_, i) => i % 2 === 0 && fields[i] === 'x-one')).toHaveLength(2)
    expect(fields[fields.indexOf('content-length') + 1]).toBe('5')
  })

  it('queues requests beyond `connections` and serves them in order', async () => {
    let active = 0
    let peak = 0
    const order: string[] = []
    const server = await httpServer((req, res) => {
      active++
      peak = Math.max(peak, active)
      order.push(req.url!)
      setTimeout(() => {
        active--
        res.end(req.url)
      }, 50)
    })
    const p = pool(server.url, { connections: 2 })
    const outs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => request(p, { path: `/${i}` })),
    )
    expect(outs.map((o) => o.body.toString())).toEqual(['/0', '/1', '/2', '/3', '/4', '/5'])
    expect(peak).toBe(2)
    expect(server.connections()).toBe(2)
    expect(order.slice(2)).toEqual(['/2', '/3', '/4', '/5'])
  })

  it('closes idle connections after keepAliveTimeout', async () => {
    const server = await httpServer((_req, res) => res.end('ok'))
    const p = pool(server.url, { keepAliveTimeout: 200 })
    await request(p)
    expect(p.stats.idle).toBe(1)
    await sleep(500)
    expect(p.stats.connections).toBe(0)
    expect(server.open()).toBe(0)
    expect((await request(p)).status).toBe(200)
    expect(server.connections()).toBe(2)
  })

  it('opens a new connection when the server closed an idle one', async () => {
    const http = createHttpServer((_req, res) => res.end('ok'))
    http.keepAliveTimeout = 100
    const server = await listen(http)
    const p = pool(server.url, { keepAliveTimeout: 10_000 })
    await request(p)
    // node:http closes a little after its keepAliveTimeout (Node 20 adds a grace of its own).
    await waitUntil(() => p.stats.connections === 0, { timeoutMs: 5000 })
    expect((await request(p)).status).toBe(200)
    expect(server.connections()).toBe(2)
  })

  it('sends a request whose body has not begun on another connection when the server closes the idle one it was given', async () => {
    const seen: { method: string; bytes: number }[] = []
    const http = createHttpServer((req, res) => {
      const entry = { method: req.method!, bytes: 0 }
      seen.push(entry)
      req.on('data', (chunk: Buffer) => (entry.bytes += chunk.length))
      req.on('end', () => res.end(`${entry.bytes}`))
    })
    http.keepAliveTimeout = 100
    let closed = 0
    http.on('connection', (socket: Socket) => socket.on('close', () => closed++))
    const server = await listen(http)
    const p = pool(server.url, { keepAliveTimeout: 10_000 })
    await request(p)
    expect(p.stats.idle).toBe(1)
    // A POST (never retried once sent) whose body comes after the server closed the connection.
    const body = new PassThrough()
    const out = request(p, { method: 'POST', body, headers: ['content-length', '5'] })
    await waitUntil(() => closed === 1, { timeoutMs: 5000 })
    await sleep(50)
    body.end('hello')
    const result = await out
    expect(result.error).toBeNull()
    expect(result.body.toString()).toBe('5')
    expect(seen.map((r) => [r.method, r.bytes])).toEqual([
      ['GET', 0],
      ['POST', 5],
    ])
    expect(server.connections()).toBe(2)
  })

  it('ends a request that waited in the queue longer than queueTimeout, unsent', async () => {
    const urls: string[] = []
    const server = await httpServer((req, res) => {
      urls.push(req.url!)
      setTimeout(() => res.end('ok'), 1500)
    })
    const p = pool(server.url, { connections: 1, queueTimeout: 200 })
    const first = request(p, { path: '/first' })
    const started = Date.now()
    const second = await request(p, { path: '/second' })
    expect(second.error?.code).toBe(QUEUE_TIMEOUT)
    expect(second.calls).toEqual(['start', 'error'])
    expect(Date.now() - started).toBeLessThan(1200)
    expect((await first).status).toBe(200)
    expect(urls).toEqual(['/first'])
  })

  it('never reuses a connection after Connection: close', async () => {
    const server = await httpServer((_req, res) => {
      res.setHeader('connection', 'close')
      res.end('bye')
    })
    const p = pool(server.url)
    expect((await request(p)).body.toString()).toBe('bye')
    expect((await request(p)).body.toString()).toBe('bye')
    expect(server.connections()).toBe(2)
  })

  it('reads a response without framing until the close, and does not reuse it', async () => {
    const server = await rawServer((socket) => socket.end('HTTP/1.1 200 OK\r\n\r\nuntil the end'))
    const p = pool(server.url)
    const out = await request(p)
    expect(out.body.toString()).toBe('until the end')
    expect(out.error).toBeNull()
    expect(p.stats.connections).toBe(0)
  })

  it('passes chunked trailers to onResponseEnd', async () => {
    const server = await httpServer((_req, res) => {
      res.setHeader('trailer', 'x-sum')
      res.write('part1,')
      res.addTrailers({ 'x-sum': '7' })
      res.end('part2')
    })
    const out = await request(pool(server.url))
    expect(out.body.toString()).toBe('part1,part2')
    expect(out.trailers).toEqual({ 'x-sum': '7' })
  })

  it('body chunks a handler keeps stay intact while many sockets read at once', async () => {
    // The sockets read into one reused buffer: a chunk handed out as a view of it, or a split
    // head, size line or trailer kept in it, would be overwritten by the next read of any socket.
    const body = randomBytes(1024 * 1024)
    const encoding: Record<string, Buffer> = {
      length: Buffer.concat([
        Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`),
        body,
      ]),
      chunked: chunkedResponse(body),
    }
    const server = await rawServer((socket, head) => {
      const wire = encoding[head.slice(5, head.indexOf(' ', 5))]!
      let at = 0
      // Pieces of 1 to 3000 bytes, a few per loop turn: reads end anywhere, in heads and size lines.
      const pump = (): void => {
        for (let n = 0; n < 4 && at < wire.length; n++) {
          const size = 1 + ((at * 7919) % 3000)
          socket.write(wire.subarray(at, at + size))
          at += size
        }
        if (at < wire.length) setImmediate(pump)
      }
      pump()
    })
    const p = pool(server.url, { connections: 4 })
    // One handler of each framing pauses now and then, so a read is left half parsed.
    const pausing = {
      onData(controller: Controller, _chunk: Buffer, received: number) {
        if (received % 5 === 0) {
          controller.pause()
          setTimeout(() => controller.resume(), 1)
        }
      },
    }
    const outs = await Promise.all([
      request(p, { path: '/length' }),
      request(p, { path: '/chunked' }),
      request(p, { path: '/length' }, pausing),
      request(p, { path: '/chunked' }, pausing),
    ])
    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex')
    for (const out of outs) {
      expect(out.error).toBeNull()
      expect(out.body.length).toBe(body.length)
      expect(digest(out.body)).toBe(digest(body))
    }
    expect(outs[1]!.trailers).toEqual({ 'x-sum': String(body.length) })
  })

  it('skips 1xx interim responses', async () => {
    const server = await rawServer((socket) =>
      socket.write(
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n' +
          'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
      ),
    )
    const out = await request(pool(server.url))
    expect(out.status).toBe(200)
    expect(out.calls).toEqual(['start', 'headers', 'data', 'end'])
  })

  describe('request bodies', () => {
    function hashingServer() {
      return httpServer((req, res) => {
        const hash = createHash('sha256')
        let bytes = 0
        req.on('data', (chunk: Buffer) => {
          hash.update(chunk)
          bytes += chunk.length
        })
        req.on('end', () =>
          res.end(
            JSON.stringify({
              bytes,
              sha: hash.digest('hex'),
              te: req.headers['transfer-encoding'] ?? null,
              cl: req.headers['content-length'] ?? null,
            }),
          ),
        )
      })
    }

    it('sends obs-text in a header value as its latin1 byte, with a small body after the head', async () => {
      let wire = Buffer.alloc(0)
      const server = await listen(
        createNetServer((socket) => {
          socket.on('data', (data) => {
            wire = Buffer.concat([wire, data])
            if (wire.subarray(-5).toString() === 'hello') {
              socket.end('HTTP/1.1 204 No Content\r\n\r\n')
            }
          })
        }),
      )
      const out = await request(pool(server.url), {
        method: 'POST',
        headers: ['x-name', 'caf\u00e9'],
        body: Buffer.from('hello'),
      })
      expect(out.status).toBe(204)
      const head = wire.subarray(0, wire.indexOf('\r\n\r\n') + 4)
      expect(head.includes(Buffer.from('x-name: caf\xe9\r\n', 'latin1'))).toBe(true)
      expect(wire.subarray(head.length).toString()).toBe('hello')
    })

    it('sends a Buffer with its Content-Length', async () => {
      const server = await hashingServer()
      const body = randomBytes(100_000)
      const out = await request(pool(server.url), { method: 'POST', body })
      expect(JSON.parse(out.body.toString())).toEqual({
        bytes: body.length,
        sha: createHash('sha256').update(body).digest('hex'),
        te: null,
        cl: String(body.length),
      })
    })

    it('streams a Readable chunked when no length is given, raw when one is', async () => {
      const server = await hashingServer()
      const p = pool(server.url)
      const parts = Array.from({ length: 300 }, () => randomBytes(64 * 1024))
      const sha = createHash('sha256')
      for (const part of parts) sha.update(part)
      const expected = sha.digest('hex')
      const total = parts.length * 64 * 1024
      const chunked = await request(p, { method: 'POST', body: Readable.from(parts) })
      expect(JSON.parse(chunked.body.toString())).toEqual({
        bytes: total,
        sha: expected,
        te: 'chunked',
        cl: null,
      })
      const raw = await request(p, {
        method: 'PUT',
        body: Readable.from(parts),
        headers: { 'content-length': String(total) },
      })
      expect(JSON.parse(raw.body.toString())).toMatchObject({
        bytes: total,
        sha: expected,
        te: null,
      })
    })

    it('fails the request when a streamed body does not match its Content-Length', async () => {
      const server = await hashingServer()
      const out = await request(pool(server.url), {
        method: 'POST',
        body: Readable.from([Buffer.from('short')]),
        headers: { 'content-length': '10' },
      })
      expect(out.error?.code).toBe('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH')
    })
  })

  it('refuses CR, LF and NUL in header names and values synchronously', () => {
    const p = pool('http://127.0.0.1:9')
    for (const headers of [
      ['x-a', 'v\r\nx-injected: 1'],
      ['x-a', 'v\nw'],
      ['x-a', 'v\u0000'],
      ['x-a\r\nx-b', 'v'],
      ['transfer-encoding', 'chunked'],
    ]) {
      const { handler } = collect()
      expect(() => p.dispatch({ method: 'GET', path: '/', headers }, handler)).toThrow(
        expect.objectContaining({ code: 'UND_ERR_INVALID_ARG' }),
      )
    }
    const { handler } = collect()
    expect(() => p.dispatch({ method: 'GET', path: '/a b' }, handler)).toThrow(/path/)
  })

  it('names the refused field, in list and record form, whatever spoils it', () => {
    const p = pool('http://127.0.0.1:9')
    const cases: [Dispatcher.DispatchOptions['headers'], RegExp][] = [
      [['x-ok', 'fine', 'x-bad', 'v\r\nx-injected: 1'], /invalid x-bad header/],
      [['x-ok', 'fine', 'x-bad', 'v\u0001'], /invalid x-bad header/],
      [['x-ok', 'fine', 'x-bad', 'v\u007f'], /invalid x-bad header/],
      [['x-ok', 'fine', 'x-bad', 'caf\u0113'], /invalid x-bad header/],
      [['x bad', 'v'], /invalid header name/],
      [['', 'v'], /invalid header name/],
      [{ 'x-ok': 'fine', 'x-bad': ['a', 'b\nc'] }, /invalid x-bad header/],
      [{ 'x-bad:': 'v' }, /invalid header name/],
    ]
    for (const [headers, message] of cases) {
      const { handler } = collect()
      expect(() => p.dispatch({ method: 'GET', path: '/', headers }, handler)).toThrow(message)
    }
    // Tab, obs-text and an empty value are all field values (RFC 9110 §5.5).
    const { handler } = collect()
    expect(() =>
      p.dispatch(
        { method: 'GET', path: '/', headers: ['x-a', 'a\tb', 'x-b', 'caf\u00e9', 'x-c', ''] },
        handler,
      ),
    ).not.toThrow()
  })

  it('applies backpressure: pause stops reading a 50 MB body, resume delivers it intact', async () => {
    const TOTAL = 50 * 1024 * 1024
    const block = randomBytes(1024 * 1024)
    let sentWhilePaused = -1
    let written = 0
    const server = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(TOTAL) })
      const pump = () => {
        while (written < TOTAL) {
          written += block.length
          if (!res.write(block)) return void res.once('drain', pump)
        }
        res.end()
      }
      pump()
    })
    let pausedOnce = false
    const out = await request(
      pool(server.url),
      {},
      {
        onData(controller, _chunk, received) {
          if (!pausedOnce && received > 5 * 1024 * 1024) {
            pausedOnce = true
            controller.pause()
            const before = written
            setTimeout(() => {
              sentWhilePaused = written - before
              controller.resume()
            }, 500)
          } else if (received % (7 * 1024 * 1024) < 65536) {
            // Pause and resume inside the same callback, and resume from a timer.
            controller.pause()
            controller.resume()
            controller.pause()
            setImmediate(() => controller.resume())
          }
        },
      },
    )
    expect(out.error).toBeNull()
    expect(out.body.length).toBe(TOTAL)
    const expected = createHash('sha256')
    for (let i = 0; i < TOTAL / block.length; i++) expected.update(block)
    expect(createHash('sha256').update(out.body).digest('hex')).toBe(expected.digest('hex'))
    // While paused, the server could only fill the socket buffers, nowhere near the 45 MB left.
    expect(sentWhilePaused).toBeGreaterThanOrEqual(0)
    expect(sentWhilePaused).toBeLessThan(16 * 1024 * 1024)
  })

  it('abort() ends the request once with the reason and destroys the connection', async () => {
    const server = await httpServer((_req, res) => {
      res.writeHead(200)
      res.write(Buffer.alloc(64 * 1024))
      const timer = setInterval(() => res.write(Buffer.alloc(1024)), 10)
      res.on('close', () => clearInterval(timer))
    })
    const p = pool(server.url)
    const reason = new Error('enough')
    const out = await request(p, {}, { onData: (controller) => controller.abort(reason) })
    expect(out.error).toBe(reason)
    await sleep(100)
    expect(out.calls).toEqual(['start', 'headers', 'data', 'error'])
    expect(p.stats.connections).toBe(0)
    expect(server.open()).toBe(0)
  })

  it('abort() of a queued request settles it without sending it', async () => {
    const urls: string[] = []
    const server = await httpServer((req, res) => {
      urls.push(req.url!)
      setTimeout(() => res.end('ok'), 100)
    })
    const p = pool(server.url, { connections: 1 })
    const first = request(p, { path: '/first' })
    let controller: Controller | null = null
    const second = request(p, { path: '/second' }, { onStart: (c) => (controller = c) })
    const third = request(p, { path: '/third' })
    expect(p.stats.queued).toBe(2)
    controller!.abort(new Error('never mind'))
    expect((await second).error?.message).toBe('never mind')
    expect((await first).status).toBe(200)
    expect((await third).status).toBe(200)
    expect(urls).toEqual(['/first', '/third'])
  })

  describe('timeouts and connection errors', () => {
    it('headersTimeout → UND_ERR_HEADERS_TIMEOUT', async () => {
      const server = await httpServer(() => undefined)
      const started = Date.now()
      const out = await request(pool(server.url), { headersTimeout: 300 })
      expect(out.error?.code).toBe('UND_ERR_HEADERS_TIMEOUT')
      expect(Date.now() - started).toBeGreaterThanOrEqual(300)
      expect(out.calls).toEqual(['start', 'error'])
    })

    it('bodyTimeout (silence between chunks) → UND_ERR_BODY_TIMEOUT', async () => {
      const server = await httpServer((_req, res) => {
        res.writeHead(200, { 'content-length': '100' })
        res.write('some')
      })
      const out = await request(pool(server.url), { bodyTimeout: 300 })
      expect(out.error?.code).toBe('UND_ERR_BODY_TIMEOUT')
      expect(out.calls).toEqual(['start', 'headers', 'data', 'error'])
    })

    it('a steady slow body does not time out', async () => {
      const server = await httpServer((_req, res) => {
        res.writeHead(200, { 'content-length': '8' })
        let n = 0
        const timer = setInterval(() => {
          res.write('x')
          if (++n === 8) {
            clearInterval(timer)
            res.end()
          }
        }, 100)
      })
      const out = await request(pool(server.url), { bodyTimeout: 300 })
      expect(out.error).toBeNull()
      expect(out.body.toString()).toBe('xxxxxxxx')
    })

    it('connect timeout → UND_ERR_CONNECT_TIMEOUT', async () => {
      const blackhole = await startBlackhole()
      cleanups.push(() => blackhole.close())
      const started = Date.now()
      const p = pool(`http://127.0.0.1:${blackhole.port}`, { connect: { timeout: 300 } })
      const out = await request(p)
      expect(out.error?.code).toBe('UND_ERR_CONNECT_TIMEOUT')
      expect(Date.now() - started).toBeGreaterThanOrEqual(300)
    })

    it('a refused connection → ECONNREFUSED', async () => {
      const out = await request(pool(`http://127.0.0.1:${await refusingPort()}`))
      expect(out.error?.code).toBe('ECONNREFUSED')
      expect(out.calls).toEqual(['start', 'error'])
    })

    it('a connection closed before the response → UND_ERR_SOCKET', async () => {
      const server = await rawServer((socket) => socket.end())
      const out = await request(pool(server.url))
      expect(out.error?.code).toBe('UND_ERR_SOCKET')
    })

    it('a malformed response → UND_ERR_SOCKET, connection destroyed', async () => {
      const server = await rawServer((socket) =>
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'),
      )
      const p = pool(server.url)
      const out = await request(p)
      expect(out.error?.code).toBe('UND_ERR_SOCKET')
      expect(out.error?.message).toMatch(/conflicting Content-Length/)
      expect(p.stats.connections).toBe(0)
    })
  })

  it('never takes unsolicited bytes on a kept-alive socket for the next response', async () => {
    const seen = new Map<Socket, number>()
    const server = await rawServer((socket) => {
      if (!seen.has(socket)) seen.set(socket, seen.size + 1)
      if (seen.get(socket) === 1) {
        // A response, then in another segment one more nobody asked for.
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ngood')
        setImmediate(() => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nevil'))
      } else {
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ngood')
      }
    })
    const p = pool(server.url)
    const second = new Promise<Outcome>((resolve) => {
      // The next request is dispatched the moment the first ends, before the extra bytes land.
      const { handler } = collect()
      const first = handler.onResponseEnd!.bind(handler)
      handler.onResponseEnd = (controller, trailers) => {
        first(controller, trailers)
        resolve(request(p, { path: '/second' }))
      }
      p.dispatch({ method: 'GET', path: '/first' }, handler)
    })
    const out = await second
    expect(out.body.toString()).toBe('good')
    await sleep(50)
    expect((await request(p)).body.toString()).toBe('good')
    expect(seen.size).toBeGreaterThanOrEqual(2)
  })

  it('a HEAD response ends at its head and keeps the connection', async () => {
    const server = await httpServer((_req, res) => {
      res.setHeader('content-length', '1000')
      res.end()
    })
    const p = pool(server.url)
    const out = await request(p, { method: 'HEAD' })
    expect(out.headers['content-length']).toBe('1000')
    expect(out.calls).toEqual(['start', 'headers', 'end'])
    expect((await request(p, { method: 'HEAD' })).status).toBe(200)
    expect(server.connections()).toBe(1)
  })

  it('announces an empty POST with Content-Length: 0', async () => {
    let length: string | undefined
    const server = await httpServer((req, res) => {
      length = req.headers['content-length']
      res.end()
    })
    await request(pool(server.url), { method: 'POST' })
    expect(length).toBe('0')
  })

  it('a streamed body failing while its request waits ends that request, and only it', async () => {
    const server = await httpServer((_req, res) => setTimeout(() => res.end('ok'), 100))
    const p = pool(server.url, { connections: 1 })
    const first = request(p)
    const body = new Readable({ read: () => undefined })
    const second = request(p, { method: 'POST', body })
    const reason = new Error('client body broke')
    body.destroy(reason)
    expect((await second).error).toBe(reason)
    expect((await first).body.toString()).toBe('ok')
  })

  it('a handler that throws ends its request with that error, once', async () => {
    const server = await httpServer((_req, res) => res.end('x'.repeat(100)))
    const p = pool(server.url)
    const boom = new Error('handler bug')
    const out = await request(
      p,
      {},
      {
        onData: () => {
          throw boom
        },
      },
    )
    await sleep(20)
    expect(out.error).toBe(boom)
    expect(out.calls).toEqual(['start', 'headers', 'data', 'error'])
    expect((await request(p)).status).toBe(200)
  })

  it('destroy() ends requests in flight and queued with its reason', async () => {
    const server = await httpServer(() => undefined)
    const p = pool(server.url, { connections: 1 })
    const inflight = request(p)
    const queued = request(p)
    await sleep(50)
    const reason = new Error('shutting down')
    await p.destroy(reason)
    expect((await inflight).error).toBe(reason)
    expect((await queued).error).toBe(reason)
    expect((await request(p)).error?.code).toBe('UND_ERR_DESTROYED')
  })

  it('close() lets requests in flight finish, then refuses new ones', async () => {
    const server = await httpServer((_req, res) => setTimeout(() => res.end('late'), 100))
    const p = pool(server.url)
    const inflight = request(p)
    await sleep(10)
    const closed = p.close()
    const refused = await request(p)
    expect(refused.error?.code).toBe('UND_ERR_CLOSED')
    expect((await inflight).body.toString()).toBe('late')
    await closed
    expect(p.stats.connections).toBe(0)
  })
})
