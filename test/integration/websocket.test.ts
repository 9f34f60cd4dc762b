/**
 * WebSocket forwarding through both fronts: the node front splices bytes, the uws front relays
 * messages (docs/architecture.md, "The two fronts"). The upstream is a hand-rolled RFC 6455 server
 * (helpers/websocket.ts); clients are undici's WebSocket, or raw bytes where a client library
 * would hide what the test looks at (hop-by-hop headers, refusals, backpressure).
 */
import { randomBytes } from 'node:crypto'
import { connect as netConnect, type Socket } from 'node:net'
import { WebSocket } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  FRONTS,
  startGateway,
  stopAllGateways,
  type ConfigInput,
  type Front,
  type Gateway,
} from '../helpers/gateway.js'
import { send, type ErrorBody } from '../helpers/http.js'
import { freePort } from '../helpers/ports.js'
import { closeAllRaw, header, RawConnection, rawRequest, type RawResponse } from '../helpers/raw.js'
import { sleep, waitUntil } from '../helpers/wait.js'
import {
  acceptFor,
  closeAllWsUpstreams,
  encodeFrame,
  parseFrames,
  startWsUpstream,
  type WsUpstream,
} from '../helpers/websocket.js'

interface Closed {
  readonly code: number
  readonly reason: string
}

/** An undici WebSocket with its messages queued, so a test can await them one by one. */
interface Client {
  readonly ws: WebSocket
  next(timeoutMs?: number): Promise<string | ArrayBuffer>
  readonly closed: Promise<Closed>
}

function openClient(url: string, protocols: string[] = [], timeoutMs = 5000): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols)
    ws.binaryType = 'arraybuffer'
    const queue: (string | ArrayBuffer)[] = []
    const waiters: ((value: string | ArrayBuffer) => void)[] = []
    let closedResolve!: (value: Closed) => void
    const closed = new Promise<Closed>((r) => (closedResolve = r))
    const timer = setTimeout(() => {
      ws.close()
      reject(new Error(`WebSocket to ${url} did not open within ${timeoutMs} ms`))
    }, timeoutMs)
    ws.addEventListener('message', (event) => {
      const data = event.data as string | ArrayBuffer
      const waiter = waiters.shift()
      if (waiter !== undefined) waiter(data)
      else queue.push(data)
    })
    ws.addEventListener('close', (event) => {
      clearTimeout(timer)
      closedResolve({ code: event.code, reason: event.reason })
      reject(new Error(`WebSocket to ${url} closed before opening (${event.code})`))
    })
    ws.addEventListener('open', () => {
      clearTimeout(timer)
      resolve({
        ws,
        closed,
        next(waitMs = 5000): Promise<string | ArrayBuffer> {
          const queued = queue.shift()
          if (queued !== undefined) return Promise.resolve(queued)
          return new Promise((res, rej) => {
            const t = setTimeout(() => rej(new Error('no message within the wait')), waitMs)
            waiters.push((value) => {
              clearTimeout(t)
              res(value)
            })
          })
        },
      })
    })
  })
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: over ${ms} ms`)), ms),
    ),
  ])
}

function randomKey(): string {
  return randomBytes(16).toString('base64')
}

/** A client's opening handshake (RFC 6455 §4.1) as raw bytes. */
function handshake(path: string, key: string, extra = ''): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`
  )
}

/** Sends raw bytes and waits for the first complete response (or the close). */
async function firstResponse(port: number, bytes: string): Promise<RawResponse> {
  const result = await rawRequest(port, bytes, {
    waitMs: 5000,
    until: (responses) => responses.length > 0 && responses[0]!.complete,
  })
  const response = result.responses[0]
  if (response === undefined) throw new Error(`no response; got ${JSON.stringify(result.text)}`)
  return response
}

function errorCode(response: RawResponse): string {
  return (JSON.parse(response.body.toString('utf8')) as ErrorBody).error
}

