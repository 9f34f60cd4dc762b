import { createServer } from 'node:http'
import type { Socket } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send, type ErrorBody } from '../helpers/http.js'
import { closeAllRaw, header, RawConnection, type RawResponse } from '../helpers/raw.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { sleep, waitUntil } from '../helpers/wait.js'

const BUFFER = 4096
const HEAD = (path: string, extra: string) =>
  `POST ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`

function errorOf(response: RawResponse | undefined): ErrorBody {
  expect(response).toBeDefined()
  expect(header(response!, 'content-type')).toBe('application/json')
  return JSON.parse(response!.body.toString('utf8')) as ErrorBody
}

function finals(connection: RawConnection): RawResponse[] {
  return connection.responses().filter((r) => r.status >= 200)
}

/** Sends `bytes` a few at a time every `everyMs` until the connection closes or `stop` says so. */
async function trickle(connection: RawConnection, everyMs: number, stop: () => boolean) {
  while (!connection.closed && !stop()) {
    await connection.write('abcdefghij')
    await sleep(everyMs)
  }
}

describe.each(FRONTS)('slow request bodies on the %s front', (front) => {
  let gateway: Gateway
  let streaming: Gateway
  let upstream: TestUpstream
  let busy: TestUpstream

  beforeAll(async () => {
    upstream = await startUpstream('echo')
    busy = await startUpstream('busy')
    const route = (name: string, upstreamName: string) => ({
      name,
      match: { paths: [`/${name}/*`] },
      upstream: upstreamName,
      auth: 'none',
    })
    gateway = await startGateway({
      front,
      config: {
        limits: {
          buffer_body: BUFFER,
          min_body_rate: '1KiB',
          min_body_rate_window: '1s',
          request_timeout: '20s',
        },
        upstreams: {
          echo: { targets: [upstream.url] },
          'busy-native': { targets: [busy.url], connections: 1, queue_timeout: '300ms' },
          'busy-undici': {
            targets: [busy.url],
            connections: 1,
            queue_timeout: '300ms',
            transport: 'undici',
          },
        },
        routes: [
          { ...route('echo', 'echo'), max_body: '10MiB' },
          route('busy-native', 'busy-native'),
          route('busy-undici', 'busy-undici'),
        ],
      },
    })
    // Streams every body from its first byte, and caps requests per client address.
    streaming = await startGateway({
      front,
      config: {
        limits: { buffer_body: 0, max_concurrent_per_client: 2 },
        upstreams: { echo: { targets: [upstream.url] } },
        routes: [{ ...route('echo', 'echo'), max_body: '10MiB' }],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  beforeEach(() => {
    upstream.reset()
    upstream.handle(null)
    busy.reset()
    busy.handle(null)
    closeAllRaw()
  })

  describe('when a body fits buffer_body', () => {
    it('receives a chunked body whole before the upstream sees the request, then sends it with its length', async () => {
      const connection = await RawConnection.open(gateway.port)
      await connection.write(HEAD('/echo/x', 'Transfer-Encoding: chunked\r\n'))
      await connection.write(`64\r\n${'d'.repeat(100)}\r\n`)
      await sleep(300)
      expect(upstream.requests).toEqual([])
      await connection.write(`64\r\n${'d'.repeat(100)}\r\n0\r\n\r\n`)
      await connection.waitFor(() => finals(connection)[0]?.complete === true, 5000)
      expect(finals(connection)[0]?.status).toBe(200)
      expect(upstream.requests.map((r) => [r.bodyBytes, r.headers['content-length']])).toEqual([
        [200, '200'],
      ])
      expect(upstream.requests[0]!.headers['transfer-encoding']).toBeUndefined()
    })
  })

  describe('when a body is larger than buffer_body', () => {
    it('takes no upstream connection until buffer_body bytes arrived, then streams the rest', async () => {
      const total = 64 * 1024
      const connection = await RawConnection.open(gateway.port)
      await connection.write(HEAD('/echo/x', `Content-Length: ${total}\r\n`))
      await connection.write(Buffer.alloc(BUFFER - 1, 0x61))
      await sleep(300)
      expect(upstream.requests).toEqual([])
      await connection.write(Buffer.alloc(1, 0x61))
      await waitUntil(() => upstream.requests.length === 1, { what: 'the upstream request' })
      for (let sent = BUFFER; sent < total; sent += 4096) {
        await connection.write(Buffer.alloc(4096, 0x62))
      }
      await connection.waitFor(() => finals(connection)[0]?.complete === true, 5000)
      expect(finals(connection)[0]?.status).toBe(200)
      expect(upstream.requests.map((r) => r.bodyBytes)).toEqual([total])
    })
  })

  describe('when a body arrives slower than min_body_rate', () => {
    it('answers 408 and closes before a byte reached the upstream', async () => {
      const connection = await RawConnection.open(gateway.port)
      const started = Date.now()
      await connection.write(HEAD('/echo/x', 'Content-Length: 100000\r\n'))
      await trickle(connection, 200, () => Date.now() - started > 8000)
      const elapsed = Date.now() - started
      expect(connection.closed).toBe(true)
      const response = finals(connection)[0]
      expect(response?.status).toBe(408)
      expect(errorOf(response).error).toBe('request_timeout')
      expect(elapsed).toBeGreaterThanOrEqual(900)
      expect(elapsed).toBeLessThan(5000)
      expect(upstream.requests).toEqual([])
      await gateway.waitForLog((l) => l.msg === 'request body too slow' && l.forwarded === false)
    })

    it('aborts the upstream request it had started, answers 408 and closes', async () => {
      const connection = await RawConnection.open(gateway.port)
      await connection.write(HEAD('/echo/x', 'Content-Length: 100000\r\n'))
      await connection.write(Buffer.alloc(2 * BUFFER, 0x61))
      await waitUntil(() => upstream.requests.length === 1, { what: 'the upstream request' })
      const started = Date.now()
      await trickle(connection, 200, () => Date.now() - started > 8000)
      expect(connection.closed).toBe(true)
      expect(finals(connection)[0]?.status).toBe(408)
      await waitUntil(() => upstream.requests[0]!.aborted, { what: 'the upstream abort' })
      expect(upstream.requests[0]!.complete).toBe(false)
      await gateway.waitForLog((l) => l.msg === 'request body too slow' && l.forwarded === true)
    })

    it('lets a body through that keeps the rate in small writes', async () => {
      const total = 3 * BUFFER
      const connection = await RawConnection.open(gateway.port)
      await connection.write(HEAD('/echo/x', `Content-Length: ${total}\r\n`))
      for (let sent = 0; sent < total; sent += 512) {
        await connection.write(Buffer.alloc(512, 0x61))
        await sleep(100)
      }
      await connection.waitFor(() => finals(connection)[0]?.complete === true, 5000)
      expect(finals(connection)[0]?.status).toBe(200)
      expect(upstream.requests.map((r) => r.bodyBytes)).toEqual([total])
    })
  })

  describe.each(['native', 'undici'])(
    'when every connection of a target stays busy (%s transport)',
    (transport) => {
      it('answers 503 upstream_busy with Retry-After after queue_timeout, unsent', async () => {
        busy.handle((req, res) => {
          req.resume()
          setTimeout(() => res.end('late'), 2000)
        })
        const path = `/busy-${transport}`
        const first = send(`${gateway.url}${path}/first`)
        await waitUntil(() => busy.requests.length === 1, { what: 'the first request' })
        const started = Date.now()
        const second = await send(`${gateway.url}${path}/second`)
        expect(second.status).toBe(503)
        expect(second.headers['retry-after']).toBe('1')
        expect(second.json<ErrorBody>().error).toBe('upstream_busy')
        expect(Date.now() - started).toBeLessThan(1800)
        expect((await first).status).toBe(200)
        expect(busy.requests.map((r) => r.url)).toEqual([`${path}/first`])
      })
    },
  )

  describe('when a client has max_concurrent_per_client requests in flight', () => {
    it('answers 429 with Retry-After to the next one, and takes it once one ended', async () => {
      upstream.handle((req, res) => {
        req.resume()
        setTimeout(() => res.end('ok'), 700)
      })
      const running = [send(`${streaming.url}/echo/1`), send(`${streaming.url}/echo/2`)]
      await waitUntil(() => upstream.requests.length === 2, { what: 'two requests in flight' })
      const refused = await send(`${streaming.url}/echo/3`)
      expect(refused.status).toBe(429)
      expect(refused.headers['retry-after']).toBe('1')
      expect(refused.json<ErrorBody>().error).toBe('too_many_concurrent_requests')
      expect((await Promise.all(running)).map((r) => r.status)).toEqual([200, 200])
      expect((await send(`${streaming.url}/echo/4`)).status).toBe(200)
    })
  })

  describe('when the upstream closes the idle connection a request was given before its body began', () => {
    it('sends the request on another connection instead of answering 502', async () => {
      // An upstream that closes idle keep-alive connections quickly (node:http's keepAliveTimeout),
      // long before the gateway would (keepalive_timeout 30s).
      const sockets = new Set<Socket>()
      let closed = 0
      const bodies: number[] = []
      const server = createServer((req, res) => {
        let bytes = 0
        req.on('data', (chunk: Buffer) => (bytes += chunk.length))
        req.on('end', () => {
          bodies.push(bytes)
          res.end(String(bytes))
        })
      })
      server.keepAliveTimeout = 200
      server.on('connection', (socket: Socket) => {
        sockets.add(socket)
        socket.on('close', () => {
          sockets.delete(socket)
          closed++
        })
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
      const port = (server.address() as { port: number }).port
      const idle = await startGateway({
        front,
        config: {
          limits: { buffer_body: 0 },
          upstreams: {
            idle: { targets: [`http://127.0.0.1:${port}`], keepalive_timeout: '30s' },
          },
          routes: [{ name: 'idle', match: { paths: ['/*'] }, upstream: 'idle', auth: 'none' }],
        },
      })
      try {
        expect((await send(`${idle.url}/warm`)).status).toBe(200)
        // A POST, which is never sent twice: its head waits for the first body byte.
        const connection = await RawConnection.open(idle.port)
        await connection.write(HEAD('/late', 'Content-Length: 5\r\n'))
        await waitUntil(() => closed >= 1, { what: 'the upstream to close the idle connection' })
        await sleep(100)
        await connection.write('hello')
        await connection.waitFor(() => finals(connection)[0]?.complete === true, 5000)
        const response = finals(connection)[0]
        expect(response?.status).toBe(200)
        expect(response?.body.toString()).toBe('5')
        expect(bodies).toEqual([0, 5])
      } finally {
        for (const socket of sockets) socket.destroy()
        server.close()
      }
    })
  })
})
