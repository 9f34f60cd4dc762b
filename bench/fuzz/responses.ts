/**
 * Upstream-response cases: valid responses (by length, chunked, until close, 1xx before the final
 * one, 204/304) mutated where an upstream's answer can go wrong (status lines, control characters
 * in field values, conflicting framing, bad chunk sizes, truncation, huge heads), delivered in
 * pieces, with or without closing the connection after.
 */
import type { Prng } from './prng.js'
import type { UpstreamAnswer } from './targets.js'

export interface ResponseCase {
  readonly index: number
  readonly answer: UpstreamAnswer
  readonly label: string
}

interface Shape {
  status: string
  headers: [string, string][]
  body: Buffer
  label: string[]
}

function seed(prng: Prng): Shape {
  const kind = prng.weighted<string>([
    [4, 'length'],
    [3, 'chunked'],
    [1, 'until-close'],
    [1, 'informational'],
    [1, 'no-content'],
  ])
  const data = Buffer.from(
    'r'.repeat(
      prng.weighted([
        [5, prng.int(0, 100)],
        [1, prng.int(1000, 100_000)],
      ]),
    ),
  )
  const headers: [string, string][] = [['Content-Type', 'text/plain']]
  if (prng.chance(0.3)) headers.push(['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'])
  if (prng.chance(0.2)) headers.push(['Connection', prng.pick(['keep-alive', 'close'])])
  const shape: Shape = { status: 'HTTP/1.1 200 OK', headers, body: data, label: [kind] }
  switch (kind) {
    case 'length':
      headers.push(['Content-Length', String(data.length)])
      break
    case 'chunked': {
      headers.push(['Transfer-Encoding', 'chunked'])
      const parts: string[] = []
      for (let at = 0; at < data.length;) {
        const size = Math.min(data.length - at, prng.int(1, 4096))
        parts.push(`${size.toString(16)}\r\n${'r'.repeat(size)}\r\n`)
        at += size
      }
      shape.body = Buffer.from(`${parts.join('')}0\r\n\r\n`)
      break
    }
    case 'until-close':
      break
    case 'informational':
      shape.status = `${prng.pick(['HTTP/1.1 100 Continue', 'HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload'])}\r\n\r\nHTTP/1.1 200 OK`
      headers.push(['Content-Length', String(data.length)])
      break
    case 'no-content':
      shape.status = prng.pick(['HTTP/1.1 204 No Content', 'HTTP/1.1 304 Not Modified'])
      shape.body = Buffer.alloc(0)
      break
  }
  return shape
}

