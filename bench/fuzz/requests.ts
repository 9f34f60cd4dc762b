/**
 * Request cases: valid seed requests of every shape the gateway serves (bodies by length and
 * chunked, the JWT route, the rate-limited route, WebSocket upgrades, pipelines), mutated at the
 * structure level (headers duplicated, dropped, huge, framing headers contradicting each other)
 * and at the byte level (flips, CR/LF/NUL inserted, ranges cut or repeated, truncation), and
 * written in pieces split at random points.
 */
import type { Prng } from './prng.js'

export interface RequestCase {
  readonly index: number
  /** The bytes to write, in order, a tick apart. */
  readonly writes: readonly Buffer[]
  /** What the case is: the seed and the mutations applied, for the report. */
  readonly label: string
  /** Requests the case holds before mutation (a pipeline holds several). */
  readonly requests: number
  /** The first request is a HEAD: its response has no body. */
  readonly head: boolean
  /** Send a valid request first on the same connection, so the case runs on a reused one. */
  readonly reuse: boolean
}

/** What the seeds need from the run: the host the routes answer and a few tokens. */
export interface RequestContext {
  readonly host: string
  /** Bearer tokens: a valid one first, then expired, badly signed, scope-less ones. */
  readonly tokens: readonly string[]
}

interface Shape {
  method: string
  target: string
  version: string
  headers: [string, string][]
  body: Buffer
  label: string[]
}

const PATH_WORDS = ['a', 'users', '42', 'x.json', '%7E', 'caf%C3%A9', 'a-b_c', '..', '.', '%2e']

function path(prng: Prng, prefix: string): string {
  let out = prefix
  for (let i = prng.int(0, 3); i > 0; i--) out += `/${prng.pick(PATH_WORDS)}`
  if (prng.chance(0.3)) out += `?q=${prng.int(0, 999)}&r=${prng.pick(['x', '%20', 'a+b', ''])}`
  return out
}

function baseHeaders(prng: Prng, context: RequestContext): [string, string][] {
  const headers: [string, string][] = [['Host', context.host]]
  if (prng.chance(0.5)) headers.push(['User-Agent', 'portcullis-fuzz/1'])
  if (prng.chance(0.5)) headers.push(['Accept', '*/*'])
  if (prng.chance(0.3)) headers.push(['X-Request-Id', `fuzz-${prng.int(0, 1e6)}`])
  if (prng.chance(0.2))
    headers.push(['Connection', prng.pick(['keep-alive', 'close', 'x-a, keep-alive'])])
  if (prng.chance(0.2)) headers.push(['X-User-Id', 'spoofed'])
  if (prng.chance(0.1)) headers.push(['Cookie', 'a=1; b=2'])
  return headers
}

function chunkedBody(prng: Prng, label: string[]): Buffer {
  const parts: string[] = []
  for (let i = prng.int(0, 4); i > 0; i--) {
    const data = 'x'.repeat(prng.int(1, 300))
    const ext = prng.chance(0.2) ? ';name=value' : ''
    parts.push(`${data.length.toString(16)}${ext}\r\n${data}\r\n`)
  }
  const trailer = prng.chance(0.2) ? 'X-Trailer: t\r\n' : ''
  if (trailer !== '') label.push('trailer')
  return Buffer.from(`${parts.join('')}0\r\n${trailer}\r\n`)
}

/** A valid request of one of the seed shapes. */
function seed(prng: Prng, context: RequestContext): Shape {
  const kind = prng.weighted<string>([
    [4, 'get'],
    [1, 'head'],
    [3, 'post-length'],
    [2, 'post-chunked'],
    [3, 'jwt'],
    [1, 'rate-limited'],
    [1, 'websocket'],
    [1, 'expect'],
    [1, 'odd-target'],
  ])
  const label = [kind]
  const headers = baseHeaders(prng, context)
  const shape: Shape = {
    method: 'GET',
    target: path(prng, '/pub'),
    version: 'HTTP/1.1',
    headers,
    body: Buffer.alloc(0),
    label,
  }
  switch (kind) {
    case 'head':
      shape.method = 'HEAD'
      break
    case 'post-length': {
      shape.method = prng.pick(['POST', 'PUT', 'PATCH', 'DELETE'])
      shape.body = Buffer.from(
        'y'.repeat(
          prng.weighted([
            [5, prng.int(0, 200)],
            [1, prng.int(1000, 70_000)],
          ]),
        ),
      )
      headers.push(
        ['Content-Type', 'application/octet-stream'],
        ['Content-Length', String(shape.body.length)],
      )
      break
    }
    case 'post-chunked':
      shape.method = 'POST'
      shape.body = chunkedBody(prng, label)
      headers.push(['Transfer-Encoding', 'chunked'])
      break
    case 'jwt':
      shape.target = path(prng, '/jwt')
      headers.push([
        'Authorization',
        `Bearer ${prng.chance(0.7) ? context.tokens[0]! : prng.pick(context.tokens)}`,
      ])
      break
    case 'rate-limited':
      shape.target = path(prng, '/rl')
      break
    case 'websocket':
      shape.target = path(prng, '/ws')
      headers.push(
        ['Connection', 'Upgrade'],
        ['Upgrade', 'websocket'],
        ['Sec-WebSocket-Version', '13'],
        ['Sec-WebSocket-Key', prng.bytes(16).toString('base64')],
      )
      break
    case 'expect':
      shape.method = 'POST'
      shape.body = Buffer.from('z'.repeat(prng.int(1, 100)))
      headers.push(['Expect', '100-continue'], ['Content-Length', String(shape.body.length)])
      break
    case 'odd-target':
      shape.method = prng.pick(['OPTIONS', 'GET', 'CONNECT'])
      shape.target = prng.pick([
        '*',
        `http://${context.host}/pub/abs`,
        `${context.host}`,
        '/pub/%2F..%2Fadmin',
        '/pub//double//slash',
        '/pub/%00',
        `/pub/${'long'.repeat(prng.int(100, 4000))}`,
      ])
      break
  }
  return shape
}

