/**
 * Micro bench of the native transport's response parser (src/proxy/h1/parser.ts) on typical
 * upstream responses, against node's own llhttp binding (the C parser behind node:http) turning
 * its raw header list into the same header object. Run with
 * `npx vitest bench --run bench/micro/h1-parse.bench.ts`.
 */
import { createRequire } from 'node:module'
import { bench, describe } from 'vitest'

import { DATA, END, ERROR, NEED_MORE, ResponseParser } from '../../src/proxy/h1/parser.js'

/** node:http's answer to a small JSON request: the most common upstream in front of a gateway. */
const NODE_HEAD =
  'HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n' +
  'Content-Length: 27\r\nETag: W/"1b-Ky9A3b2Bv8yX9vX2l8JH5pS0m9Q"\r\n' +
  'Date: Mon, 23 Nov 2026 04:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n'
const NODE_BODY = '{"id":42,"name":"portcullis"}'.slice(0, 27)
/** A heavier head: cookies, CORS and cache fields, a chunked body with two chunks. */
const RICH =
  'HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Mon, 23 Nov 2026 04:00:00 GMT\r\n' +
  'Content-Type: text/html; charset=utf-8\r\nTransfer-Encoding: chunked\r\n' +
  'Connection: keep-alive\r\nVary: Accept-Encoding\r\nVary: Origin\r\n' +
  'Set-Cookie: session=abc123; Path=/; HttpOnly\r\nSet-Cookie: theme=dark; Path=/\r\n' +
  'Cache-Control: private, max-age=0\r\nAccess-Control-Allow-Origin: https://example.com\r\n' +
  'X-Request-Id: 6f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f\r\nStrict-Transport-Security: max-age=31536000\r\n' +
  '\r\n10\r\n<html><body>hi<b\r\n8\r\nr></html\r\n0\r\n\r\n'

const SMALL = Buffer.from(NODE_HEAD + NODE_BODY, 'latin1')
const RICH_BUF = Buffer.from(RICH, 'latin1')
const SPLIT_AT = NODE_HEAD.length - 30
const SMALL_A = SMALL.subarray(0, SPLIT_AT)
const SMALL_B = SMALL.subarray(SPLIT_AT)

/** Responses per iteration: tinybench times each iteration, so one parse would time the timer. */
const BATCH = 1000

const parser = new ResponseParser()

/** Parses one whole response the way the connection does; returns the body bytes seen. */
function parseOne(chunks: readonly Buffer[]): number {
  parser.reset(false)
  let bytes = 0
  for (const chunk of chunks) {
    // Borrowed, as the connection's reused read buffer: body bytes are copied out.
    parser.feed(chunk, true)
    for (;;) {
      const event = parser.next()
      if (event === NEED_MORE) {
        parser.detach()
        break
      }
      if (event === DATA) bytes += parser.data.length
      else if (event === END) return bytes + parser.status
      else if (event === ERROR) throw new Error(parser.error)
    }
  }
  throw new Error('incomplete response')
}

function runNative(chunks: readonly Buffer[]): () => void {
  let sink = 0
  return () => {
    for (let i = 0; i < BATCH; i++) sink ^= parseOne(chunks)
    if (sink === -1) throw new Error('unreachable: keeps the results alive')
  }
}

// node's llhttp binding, as node:http drives it (not a public API, hence the narrow typing).
interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void
  execute(data: Buffer): number | Error
  [kind: number]: unknown
}
interface HttpCommon {
  HTTPParser: {
    new (): LlhttpParser
    RESPONSE: number
    kOnHeadersComplete: number
    kOnBody: number
    kOnMessageComplete: number
  }
}
const { HTTPParser } = createRequire(import.meta.url)('_http_common') as HttpCommon

function runLlhttp(data: Buffer): () => void {
  const p = new HTTPParser()
  p.initialize(HTTPParser.RESPONSE, {}, 0, 0)
  let sink = 0
  p[HTTPParser.kOnHeadersComplete] = (
    _major: number,
    _minor: number,
    raw: string[],
    _method: unknown,
    _url: unknown,
    status: number,
  ) => {
    // The object form undici hands to onResponseStart: lowercase names, repeats as arrays.
    const headers: Record<string, string | string[]> = {}
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase()
      const prev = headers[name]
      if (prev === undefined) headers[name] = raw[i + 1]!
      else if (typeof prev === 'string') headers[name] = [prev, raw[i + 1]!]
      else prev.push(raw[i + 1]!)
    }
    sink ^= status
    return 0
  }
  p[HTTPParser.kOnBody] = (chunk: Buffer) => {
    sink ^= chunk.length
  }
  p[HTTPParser.kOnMessageComplete] = () => {
    sink ^= 1
  }
  return () => {
    for (let i = 0; i < BATCH; i++) p.execute(data)
    if (sink === -1) throw new Error('unreachable: keeps the results alive')
  }
}

// Each iteration is BATCH responses: ns/response = mean (ms) * 1e6 / BATCH.
describe(`small node:http JSON response, 7 fields (${BATCH} per iteration)`, () => {
  bench('h1 ResponseParser', runNative([SMALL]))
  bench('h1 ResponseParser, head split across two reads', runNative([SMALL_A, SMALL_B]))
  bench("node's llhttp + header object", runLlhttp(SMALL))
})

describe(`chunked response, 14 fields with repeats (${BATCH} per iteration)`, () => {
  bench('h1 ResponseParser', runNative([RICH_BUF]))
  bench("node's llhttp + header object", runLlhttp(RICH_BUF))
})
