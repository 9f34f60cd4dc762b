/**
 * What the upstream request head costs to build and check, with the bench's eight fields and a
 * fresh X-Request-Id per request:
 * - src/proxy/h1/request.ts reusing the previous head's lines (they repeat position by position),
 *   against the same transport when no line repeats (the order alternates, so every line is
 *   concatenated anew and flattened by the check);
 * - a head built line by line and checked, with its id from crypto.randomUUID (a 20-piece cons
 *   string) against src/front/request-id.ts (a flat slice).
 * Run with `npx vitest bench --run bench/micro/request-head.bench.ts`.
 */
import { randomUUID } from 'node:crypto'
import { bench, describe } from 'vitest'

import { newRequestId } from '../../src/front/request-id.js'
import { loadNativeAddon } from '../../src/native/load.js'
import { H1Request, HeadBuilder } from '../../src/proxy/h1/request.js'

const check = loadNativeAddon<{
  checkFieldSection(head: string, lines: number, start: number, end: number): boolean | undefined
}>('upstream_socket').addon?.checkFieldSection

const REQUEST_LINE = 'GET /bench HTTP/1.1\r\n'

/** As buildUpstreamHeaders gives them for wrk's request; the request id is filled per call. */
function fields(requestId: string): string[] {
  return [
    'user-agent',
    'wrk',
    'accept',
    '*/*',
    'host',
    '127.0.0.1:19090',
    'x-forwarded-for',
    '127.0.0.1',
    'x-forwarded-proto',
    'http',
    'x-request-id',
    requestId,
    'via',
    '1.1 portcullis',
    'x-forwarded-host',
    '127.0.0.1:19080',
  ]
}

/** Stop 12's build: every line concatenated anew, the head flattened by the check. */
function consHead(list: readonly string[]): boolean {
  let head = REQUEST_LINE
  for (let i = 0; i < list.length; i += 2) head += `${list[i]!}: ${list[i + 1]!}\r\n`
  head += '\r\n'
  return check?.(head, list.length / 2, REQUEST_LINE.length, head.length - 2) === true
}

const handler = {}
/** One pool's builder, checking with src/native when it is built, as a pool on its sockets. */
const heads = new HeadBuilder(check ?? null)

function h1Head(list: string[]): string {
  return new H1Request(
    { method: 'GET', path: '/bench', headers: list },
    handler,
    heads,
    '127.0.0.1:19090',
    1000,
    1000,
  ).head
}

/** The same fields, pairs in reverse order: no line at the position it had in `fields`. */
function reversed(list: readonly string[]): string[] {
  const out: string[] = []
  for (let i = list.length - 2; i >= 0; i -= 2) out.push(list[i]!, list[i + 1]!)
  return out
}

let turn = 0

describe('H1Request, eight fields, a new request id each', () => {
  bench('lines repeating (reused)', () => void h1Head(fields(newRequestId())))
  bench('no line repeating (order alternates)', () => {
    const list = fields(newRequestId())
    void h1Head(turn++ % 2 === 0 ? list : reversed(list))
  })
})

describe('a head built line by line and checked, by where its request id comes from', () => {
  bench('newRequestId (request-id.ts)', () => void consHead(fields(newRequestId())))
  bench('crypto.randomUUID', () => void consHead(fields(randomUUID())))
})