const FRAMING_VALUES: Record<string, readonly string[]> = {
  'Content-Length': [
    '0',
    '-1',
    '+5',
    '0x10',
    '5, 5',
    '5, 6',
    '007',
    '99999999999999999999',
    ' 3',
    '3 ',
    '',
    '1e3',
  ],
  'Transfer-Encoding': [
    'chunked, chunked',
    'gzip, chunked',
    ' chunked',
    'Chunked',
    'chunked\x0b',
    'identity',
    'chunked;q=1',
    'x',
    '',
  ],
}
const ODD_NAMES = [
  'X Space',
  'X_Under',
  'X:Colon',
  '',
  'X\x01Ctl',
  'Content-Length ',
  ' Leading',
  'X-\xffHigh',
  'Host',
]
const ODD_VALUES = ['\x00', 'a\rb', 'a\nb', '\x7f', 'caf\xe9', ' lead', 'trail ', 'a\x0bb', '\t']

/** One structure-level mutation. */
function mutateShape(prng: Prng, shape: Shape): void {
  const h = shape.headers
  const what = prng.weighted<string>([
    [3, 'dup-header'],
    [3, 'drop-header'],
    [2, 'huge-value'],
    [1, 'many-headers'],
    [3, 'framing'],
    [2, 'both-framings'],
    [2, 'odd-name'],
    [2, 'odd-value'],
    [1, 'obs-fold'],
    [1, 'method'],
    [1, 'version'],
    [1, 'target'],
    [1, 'host'],
  ])
  shape.label.push(what)
  switch (what) {
    case 'dup-header':
      if (h.length > 0) h.splice(prng.int(0, h.length), 0, prng.pick(h))
      return
    case 'drop-header':
      if (h.length > 0) h.splice(prng.int(0, h.length - 1), 1)
      return
    case 'huge-value':
      h.push([
        prng.pick(['X-Big', 'Cookie', 'Authorization', 'User-Agent']),
        'v'.repeat(prng.pick([4096, 8100, 16_400, 40_000])),
      ])
      return
    case 'many-headers':
      for (let i = prng.int(50, 400); i > 0; i--) h.push([`X-H${i}`, String(i)])
      return
    case 'framing': {
      const name = prng.pick(['Content-Length', 'Transfer-Encoding'])
      const at = h.findIndex(([n]) => n === name)
      const value = prng.pick(FRAMING_VALUES[name]!)
      if (at >= 0 && prng.chance(0.6)) h[at] = [name, value]
      else h.push([name, value])
      return
    }
    case 'both-framings':
      h.push(['Content-Length', String(prng.int(0, 50))], ['Transfer-Encoding', 'chunked'])
      return
    case 'odd-name':
      h.splice(prng.int(0, h.length), 0, [prng.pick(ODD_NAMES), 'v'])
      return
    case 'odd-value':
      h.splice(prng.int(0, h.length), 0, [
        prng.pick(['X-Odd', 'Host', 'Authorization', 'Content-Length', 'Upgrade']),
        prng.pick(ODD_VALUES),
      ])
      return
    case 'obs-fold':
      h.push(['X-Folded', 'a\r\n b'])
      return
    case 'method':
      shape.method = prng.pick([
        'get',
        'G ET',
        'PRI',
        'TRACE',
        'M'.repeat(300),
        'GET\x00',
        'PROPFIND',
        '',
      ])
      return
    case 'version':
      shape.version = prng.pick([
        'HTTP/1.0',
        'HTTP/2.0',
        'HTTP/1.1x',
        'HTTP/01.1',
        'http/1.1',
        'HTTP/1.',
        '',
        'HTTP/9.9',
      ])
      return
    case 'target':
      shape.target = prng.pick([
        '',
        'pub',
        '/pub/a b',
        '/pub/\x01',
        '/pub/%',
        '/pub/%zz',
        '/pub/%252e%252e',
        '/pub/..%5c..',
        '/pub/\xc0\xae',
        `/pub/${'%41'.repeat(5000)}`,
      ])
      return
    case 'host':
      shape.headers = h.filter(([n]) => n !== 'Host')
      if (prng.chance(0.7))
        shape.headers.push([
          'Host',
          prng.pick(['', 'a b', 'x:99999', '[::1', 'evil.example', 'h\x00']),
        ])
      return
  }
}

