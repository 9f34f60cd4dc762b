import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import type { ErrorBody } from '../helpers/http.js'
import { closeAllRaw, header, rawRequest, RawConnection, type RawResponse } from '../helpers/raw.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { sleep } from '../helpers/wait.js'

const MAX_BODY = 1000
const HEAD = (path: string, extra: string) =>
  `POST ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`

function errorOf(response: RawResponse | undefined): ErrorBody {
  expect(response).toBeDefined()
  expect(header(response!, 'content-type')).toBe('application/json')
  return JSON.parse(response!.body.toString('utf8')) as ErrorBody
}

/** The final (non-1xx) responses on a connection. */
function finals(connection: RawConnection): RawResponse[] {
  return connection.responses().filter((r) => r.status >= 200)
}

describe.each(FRONTS)('request limits on the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream

  beforeAll(async () => {
    upstream = await startUpstream('limited')
    gateway = await startGateway({
      front,
      config: {
        limits: { max_header_bytes: '2KiB', request_timeout: '1s' },
        upstreams: { limited: { targets: [upstream.url] } },
        routes: [
          {
            name: 'small',
            match: { paths: ['/small/*'] },
            upstream: 'limited',
            auth: 'none',
            max_body: MAX_BODY,
          },
          {
            name: 'large',
            match: { paths: ['/large/*'] },
            upstream: 'limited',
            auth: 'none',
            max_body: '10MiB',
          },
        ],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  beforeEach(() => {
    upstream.reset()
    closeAllRaw()
  })

  describe('when the request head is larger than max_header_bytes', () => {
    it('answers 431 in JSON and closes the connection', async () => {
      const result = await rawRequest(
        gateway.port,
        `GET /small/x HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'b'.repeat(3000)}\r\n\r\n`,
        { waitMs: 3000 },
      )
      expect(result.responses[0]?.status).toBe(431)
      expect(errorOf(result.responses[0]).error).toBe('headers_too_large')
      expect(result.closed).toBe(true)
      expect(upstream.requests).toEqual([])
    })

    it('lets a head under the limit through', async () => {
      const result = await rawRequest(
        gateway.port,
        `GET /small/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: ${'b'.repeat(1200)}\r\n\r\n`,
        { waitMs: 3000 },
      )
      expect(result.responses[0]?.status).toBe(200)
    })
  })

  describe('when Content-Length is over the route max_body', () => {
    it('answers 413 before a byte of body is sent, and closes', async () => {
      const connection = await RawConnection.open(gateway.port)
      await connection.write(HEAD('/small/x', `Content-Length: ${MAX_BODY + 1}\r\n`))
      expect(await connection.waitForClose(3000)).toBe(true)
      const [response] = finals(connection)
      expect(response?.status).toBe(413)
      expect(errorOf(response).error).toBe('payload_too_large')
      expect(upstream.requests).toEqual([])
    })

    it('accepts a body of exactly max_body', async () => {
      const result = await rawRequest(
        gateway.port,
        HEAD('/small/x', `Content-Length: ${MAX_BODY}\r\nConnection: close\r\n`) +
          'x'.repeat(MAX_BODY),
        { waitMs: 3000 },
      )
      expect(result.responses[0]?.status).toBe(200)
      expect(upstream.requests.map((r) => r.bodyBytes)).toEqual([MAX_BODY])
    })
  })

  describe('when the client sends Expect: 100-continue', () => {
    if (front === 'node') {
      it('answers 413 without a 100 Continue when the declared body is too large', async () => {
        const connection = await RawConnection.open(gateway.port)
        await connection.write(
          HEAD('/small/x', `Content-Length: ${MAX_BODY + 1}\r\nExpect: 100-continue\r\n`),
        )
        expect(await connection.waitForClose(3000)).toBe(true)
        expect(connection.text.startsWith('HTTP/1.1 413 ')).toBe(true)
        expect(connection.text).not.toContain('100 Continue')
        expect(upstream.requests).toEqual([])
      })
    } else {
      it('answers 413 after the 100 Continue that uWS sends itself, and closes', async () => {
        const connection = await RawConnection.open(gateway.port)
        await connection.write(
          HEAD('/small/x', `Content-Length: ${MAX_BODY + 1}\r\nExpect: 100-continue\r\n`),
        )
        expect(await connection.waitForClose(3000)).toBe(true)
        expect(connection.responses().map((r) => r.status)).toEqual([100, 413])
        expect(upstream.requests).toEqual([])
      })
    }

    it('sends 100 Continue for a body that fits, then forwards it', async () => {
      const connection = await RawConnection.open(gateway.port)
      await connection.write(HEAD('/small/x', 'Content-Length: 500\r\nExpect: 100-continue\r\n'))
      expect(await connection.waitFor((t) => t.includes('\r\n\r\n'), 3000)).toBe(true)
      expect(connection.text).toBe('HTTP/1.1 100 Continue\r\n\r\n')
      await connection.write('y'.repeat(500))
      expect(await connection.waitFor(() => finals(connection)[0]?.complete === true, 3000)).toBe(
        true,
      )
      expect(finals(connection)[0]?.status).toBe(200)
      expect(upstream.requests.map((r) => r.bodyBytes)).toEqual([500])
    })
  })

  describe('when a chunked body grows over max_body', () => {
    it('answers 413 to a body sent at once and the upstream never gets more than the limit', async () => {
      let body = ''
      for (let i = 0; i < 20; i++) body += `100\r\n${'c'.repeat(256)}\r\n`
      const connection = await RawConnection.open(gateway.port)
      await connection.write(
        HEAD('/small/x', 'Transfer-Encoding: chunked\r\n') + body + '0\r\n\r\n',
      )
      expect(await connection.waitForClose(3000)).toBe(true)
      const response = finals(connection)[0]
      if (response !== undefined) expect(response.status).toBe(413)
      await sleep(100)
      for (const seen of upstream.requests) {
        expect(seen.bodyBytes).toBeLessThanOrEqual(MAX_BODY)
        expect(seen.complete).toBe(false)
      }
    })

    it('answers 413 to a body sent in pieces and the upstream never gets more than the limit', async () => {
      const connection = await RawConnection.open(gateway.port)
      await connection.write(HEAD('/small/x', 'Transfer-Encoding: chunked\r\n'))
      for (let i = 0; i < 20 && !connection.closed; i++) {
        await connection.write(`100\r\n${'c'.repeat(256)}\r\n`)
        await sleep(10)
      }
      expect(await connection.waitForClose(3000)).toBe(true)
      const response = finals(connection)[0]
      if (response !== undefined) expect(response.status).toBe(413)
      await sleep(100)
      for (const seen of upstream.requests) {
        expect(seen.bodyBytes).toBeLessThanOrEqual(MAX_BODY)
        expect(seen.complete).toBe(false)
      }
    })
  })

  describe('when the body arrives in small pieces within request_timeout', () => {
    it('forwards a 100 KiB Content-Length body sent in 4 KiB writes', async () => {
      const total = 100 * 1024
      const connection = await RawConnection.open(gateway.port)
      await connection.write(HEAD('/large/x', `Content-Length: ${total}\r\n`))
      for (let sent = 0; sent < total && !connection.closed; sent += 4096) {
        await connection.write(Buffer.alloc(4096, 0x61))
        await sleep(2)
      }
      await connection.waitFor(() => finals(connection)[0]?.complete === true, 3000)
      expect(finals(connection)[0]?.status).toBe(200)
      expect(upstream.requests.map((r) => r.bodyBytes)).toEqual([total])
    })

    it('forwards a chunked body sent chunk by chunk', async () => {
      const connection = await RawConnection.open(gateway.port)
      await connection.write(HEAD('/large/x', 'Transfer-Encoding: chunked\r\n'))
      for (let i = 0; i < 5; i++) {
        await connection.write(`64\r\n${'d'.repeat(100)}\r\n`)
        await sleep(20)
      }
      await connection.write('0\r\n\r\n')
      await connection.waitFor(() => finals(connection)[0]?.complete === true, 3000)
      expect(finals(connection)[0]?.status).toBe(200)
      expect(upstream.requests.map((r) => r.bodyBytes)).toEqual([500])
    })
  })

  describe('when the body stalls past request_timeout', () => {
    it.each([
      ['a small declared body', '/small/x', 100],
      ['a large declared body', '/large/x', 1024 * 1024],
    ])('answers 408 to %s and closes', async (_, path, length) => {
      const connection = await RawConnection.open(gateway.port)
      const started = Date.now()
      await connection.write(HEAD(path, `Content-Length: ${length}\r\n`) + '0123456789')
      expect(await connection.waitForClose(5000)).toBe(true)
      const elapsed = Date.now() - started
      const response = finals(connection)[0]
      expect(response?.status).toBe(408)
      expect(errorOf(response).error).toBe('request_timeout')
      expect(elapsed).toBeGreaterThanOrEqual(900)
      expect(elapsed).toBeLessThan(4000)
      for (const seen of upstream.requests) expect(seen.complete).toBe(false)
    })
  })
})
