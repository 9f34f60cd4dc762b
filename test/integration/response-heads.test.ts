/**
 * What reaches the client of an upstream's response head, byte for byte: the framing of the
 * answers without content (RFC 9110 §6.4.1, §8.6) on a connection the client keeps using, and
 * the bytes of field values (RFC 9110 §5.5). The upstream is raw TCP, so it can send what no
 * HTTP library would; both upstream transports run behind both fronts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { closeAllRaw, header, rawRequest, RawConnection, type RawResponse } from '../helpers/raw.js'
import {
  closeAllRawUpstreams,
  startRawUpstream,
  type RawUpstream,
  type RawUpstreamRequest,
} from '../helpers/raw-upstream.js'

/** Route prefix → upstream transport. */
const TRANSPORTS = [
  ['/native', 'native'],
  ['/undici', 'undici'],
] as const

/** The upstream's answers, by path after the route prefix. */
function answer(request: RawUpstreamRequest): string {
  const path = request.target.slice(request.target.indexOf('/', 1))
  const head = request.method === 'HEAD'
  switch (path) {
    case '/no-content':
      return 'HTTP/1.1 204 No Content\r\nx-answer: no-content\r\n\r\n'
    case '/no-content-length':
      return 'HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n'
    case '/doc':
      return `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 11\r\n\r\n${head ? '' : 'hello world'}`
    case '/not-modified':
      return 'HTTP/1.1 304 Not Modified\r\netag: "v1"\r\n\r\n'
    case '/not-modified-length':
      return 'HTTP/1.1 304 Not Modified\r\netag: "v1"\r\ncontent-length: 11\r\n\r\n'
    case '/echo':
      return 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'
    default: {
      // /field/<hex>: a field whose value holds that byte between two letters.
      const byte = /^\/field\/([0-9a-f]{2})$/.exec(path)
      if (byte !== null) {
        const value = `a${String.fromCharCode(parseInt(byte[1]!, 16))}b`
        return `HTTP/1.1 200 OK\r\nx-probe: ${value}\r\ncontent-length: 2\r\n\r\nok`
      }
      if (path === '/obs-text') {
        return 'HTTP/1.1 200 OK\r\nx-latin: caf\xe9 \xff\x80\r\ncontent-length: 2\r\n\r\nok'
      }
      return 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'
    }
  }
}

/** The value bytes of the first `name` field in the head of `data`, as received. */
function fieldBytes(data: Buffer, name: string): Buffer | undefined {
  const headEnd = data.indexOf('\r\n\r\n', 0, 'latin1')
  const head = data.subarray(0, headEnd)
  const at = head.toString('latin1').toLowerCase().indexOf(`\r\n${name}:`)
  if (at < 0) return undefined
  const start = at + name.length + 3
  const end = head.indexOf('\r\n', start, 'latin1')
  return head.subarray(start, end < 0 ? head.length : end).subarray(
    head[start] === 32 ? 1 : 0, // the SP after the colon
  )
}