function serialize(shape: Shape): Buffer {
  const head = `${shape.method} ${shape.target} ${shape.version}\r\n${shape.headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`
  return Buffer.concat([Buffer.from(head, 'latin1'), shape.body])
}

const INSERTS = [0x0d, 0x0a, 0x00, 0x20, 0x09, 0x7f, 0xff, 0x3a]

/** One byte-level mutation; returns its name. */
function mutateBytes(prng: Prng, bytes: Buffer): { bytes: Buffer; name: string } {
  if (bytes.length === 0) return { bytes, name: 'empty' }
  const at = prng.int(0, bytes.length - 1)
  const name = prng.weighted<string>([
    [3, 'flip'],
    [3, 'insert'],
    [2, 'delete'],
    [1, 'repeat'],
    [2, 'truncate'],
    [1, 'bare-lf'],
  ])
  switch (name) {
    case 'flip': {
      const out = Buffer.from(bytes)
      out[at] = prng.chance(0.5) ? out[at]! ^ (1 << prng.int(0, 7)) : prng.int(0, 255)
      return { bytes: out, name }
    }
    case 'insert':
      return {
        bytes: Buffer.concat([
          bytes.subarray(0, at),
          Buffer.from([prng.pick(INSERTS)]),
          bytes.subarray(at),
        ]),
        name,
      }
    case 'delete':
      return {
        bytes: Buffer.concat([
          bytes.subarray(0, at),
          bytes.subarray(Math.min(bytes.length, at + prng.int(1, 16))),
        ]),
        name,
      }
    case 'repeat': {
      const end = Math.min(bytes.length, at + prng.int(1, 64))
      return {
        bytes: Buffer.concat([
          bytes.subarray(0, end),
          bytes.subarray(at, end),
          bytes.subarray(end),
        ]),
        name,
      }
    }
    case 'truncate':
      return { bytes: bytes.subarray(0, at), name }
    default: {
      const crlf = bytes.indexOf('\r\n', at)
      if (crlf < 0) return { bytes, name }
      return { bytes: Buffer.concat([bytes.subarray(0, crlf), bytes.subarray(crlf + 1)]), name }
    }
  }
}

/** Splits `bytes` at up to `count` random points. */
function split(prng: Prng, bytes: Buffer, count: number): Buffer[] {
  const points = new Set<number>()
  for (let i = 0; i < count; i++) points.add(prng.int(1, Math.max(1, bytes.length - 1)))
  const sorted = [...points].filter((p) => p < bytes.length).sort((a, b) => a - b)
  const out: Buffer[] = []
  let from = 0
  for (const p of sorted) {
    out.push(bytes.subarray(from, p))
    from = p
  }
  out.push(bytes.subarray(from))
  return out
}

/** Case `index` of the run: regenerated identically from the same generator state. */
export function generateRequestCase(
  prng: Prng,
  index: number,
  context: RequestContext,
): RequestCase {
  const count = prng.chance(0.1) ? prng.int(2, 4) : 1
  const shapes: Shape[] = []
  for (let i = 0; i < count; i++) shapes.push(seed(prng, context))
  const label: string[] = []
  // One case in ten stays valid: the gateway must answer those with a 2xx/4xx as usual.
  const structural = prng.chance(0.9) ? prng.int(0, 2) : 0
  for (let i = 0; i < structural; i++) mutateShape(prng, prng.pick(shapes))
  for (const shape of shapes) label.push(shape.label.join('+'))
  let bytes: Buffer = Buffer.concat(shapes.map(serialize))
  if (structural > 0 || prng.chance(0.5)) {
    for (let i = prng.int(0, 2); i > 0; i--) {
      const mutated = mutateBytes(prng, bytes)
      bytes = mutated.bytes
      label.push(mutated.name)
    }
  }
  const pieces = prng.chance(0.4) ? prng.int(1, 4) : 0
  if (pieces > 0) label.push(`split${pieces}`)
  const reuse = prng.chance(0.3)
  if (reuse) label.push('reused')
  return {
    index,
    writes: split(prng, bytes, pieces),
    label: label.join(' | '),
    requests: count,
    head: shapes[0]!.method === 'HEAD',
    reuse,
  }
}

/** A plain valid request for `/pub`, used to open reused connections and to probe liveness. */
export function controlRequest(host: string, path: string): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`)
}