function mutate(prng: Prng, shape: Shape): void {
  const h = shape.headers
  const what = prng.weighted<string>([
    [3, 'status-line'],
    [3, 'control-in-value'],
    [2, 'conflicting-length'],
    [2, 'length-and-chunked'],
    [3, 'chunk-size'],
    [2, 'odd-name'],
    [1, 'huge-head'],
    [1, 'many-1xx'],
    [1, 'hop-by-hop'],
  ])
  shape.label.push(what)
  switch (what) {
    case 'status-line':
      shape.status = prng.pick([
        'HTTP/1.1 2000 OK',
        'HTTP/1.1 abc',
        'HTTP/1.1 200',
        'HTTP/1.0 200 OK',
        'HTTP/2 200 OK',
        'http/1.1 200 OK',
        'HTTP/1.1  200  OK',
        'HTTP/1.1 099 Low',
        'HTTP/1.1 600 High',
        'garbage',
        'HTTP/1.1 200 O\x00K',
        'HTTP/1.1 101 Switching Protocols',
        'HTTP/1.1 -200 OK',
        '',
      ])
      return
    case 'control-in-value':
      h.splice(prng.int(0, h.length), 0, [
        prng.pick(['X-Ctl', 'Set-Cookie', 'Location', 'Content-Type']),
        `a${prng.pick(['\x00', '\x01', '\x7f', '\r', '\n', '\x1b', '\xff'])}b`,
      ])
      return
    case 'conflicting-length':
      h.push(
        ['Content-Length', String(prng.int(0, shape.body.length + 10))],
        ['Content-Length', String(prng.int(0, 50))],
      )
      return
    case 'length-and-chunked':
      h.push(['Content-Length', String(prng.int(0, 50))], ['Transfer-Encoding', 'chunked'])
      return
    case 'chunk-size': {
      const at = h.findIndex(([n]) => n === 'Transfer-Encoding')
      if (at < 0) h.push(['Transfer-Encoding', 'chunked'])
      shape.body = Buffer.from(
        `${prng.pick(['-1', 'ffffffffffffffffffff', '0x10', 'zz', '10 ', '', '5;\x00', '8000000'])}\r\nrrrrr\r\n0\r\n\r\n`,
      )
      return
    }
    case 'odd-name':
      h.splice(prng.int(0, h.length), 0, [
        prng.pick(['X Space', '', 'X:Colon', 'X\x01', ' Lead', 'Content-Length ']),
        'v',
      ])
      return
    case 'huge-head':
      h.push(['X-Big', 'v'.repeat(prng.pick([8000, 70_000, 300_000]))])
      return
    case 'many-1xx':
      shape.status = `${'HTTP/1.1 100 Continue\r\n\r\n'.repeat(prng.int(2, 200))}${shape.status}`
      return
    case 'hop-by-hop':
      h.push(
        ['Connection', 'X-Secret, upgrade'],
        ['X-Secret', 'leak'],
        ['Upgrade', 'h2c'],
        ['Keep-Alive', 'timeout=1'],
      )
      return
  }
}

const INSERTS = [0x0d, 0x0a, 0x00, 0x20, 0x3a]

function mutateBytes(prng: Prng, bytes: Buffer): { bytes: Buffer; name: string } {
  if (bytes.length === 0) return { bytes, name: 'empty' }
  const at = prng.int(0, bytes.length - 1)
  switch (prng.pick(['flip', 'insert', 'truncate', 'delete'])) {
    case 'flip': {
      const out = Buffer.from(bytes)
      out[at] = prng.int(0, 255)
      return { bytes: out, name: 'flip' }
    }
    case 'insert':
      return {
        bytes: Buffer.concat([
          bytes.subarray(0, at),
          Buffer.from([prng.pick(INSERTS)]),
          bytes.subarray(at),
        ]),
        name: 'insert',
      }
    case 'truncate':
      return { bytes: bytes.subarray(0, at), name: 'truncate' }
    default:
      return {
        bytes: Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + prng.int(1, 8))]),
        name: 'delete',
      }
  }
}

export function generateResponseCase(prng: Prng, index: number): ResponseCase {
  const shape = seed(prng)
  for (let i = prng.chance(0.85) ? prng.int(1, 2) : 0; i > 0; i--) mutate(prng, shape)
  const label = [shape.label.join('+')]
  let bytes: Buffer = Buffer.concat([
    Buffer.from(
      `${shape.status}\r\n${shape.headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`,
      'latin1',
    ),
    shape.body,
  ])
  if (prng.chance(0.3)) {
    const mutated = mutateBytes(prng, bytes)
    bytes = mutated.bytes
    label.push(mutated.name)
  }
  const writes: Buffer[] = []
  let from = 0
  for (let i = prng.chance(0.3) ? prng.int(1, 3) : 0; i > 0 && from < bytes.length; i--) {
    const to = prng.int(from, bytes.length)
    writes.push(bytes.subarray(from, to))
    from = to
  }
  writes.push(bytes.subarray(from))
  // A close-delimited body needs the close; otherwise keep the connection about half the time.
  const closeAfter = shape.label[0] === 'until-close' || prng.chance(0.5)
  if (!closeAfter) label.push('kept-open')
  return { index, answer: { writes, closeAfter }, label: label.join(' | ') }
}