describe.each(FRONTS)('response heads on the %s front', (front) => {
  let gateway: Gateway
  let upstream: RawUpstream

  beforeAll(async () => {
    upstream = await startRawUpstream(answer)
    gateway = await startGateway({
      front,
      config: {
        upstreams: {
          native: { targets: [upstream.url] },
          undici: { targets: [upstream.url], transport: 'undici' },
        },
        routes: TRANSPORTS.map(([prefix, name]) => ({
          name,
          match: { paths: [`${prefix}/*`] },
          upstream: name,
          auth: 'none',
        })),
      },
    })
  })

  afterEach(() => closeAllRaw())

  afterAll(async () => {
    await stopAllGateways()
    await closeAllRawUpstreams()
  })

  describe.each(TRANSPORTS)('through %s (%s upstream transport)', (prefix) => {
    describe('when a keep-alive client gets answers without content', () => {
      it('keeps the connection through 204, HEAD, 304 and a refused HEAD, then serves a POST', async () => {
        const steps = [
          ['GET', `${prefix}/no-content`],
          ['GET', `${prefix}/no-content-length`],
          ['HEAD', `${prefix}/doc`],
          ['GET', `${prefix}/not-modified`],
          ['GET', `${prefix}/not-modified-length`],
          ['HEAD', '/unknown'],
          ['POST', `${prefix}/echo`],
        ] as const
        const connection = await RawConnection.open(gateway.port)
        const heads: boolean[] = []
        let responses: RawResponse[] = []
        for (const [method, path] of steps) {
          heads.push(method === 'HEAD')
          const body = method === 'POST' ? 'content-length: 5\r\n\r\nhello' : '\r\n'
          await connection.write(`${method} ${path} HTTP/1.1\r\nhost: localhost\r\n${body}`)
          const answered = await connection.waitFor(() => {
            responses = connection.responses(heads)
            return responses.length === heads.length && responses.at(-1)!.complete
          }, 5000)
          expect(
            answered,
            `${method} ${path} answered on the same connection: ${JSON.stringify(connection.text)}`,
          ).toBe(true)
        }
        const [noContent, noContentLength, head, notModified, notModifiedLength, refused, post] =
          responses as [
            RawResponse,
            RawResponse,
            RawResponse,
            RawResponse,
            RawResponse,
            RawResponse,
            RawResponse,
          ]
        // RFC 9110 §8.6: no Content-Length on a 204, whatever the upstream sent.
        expect(noContent.status).toBe(204)
        expect(header(noContent, 'x-answer')).toBe('no-content')
        expect(header(noContent, 'content-length')).toBeUndefined()
        expect(noContentLength.status).toBe(204)
        expect(header(noContentLength, 'content-length')).toBeUndefined()
        // HEAD and 304 keep the length the content would have had, and only when it is known.
        expect(head.status).toBe(200)
        expect(header(head, 'content-length')).toBe('11')
        expect(notModified.status).toBe(304)
        expect(header(notModified, 'content-length')).toBeUndefined()
        expect(notModifiedLength.status).toBe(304)
        expect(header(notModifiedLength, 'content-length')).toBe('11')
        // The gateway's own refusal of a HEAD: the length of the JSON a GET gets, no content.
        expect(refused.status).toBe(404)
        const id = header(refused, 'x-request-id')!
        const json = JSON.stringify({
          error: 'not_found',
          message: 'No route matches this request.',
          request_id: id,
        })
        expect(header(refused, 'content-length')).toBe(String(Buffer.byteLength(json)))
        expect(post.status).toBe(200)
        expect(post.body.toString()).toBe('ok')
        // Seven heads and the POST's two bytes of content: nothing else on the wire.
        const text = connection.text
        expect(text.match(/^HTTP\/1\.1 /gm)).toHaveLength(steps.length)
        expect(text.endsWith('\r\n\r\nok')).toBe(true)
        expect(connection.closed).toBe(false)
      })
    })

    describe('when an upstream field value holds a control character', () => {
      it.each(['00', '01', '08', '0b', '1f', '7f'])('refuses 0x%s with 502', async (hex) => {
        const result = await rawRequest(
          gateway.port,
          `GET ${prefix}/field/${hex} HTTP/1.1\r\nhost: localhost\r\n\r\n`,
          { waitMs: 5000, until: (r) => r.length > 0 && r[0]!.complete },
        )
        const response = result.responses[0]
        expect(response?.status, result.text).toBe(502)
        expect(JSON.parse(response!.body.toString()).error).toBe('bad_gateway')
        expect(
          result.data.includes(
            Buffer.from(`a${String.fromCharCode(parseInt(hex, 16))}b`, 'latin1'),
          ),
        ).toBe(false)
      })

      it('passes HTAB, which a field value may hold', async () => {
        const result = await rawRequest(
          gateway.port,
          `GET ${prefix}/field/09 HTTP/1.1\r\nhost: localhost\r\n\r\n`,
          { waitMs: 5000, until: (r) => r.length > 0 && r[0]!.complete },
        )
        expect(result.responses[0]?.status, result.text).toBe(200)
        expect(fieldBytes(result.data, 'x-probe')).toEqual(Buffer.from('a\tb', 'latin1'))
      })
    })

    describe('when an upstream field value holds bytes 0x80-0xFF (obs-text)', () => {
      it('passes the same bytes to the client, not re-encoded', async () => {
        const result = await rawRequest(
          gateway.port,
          `GET ${prefix}/obs-text HTTP/1.1\r\nhost: localhost\r\n\r\n`,
          { waitMs: 5000, until: (r) => r.length > 0 && r[0]!.complete },
        )
        expect(result.responses[0]?.status, result.text).toBe(200)
        expect(fieldBytes(result.data, 'x-latin')).toEqual(
          Buffer.from('caf\xe9 \xff\x80', 'latin1'),
        )
      })
    })
  })

  describe('when the gateway refuses a HEAD whose body it will not read', () => {
    it('answers without content and closes the connection', async () => {
      const connection = await RawConnection.open(gateway.port)
      await connection.write(
        'HEAD /unknown HTTP/1.1\r\nhost: localhost\r\ncontent-length: 5\r\n\r\n',
      )
      expect(await connection.waitForClose(5000)).toBe(true)
      const [refused, ...more] = connection.responses([true])
      expect(refused?.status, connection.text).toBe(404)
      expect(more).toEqual([])
      expect(connection.text.endsWith('\r\n\r\n')).toBe(true)
      // uWS 20.30 closes after a bodyless answer only with a length of 0 (docs/architecture.md).
      const json = JSON.stringify({
        error: 'not_found',
        message: 'No route matches this request.',
        request_id: header(refused!, 'x-request-id'),
      })
      expect(header(refused!, 'content-length')).toBe(
        front === 'uws' ? '0' : String(Buffer.byteLength(json)),
      )
    })
  })

  describe('when the native transport refuses a field value', () => {
    it('logs the upstream error naming the field', async () => {
      const result = await rawRequest(
        gateway.port,
        'GET /native/field/01 HTTP/1.1\r\nhost: localhost\r\n\r\n',
        { waitMs: 5000, until: (r) => r.length > 0 && r[0]!.complete },
      )
      const id = header(result.responses[0]!, 'x-request-id')
      const line = await gateway.waitForLog((l) => l.msg === 'access' && l['request_id'] === id)
      expect(line['status']).toBe(502)
      expect(line['error']).toMatch(/control character 0x01 in the value of field "x-probe"/)
    })
  })
})
