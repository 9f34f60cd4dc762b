import { createServer, type Server } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startBlackhole, type Blackhole } from '../helpers/blackhole.js'
import {
  FRONTS,
  NATIVE_OFF,
  type Front,
  startGateway,
  stopAllGateways,
  type Gateway,
} from '../helpers/gateway.js'
import { send, type ErrorBody } from '../helpers/http.js'
import { refusingPort } from '../helpers/ports.js'
import { rawRequest } from '../helpers/raw.js'
import {
  closeAllUpstreams,
  hang,
  startUpstream,
  streamBytes,
  type TestUpstream,
} from '../helpers/upstream.js'

/** A TCP server that counts connections and resets each one at once. */
async function startResetter(): Promise<{
  port: number
  connections: () => number
  close(): void
}> {
  let connections = 0
  const server: Server = createServer((socket) => {
    connections++
    socket.resetAndDestroy()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const address = server.address()
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    connections: () => connections,
    close: () => server.close(),
  }
}

/**
 * Each front on the native upstream sockets, and the node:net ones that replace them unbuilt;
 * with PCL_NATIVE=off, each front on node:net.
 */
const CASES: readonly (readonly [Front, 'native' | 'node'])[] = NATIVE_OFF
  ? FRONTS.map((front) => [front, 'node'] as const)
  : [...FRONTS.map((front) => [front, 'native'] as const), ['uws', 'node'] as const]

describe.each(CASES)('upstream failures on the %s front, %s upstream sockets', (front, sockets) => {
  let gateway: Gateway
  let closedPort: number
  let blackhole: Blackhole | null = null
  let resetter: Awaited<ReturnType<typeof startResetter>>
  const up = {} as Record<
    'hang' | 'cut' | 'getGood' | 'postGood' | 'resetGood' | 'dropper' | 'dropGood',
    TestUpstream
  >

  beforeAll(async () => {
    closedPort = await refusingPort()
    resetter = await startResetter()
    for (const name of [
      'hang',
      'cut',
      'getGood',
      'postGood',
      'resetGood',
      'dropper',
      'dropGood',
    ] as const) {
      up[name] = await startUpstream(name)
    }
    up.hang.handle(hang())
    // Reads the whole request, then drops the connection without answering.
    up.dropper.handle((req) => {
      if (req.readableEnded) req.socket.destroy()
      else req.on('end', () => req.socket.destroy())
    })
    try {
      blackhole = await startBlackhole()
    } catch {
      blackhole = null
    }
    const closed = `http://127.0.0.1:${closedPort}`
    const route = (name: string) => ({
      name,
      match: { paths: [`/${name}/*`] },
      upstream: name,
      auth: 'none',
    })
    gateway = await startGateway({
      front,
      upstreamSockets: sockets,
      config: {
        upstreams: {
          refused: { targets: [closed], retries: 0 },
          hang: { targets: [up.hang.url], timeout: '1s' },
          blackhole: {
            targets: [`http://127.0.0.1:${blackhole?.port ?? closedPort}`],
            connect_timeout: '500ms',
            retries: 0,
          },
          retry: {
            targets: [closed, up.getGood.url],
            retries: 2,
            eject_after: 2,
            eject_for: '60s',
          },
          once: { targets: [closed, up.postGood.url], retries: 2, eject_after: 100 },
          reset: {
            targets: [`http://127.0.0.1:${resetter.port}`, up.resetGood.url],
            retries: 2,
            eject_after: 2,
            eject_for: '60s',
          },
          cut: { targets: [up.cut.url], body_timeout: '1s' },
          dropped: { targets: [up.dropper.url, up.dropGood.url], retries: 2, eject_after: 100 },
          'dropped-post': {
            targets: [up.dropper.url, up.dropGood.url],
            retries: 2,
            eject_after: 100,
          },
        },
        routes: [
          'refused',
          'hang',
          'blackhole',
          'retry',
          'once',
          'reset',
          'cut',
          'dropped',
          'dropped-post',
        ].map(route),
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
    await blackhole?.close()
    resetter.close()
  })

  beforeEach(() => {
    for (const u of Object.values(up)) u.reset()
  })

  it('announces the upstream sockets it runs', () => {
    expect(gateway.logs.find((l) => l.msg === 'portcullis started')).toMatchObject({
      upstream_sockets: expect.stringMatching(sockets === 'native' ? /^native/ : /^node:net/),
    })
  })

  describe('when the upstream refuses the connection', () => {
    it('answers 502 in JSON', async () => {
      const res = await send(`${gateway.url}/refused/x`)
      expect(res.status).toBe(502)
      expect(res.headers['content-type']).toBe('application/json')
      expect(res.json<ErrorBody>().error).toBe('bad_gateway')
    })
  })

  describe('when the upstream does not answer within its timeout', () => {
    it('answers 504 after about the timeout', async () => {
      const started = Date.now()
      const res = await send(`${gateway.url}/hang/x`)
      const elapsed = Date.now() - started
      expect(res.status).toBe(504)
      expect(res.json<ErrorBody>().error).toBe('gateway_timeout')
      expect(elapsed).toBeGreaterThanOrEqual(900)
      expect(elapsed).toBeLessThan(5000)
      expect(up.hang.requests).toHaveLength(1)
    })
  })

  describe('when the connection to the upstream cannot be established in time', () => {
    it('answers 504 after about connect_timeout', async (context) => {
      if (blackhole === null) {
        context.skip('no local listener with a full accept queue could be set up')
        return
      }
      const started = Date.now()
      const res = await send(`${gateway.url}/blackhole/x`)
      const elapsed = Date.now() - started
      expect(res.status).toBe(504)
      expect(res.json<ErrorBody>().error).toBe('gateway_timeout')
      expect(elapsed).toBeGreaterThanOrEqual(400)
      expect(elapsed).toBeLessThan(5000)
    })
  })

  describe('when one of two targets refuses connections', () => {
    it('retries an idempotent request on the other target', async () => {
      for (let i = 0; i < 2; i++) {
        const res = await send(`${gateway.url}/retry/get-${i}`)
        expect(res.status).toBe(200)
      }
      expect(up.getGood.requests.map((r) => r.url)).toEqual(['/retry/get-0', '/retry/get-1'])
    })

    it('ejects the refusing target after eject_after failures', async () => {
      // The previous test made two failed attempts on the refusing target: it is ejected now, so
      // even requests that are never retried all land on the healthy one.
      for (let i = 0; i < 6; i++) {
        const res = await send(`${gateway.url}/retry/post-${i}`, { method: 'POST', body: 'x' })
        expect(res.status).toBe(200)
      }
      expect(up.getGood.requests).toHaveLength(6)
    })

    it('does not retry a POST', async () => {
      const res = await send(`${gateway.url}/once/post`, { method: 'POST', body: 'payload' })
      expect(res.status).toBe(502)
      expect(up.postGood.requests).toEqual([])
      // The next pick is the healthy target.
      const next = await send(`${gateway.url}/once/post`, { method: 'POST', body: 'payload' })
      expect(next.status).toBe(200)
      expect(up.postGood.requests).toHaveLength(1)
    })
  })

  describe('when one of two targets resets every connection', () => {
    it('stops sending it connections once it is ejected', async () => {
      for (let i = 0; i < 8; i++) {
        const res = await send(`${gateway.url}/reset/${i}`)
        expect(res.status).toBe(200)
      }
      expect(up.resetGood.requests).toHaveLength(8)
      // Round-robin tries the resetting target on the first two requests only (eject_after 2).
      expect(resetter.connections()).toBe(2)
    })
  })

  describe('when a target drops the connection after it received the whole request', () => {
    // src/proxy/schema.ts: retries happen when the connection failed before any response, for
    // idempotent methods only; a non-idempotent request is never sent twice.
    it('retries an idempotent request on the other target', async () => {
      const res = await send(`${gateway.url}/dropped/x`, { method: 'DELETE' })
      expect(res.status).toBe(200)
      expect(up.dropper.requests.map((r) => r.method)).toEqual(['DELETE'])
      expect(up.dropGood.requests.map((r) => r.method)).toEqual(['DELETE'])
    })

    it('never sends a POST twice', async () => {
      const res = await send(`${gateway.url}/dropped-post/x`, { method: 'POST', body: 'once' })
      expect(res.status).toBe(502)
      expect(up.dropper.requests.map((r) => r.method)).toEqual(['POST'])
      expect(up.dropGood.requests).toEqual([])
    })
  })

  describe('when the upstream closes the connection in the middle of the body', () => {
    it.each([
      ['a Content-Length body', true],
      ['a chunked body', false],
    ])('cuts the client connection instead of ending %s short', async (_, contentLength) => {
      up.cut.handle(streamBytes(100_000, { contentLength, cutAfter: 1000 }))
      const result = await rawRequest(
        gateway.port,
        'GET /cut/x HTTP/1.1\r\nHost: localhost\r\n\r\n',
        { waitMs: 5000 },
      )
      expect(result.closed).toBe(true)
      const response = result.responses[0]
      if (response !== undefined) {
        expect(response.status).toBe(200)
        expect(response.complete).toBe(false)
        expect(response.body.length).toBeLessThan(100_000)
      }
    })

    it('cuts the client connection when the body stalls past body_timeout', async () => {
      up.cut.handle((req, res) => {
        req.resume()
        res.writeHead(200, { 'content-length': '5000' })
        res.write('x'.repeat(100))
      })
      const started = Date.now()
      const result = await rawRequest(
        gateway.port,
        'GET /cut/x HTTP/1.1\r\nHost: localhost\r\n\r\n',
        { waitMs: 5000 },
      )
      expect(result.closed).toBe(true)
      expect(Date.now() - started).toBeGreaterThanOrEqual(900)
      expect(result.responses[0]?.complete ?? false).toBe(false)
    })
  })

  describe('when the upstream answers with an error status', () => {
    it('passes it through untouched', async () => {
      up.cut.handle((req, res) => {
        req.resume()
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '7' }).end('busy')
      })
      const res = await send(`${gateway.url}/cut/x`)
      expect(res.status).toBe(503)
      expect(res.headers['retry-after']).toBe('7')
      expect(res.text).toBe('busy')
    })
  })
})