function configFor(upstream: WsUpstream, deadPort: number): ConfigInput {
  return {
    upstreams: {
      ws: { targets: [upstream.url] },
      based: { targets: [`${upstream.url}/base`] },
      dead: { targets: [`http://127.0.0.1:${deadPort}`], retries: 0 },
    },
    routes: [
      { name: 'ws', match: { paths: ['/ws/*'] }, upstream: 'ws', auth: 'none', websocket: true },
      {
        name: 'strip',
        match: { paths: ['/strip/*'] },
        upstream: 'based',
        auth: 'none',
        websocket: true,
        strip_path: true,
      },
      { name: 'plain', match: { paths: ['/plain/*'] }, upstream: 'ws', auth: 'none' },
      {
        name: 'dead',
        match: { paths: ['/dead/*'] },
        upstream: 'dead',
        auth: 'none',
        websocket: true,
      },
    ],
  }
}

afterAll(async () => {
  closeAllRaw()
  await stopAllGateways()
  await closeAllWsUpstreams()
})

describe.each(FRONTS)('WebSocket through the %s front', (front: Front) => {
  let upstream: WsUpstream
  let gateway: Gateway
  let wsUrl: string

  beforeAll(async () => {
    upstream = await startWsUpstream()
    gateway = await startGateway({ front, config: configFor(upstream, await freePort()) })
    wsUrl = gateway.url.replace('http://', 'ws://')
  })

  it('relays text and binary messages both ways, in order', async () => {
    const client = await openClient(`${wsUrl}/ws/echo`)
    client.ws.send('hello')
    expect(await client.next()).toBe('hello')
    const unicode = 'grüße 👋'
    client.ws.send(unicode)
    expect(await client.next()).toBe(unicode)
    // Past 65535 bytes: the 64-bit length form of RFC 6455 §5.2.
    const binary = randomBytes(100_000)
    client.ws.send(binary)
    const echoed = await client.next()
    expect(echoed).toBeInstanceOf(ArrayBuffer)
    expect(Buffer.from(echoed as ArrayBuffer).equals(binary)).toBe(true)
    client.ws.send(new Uint8Array(0))
    expect((await client.next()) as ArrayBuffer).toHaveProperty('byteLength', 0)
    for (let i = 0; i < 50; i++) client.ws.send(`m${i}`)
    for (let i = 0; i < 50; i++) expect(await client.next()).toBe(`m${i}`)
    client.ws.close(1000)
    expect((await within(client.closed, 5000, 'close')).code).toBe(1000)
    const log = await gateway.waitForLog(
      (l) => l.msg === 'access' && l.route === 'ws' && l.status === 101,
    )
    expect(log['path']).toBe('/ws/echo')
  })

  it('sends the identity and forwarding headers on the upstream handshake, no hop-by-hop ones', async () => {
    upstream.reset()
    const key = randomKey()
    const response = await firstResponse(
      gateway.port,
      handshake(
        '/ws/headers?x=1',
        key,
        'X-Request-Id: ws-trace-1\r\nConnection: X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\n' +
          'TE: trailers\r\nProxy-Authorization: Basic eA==\r\nX-Forwarded-For: 6.6.6.6\r\n' +
          'Sec-WebSocket-Protocol: chat, superchat\r\nX-App: kept\r\n',
      ),
    )
    expect(response.status).toBe(101)
    expect(header(response, 'sec-websocket-accept')).toBe(acceptFor(key))
    expect(header(response, 'sec-websocket-protocol')).toBe('chat')
    expect(header(response, 'upgrade')?.toLowerCase()).toBe('websocket')
    expect(header(response, 'x-request-id')).toBe('ws-trace-1')
    expect(header(response, 'x-upstream-cookie')).toBe('yes')

    expect(upstream.handshakes).toHaveLength(1)
    const seen = upstream.handshakes[0]!
    expect(seen.url).toBe('/ws/headers?x=1')
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(seen.headers['x-request-id']).toBe('ws-trace-1')
    expect(seen.headers['via']).toContain('portcullis')
    expect(seen.headers['x-forwarded-proto']).toBe('http')
    expect(seen.headers['x-app']).toBe('kept')
    expect(seen.headers['sec-websocket-protocol']).toBe('chat, superchat')
    expect(seen.headers['sec-websocket-version']).toBe('13')
    expect(seen.headers['upgrade']?.toLowerCase()).toBe('websocket')
    expect(seen.headers['connection']?.toLowerCase()).toBe('upgrade')
    for (const name of ['x-hop', 'keep-alive', 'te', 'proxy-authorization', 'transfer-encoding']) {
      expect(seen.headers, name).not.toHaveProperty(name)
    }
    if (front === 'node') {
      // Byte level: the client's own key goes upstream, and the client checks the accept.
      expect(seen.headers['sec-websocket-key']).toBe(key)
    } else {
      // Message level: the gateway is the upstream's client, with a key of its own.
      expect(seen.headers['sec-websocket-key']).not.toBe(key)
      expect(seen.headers['sec-websocket-extensions']).toBeUndefined()
    }
  })

  it('strips the matched prefix and adds the base path of the target', async () => {
    upstream.reset()
    const client = await openClient(`${wsUrl}/strip/deep/path?q=1`)
    client.ws.send('via strip')
    expect(await client.next()).toBe('via strip')
    client.ws.close()
    await within(client.closed, 5000, 'close')
    expect(upstream.handshakes.map((h) => h.url)).toEqual(['/base/deep/path?q=1'])
  })

  it("passes the client's close code and reason to the upstream", async () => {
    upstream.reset()
    const client = await openClient(`${wsUrl}/ws/client-close`)
    client.ws.send('ready?')
    expect(await client.next()).toBe('ready?')
    client.ws.close(4000, 'client bye')
    const closed = await within(client.closed, 5000, 'client close')
    expect(closed.code).toBe(4000)
    await waitUntil(() => upstream.closes.length > 0, { timeoutMs: 5000, what: 'upstream close' })
    expect(upstream.closes).toEqual([{ code: 4000, reason: 'client bye' }])
  })

  it("passes the upstream's close code and reason to the client", async () => {
    upstream.reset()
    const client = await openClient(`${wsUrl}/ws/upstream-close`)
    client.ws.send('close:4001:upstream bye')
    const closed = await within(client.closed, 5000, 'client close')
    expect(closed).toEqual({ code: 4001, reason: 'upstream bye' })
    // The client answered the close; the upstream sees that answer.
    await waitUntil(() => upstream.closes.length > 0, { timeoutMs: 5000, what: 'close answer' })
    expect(upstream.closes[0]!.code).toBe(4001)
  })

  it('tells the client when the upstream connection drops without a close frame', async () => {
    const client = await openClient(`${wsUrl}/ws/drop`)
    client.ws.send('drop')
    const closed = await within(client.closed, 5000, 'client close')
    // uws: the gateway closes with 1011 (RFC 6455 §7.4.1); node: the spliced TCP connection ends
    // without a close frame, which the client reports as 1006.
    expect(closed.code).toBe(front === 'uws' ? 1011 : 1006)
  })

  it('answers pings of the upstream', async () => {
    upstream.reset()
    const client = await openClient(`${wsUrl}/ws/ping`)
    client.ws.send('ping:are-you-there')
    await waitUntil(() => upstream.pongs.length > 0, { timeoutMs: 5000, what: 'pong' })
    expect(upstream.pongs).toEqual(['are-you-there'])
    client.ws.close()
    await within(client.closed, 5000, 'close')
  })

  it('refuses an upgrade on a route without websocket: true', async () => {
    upstream.reset()
    const response = await firstResponse(gateway.port, handshake('/plain/x', randomKey()))
    expect(response.status).toBe(400)
    expect(errorCode(response)).toBe('upgrade_not_allowed')
    expect(upstream.handshakes).toHaveLength(0)
    expect(upstream.httpRequests).toHaveLength(0)
  })

  it('refuses Upgrade: h2c on every route', async () => {
    upstream.reset()
    for (const path of ['/ws/x', '/plain/x']) {
      for (const withKey of [true, false]) {
        const response = await firstResponse(
          gateway.port,
          `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n` +
            'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n' +
            (withKey ? `Sec-WebSocket-Key: ${randomKey()}\r\nSec-WebSocket-Version: 13\r\n` : '') +
            '\r\n',
        )
        expect(response.status, `${path} key=${withKey}`).toBe(400)
        expect(errorCode(response)).toBe('upgrade_not_allowed')
      }
    }
    expect(upstream.handshakes).toHaveLength(0)
    expect(upstream.httpRequests).toHaveLength(0)
  })

  it('refuses handshakes that break RFC 6455 §4.1 before the upstream sees them', async () => {
    upstream.reset()
    const badVersion = await firstResponse(
      gateway.port,
      handshake('/ws/x', randomKey()).replace('Version: 13', 'Version: 8'),
    )
    expect(badVersion.status).toBe(426)
    expect(header(badVersion, 'sec-websocket-version')).toBe('13')
    const badKey = await firstResponse(gateway.port, handshake('/ws/x', 'short-key-of-24-chars-xx'))
    expect(badKey.status).toBe(400)
    expect(upstream.handshakes).toHaveLength(0)
  })

  it("passes an upstream's refusal of the handshake to the client", async () => {
    upstream.reset()
    const response = await firstResponse(gateway.port, handshake('/ws/refuse', randomKey()))
    expect(response.status).toBe(403)
    expect(header(response, 'x-upstream')).toBe('refused')
    expect(response.body.toString('utf8')).toBe('{"error":"forbidden"}')
    expect(upstream.handshakes).toHaveLength(1)
  })

  it('lets go of the upstream handshake when the client leaves during it', async () => {
    upstream.reset()
    const connection = await RawConnection.open(gateway.port)
    await connection.write(handshake('/ws/slow', randomKey()))
    await waitUntil(() => upstream.handshakes.length > 0, { timeoutMs: 5000, what: 'handshake' })
    connection.destroy()
    const seen = upstream.handshakes[0]!
    await waitUntil(() => seen.socket.readableEnded || seen.socket.destroyed, {
      timeoutMs: 5000,
      what: 'the gateway to close the upstream connection',
    })
    await gateway.waitForLog(
      (l) => l.msg === 'access' && l.path === '/ws/slow' && l.aborted === true,
      5000,
    )
    // The gateway is none the worse for it.
    const client = await openClient(`${wsUrl}/ws/after-abort`)
    client.ws.send('still here')
    expect(await client.next()).toBe('still here')
    client.ws.close()
    await within(client.closed, 5000, 'close')
  })

  it('answers 502 when the upstream cannot be reached', async () => {
    const response = await firstResponse(gateway.port, handshake('/dead/x', randomKey()))
    expect(response.status).toBe(502)
    expect(errorCode(response)).toBe('bad_gateway')
  })

  it('still serves plain HTTP requests on a websocket route', async () => {
    upstream.reset()
    const response = await send(`${gateway.url}/ws/plain-http?y=2`)
    expect(response.status).toBe(200)
    expect(response.json<{ url: string }>().url).toBe('/ws/plain-http?y=2')
    expect(upstream.httpRequests).toEqual(['/ws/plain-http?y=2'])
  })

  it('holds the upstream back while the client does not read', async () => {
    upstream.reset()
    const total = 64 * 1024 * 1024
    const size = 256 * 1024
    const socket = await rawClient(gateway.port, '/ws/flood')
    socket.pause()
    socket.write(encodeFrame(1, Buffer.from(`flood:${total / size}:${size}`), true))
    await waitUntil(() => upstream.sockets.length > 0, { timeoutMs: 5000, what: 'tunnel' })
    const server = upstream.sockets[upstream.sockets.length - 1]!
    // bytesWritten counts what waits in the socket's own buffer too: take what left it.
    const sent = (): number => server.bytesWritten - server.writableLength
    // Wait until the upstream makes no more progress: what it could send is what is in flight.
    let last = -1
    await waitUntil(
      () => {
        const now = sent()
        const still = now === last
        last = now
        return still && now > 0
      },
      { timeoutMs: 15_000, intervalMs: 500, what: 'the upstream to be held back' },
    )
    // Kernel buffers on three sockets and the gateway's own bounded backlog; never the whole flood.
    expect(sent()).toBeLessThan(total / 2)
    expect(server.writableLength).toBeGreaterThan(total / 4)
    // Once the client reads again, everything arrives.
    let received = 0
    let frames = 0
    let pending: Buffer = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      const parsed = parseFrames(pending, false)
      pending = pending.subarray(parsed.used)
      for (const frame of parsed.frames) {
        received += frame.payload.length
        frames++
      }
    })
    socket.resume()
    await waitUntil(() => received >= total, { timeoutMs: 30_000, what: 'the whole flood' })
    expect(frames).toBe(total / size)
    socket.destroy()
  }, 60_000)

  it('does not buffer without bound when the upstream does not read', async () => {
    const client = await openClient(`${wsUrl}/ws/stall`)
    client.ws.send('stall')
    await sleep(100)
    const message = Buffer.alloc(1024 * 1024 - 64, 0x62)
    for (let i = 0; i < 48; i++) client.ws.send(message)
    if (front === 'uws') {
      // uWS cannot stop reading a client: past its bound the gateway closes with 1013.
      const closed = await within(client.closed, 10_000, 'close')
      expect(closed.code).toBe(1013)
    } else {
      // Byte level: TCP backpressure reaches the client, whose own buffer holds the rest.
      await sleep(1500)
      expect(client.ws.readyState).toBe(WebSocket.OPEN)
      expect(client.ws.bufferedAmount).toBeGreaterThan(8 * 1024 * 1024)
      client.ws.close()
    }
  }, 30_000)

  it('closes open WebSockets when the gateway shuts down', async () => {
    const own = await startGateway({ front, config: configFor(upstream, await freePort()) })
    const client = await openClient(`${own.url.replace('http://', 'ws://')}/ws/shutdown`)
    client.ws.send('up?')
    expect(await client.next()).toBe('up?')
    const started = Date.now()
    const stopped = own.stop('SIGTERM')
    const closed = await within(client.closed, 10_000, 'close at shutdown')
    if (front === 'uws') {
      // RFC 6455 §7.4.1 1001 "going away", at once rather than at the end of the grace.
      expect(closed.code).toBe(1001)
      expect(Date.now() - started).toBeLessThan(3000)
    } else {
      // A spliced tunnel has no frame boundary to close on: it runs until the grace is over.
      expect(closed.code).toBe(1006)
    }
    expect(await within(stopped, 15_000, 'stop')).toBe(0)
  }, 30_000)
})

/** A raw TCP client whose handshake completed; reading is up to the test. */
async function rawClient(port: number, path: string): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port })
  socket.on('error', () => undefined)
  await within(
    new Promise<void>((resolve) => socket.once('connect', () => resolve())),
    5000,
    'connect',
  )
  socket.write(handshake(path, randomKey()))
  const head = await within(
    new Promise<string>((resolve) => {
      let text = ''
      const onData = (chunk: Buffer): void => {
        text += chunk.toString('latin1')
        const end = text.indexOf('\r\n\r\n')
        if (end < 0) return
        socket.off('data', onData)
        socket.pause()
        // Bytes after the head are frames: give them back to the stream.
        const rest = Buffer.from(text.slice(end + 4), 'latin1')
        if (rest.length > 0) socket.unshift(rest)
        resolve(text.slice(0, end))
      }
      socket.on('data', onData)
    }),
    5000,
    'handshake',
  )
  if (!head.startsWith('HTTP/1.1 101')) throw new Error(`no 101: ${head}`)
  return socket
}
