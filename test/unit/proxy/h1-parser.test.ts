import { describe, expect, it } from 'vitest'
import type { IncomingHttpHeaders } from 'node:http'
import { DATA, END, HEAD, NEED_MORE, ResponseParser } from '../../../src/proxy/h1/parser.js'

interface Parsed {
  readonly heads: {
    status: number
    message: string
    headers: IncomingHttpHeaders
    fields: string[]
  }[]
  readonly body: string
  readonly trailers: IncomingHttpHeaders | null
  readonly end: boolean
  readonly error: string | null
  readonly keepAlive: boolean
  readonly keepAliveHintMs: number
  readonly drained: boolean
  /** Body events: each is a view of the fed Buffer. */
  readonly views: Buffer[]
}

interface Options {
  readonly noBody?: boolean
  /** The server closes after the bytes. */
  readonly eof?: boolean
  /**
   * Every chunk is fed from one reused buffer, as the connection does (borrowed), and the buffer
   * is scribbled over after each read's detach(): whatever the parser kept of it must be a copy.
   */
  readonly borrowed?: boolean
}

/** The connection's read buffer, as the parser sees it in borrowed mode. */
const SCRATCH = Buffer.alloc(64 * 1024)

function feedChunk(parser: ResponseParser, chunk: Buffer, borrowed: boolean): void {
  if (!borrowed) return parser.feed(chunk, false)
  chunk.copy(SCRATCH)
  parser.feed(SCRATCH.subarray(0, chunk.length), true)
}

/** The read callback returns: the parser lets go of the buffer, and the next read overwrites it. */
function endRead(parser: ResponseParser, borrowed: boolean): void {
  if (!borrowed) return
  parser.detach()
  SCRATCH.fill('#')
}

function parse(chunks: readonly (string | Buffer)[], options: Options = {}): Parsed {
  const parser = new ResponseParser()
  parser.reset(options.noBody === true)
  const heads: Parsed['heads'] = []
  const views: Buffer[] = []
  let end = false
  let error: string | null = null
  let trailers: IncomingHttpHeaders | null = null
  const borrowed = options.borrowed === true
  feeding: for (const chunk of chunks) {
    feedChunk(parser, typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk, borrowed)
    for (;;) {
      const event = parser.next()
      if (event === NEED_MORE) {
        endRead(parser, borrowed)
        break
      }
      if (event === HEAD) {
        heads.push({
          status: parser.status,
          message: parser.statusMessage,
          headers: parser.headers,
          fields: parser.fields,
        })
      } else if (event === DATA) {
        views.push(parser.data)
      } else if (event === END) {
        end = true
        trailers = parser.trailers
        break feeding
      } else {
        error = parser.error
        break feeding
      }
    }
  }
  if (!end && error === null && options.eof === true) {
    if (parser.atEof() === END) end = true
    else error = parser.error
  }
  return {
    heads,
    body: Buffer.concat(views).toString('latin1'),
    trailers,
    end,
    error,
    keepAlive: parser.keepAlive,
    keepAliveHintMs: parser.keepAliveHintMs,
    drained: parser.drained,
    views,
  }
}

/** The message cut in two at every byte position, then fed byte by byte. */
function everySplit(message: string, options: Options = {}): Parsed[] {
  const out: Parsed[] = []
  for (let i = 1; i < message.length; i++) {
    out.push(parse([message.slice(0, i), message.slice(i)], options))
  }
  out.push(parse([...message], options))
  return out
}

const SIMPLE =
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Custom: a b \r\n\r\nhello'

const CHUNKED =
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n' +
  '5;name=value\r\nhello\r\n' +
  '1 ; a="quoted;ext" \r\n,\r\n' +
  'A\r\n0123456789\r\n' +
  '0\r\nX-Sum: 42\r\nX-Other: yes\r\n\r\n'

describe('h1 response parser', () => {
  describe('a Content-Length response', () => {
    it('gives status, reason, lowercase headers with trimmed values, and the body', () => {
      const r = parse([SIMPLE])
      expect(r.error).toBeNull()
      expect(r.heads).toEqual([
        {
          status: 200,
          message: 'OK',
          headers: { 'content-type': 'text/plain', 'content-length': '5', 'x-custom': 'a b' },
          fields: ['content-type', 'text/plain', 'content-length', '5', 'x-custom', 'a b'],
        },
      ])
      expect(r.body).toBe('hello')
      expect(r.end).toBe(true)
      expect(r.keepAlive).toBe(true)
      expect(r.drained).toBe(true)
    })

    it('hands the body as views of the fed Buffer, not copies', () => {
      const fed = Buffer.from(SIMPLE, 'latin1')
      const r = parse([fed])
      expect(r.views).toHaveLength(1)
      expect(r.views[0]!.buffer).toBe(fed.buffer)
    })

    it('gives the same result whatever the reads', () => {
      for (const borrowed of [false, true]) {
        for (const r of everySplit(SIMPLE, { borrowed })) {
          expect(r.error).toBeNull()
          expect(r.heads[0]!.headers['x-custom']).toBe('a b')
          expect(r.body).toBe('hello')
          expect(r.end).toBe(true)
        }
      }
    })

    it('hands the body as copies when the fed Buffer is borrowed (reused by the next read)', () => {
      const r = parse([SIMPLE], { borrowed: true })
      expect(r.views).toHaveLength(1)
      expect(r.views[0]!.buffer).not.toBe(SCRATCH.buffer)
      SCRATCH.fill(0)
      expect(r.body).toBe('hello')
    })

    it('accepts a status line without a reason phrase', () => {
      const r = parse(['HTTP/1.1 204\r\n\r\n'])
      expect(r.heads[0]).toMatchObject({ status: 204, message: '' })
      expect(r.end).toBe(true)
    })

    it('leaves bytes after the body unconsumed (the connection cannot be reused)', () => {
      const r = parse([SIMPLE + 'HTTP/1.1 200 OK\r\n'])
      expect(r.end).toBe(true)
      expect(r.drained).toBe(false)
    })
  })

  describe('repeated fields', () => {
    it('become arrays, set-cookie always is one, identical Content-Lengths count once', () => {
      const r = parse([
        'HTTP/1.1 200 OK\r\nVary: a\r\nvary: b\r\nSet-Cookie: x=1\r\nContent-Length: 0\r\n' +
          'Content-Length: 0\r\n\r\n',
      ])
      expect(r.heads[0]!.headers).toEqual({
        vary: ['a', 'b'],
        'set-cookie': ['x=1'],
        'content-length': '0',
      })
    })

    it('stay separate and in order in the field list, names in lower case', () => {
      const r = parse([
        'HTTP/1.1 200 OK\r\nVary: a\r\nSet-Cookie: x=1\r\nvary: b\r\nContent-Length: 0\r\n' +
          'Content-Length: 0\r\n\r\n',
      ])
      expect(r.heads[0]!.fields).toEqual([
        'vary',
        'a',
        'set-cookie',
        'x=1',
        'vary',
        'b',
        'content-length',
        '0',
      ])
    })

    it('stores names like __proto__ and constructor as plain own fields', () => {
      const r = parse([
        'HTTP/1.1 200 OK\r\n__proto__: x\r\nconstructor: y\r\nContent-Length: 0\r\n\r\n',
      ])
      const headers = r.heads[0]!.headers
      expect(Object.getPrototypeOf(headers)).toBe(Object.prototype)
      expect(Object.hasOwn(headers, '__proto__')).toBe(true)
      expect(headers['__proto__']).toBe('x')
      expect(headers['constructor']).toBe('y')
    })
  })

  describe('chunked', () => {
    it('skips chunk extensions and gives the trailers', () => {
      const r = parse([CHUNKED])
      expect(r.error).toBeNull()
      expect(r.body).toBe('hello,0123456789')
      expect(r.trailers).toEqual({ 'x-sum': '42', 'x-other': 'yes' })
      expect(r.end).toBe(true)
      expect(r.drained).toBe(true)
      expect(r.keepAlive).toBe(true)
    })

    it('gives the same result when cut at every byte', () => {
      for (const borrowed of [false, true]) {
        for (const r of everySplit(CHUNKED, { borrowed })) {
          expect(r.error).toBeNull()
          expect(r.body).toBe('hello,0123456789')
          expect(r.trailers).toEqual({ 'x-sum': '42', 'x-other': 'yes' })
          expect(r.drained).toBe(true)
        }
      }
    })

    it('keeps what a paused read left unparsed when its borrowed Buffer is reused', () => {
      // The handler pauses after the first chunk: the rest of the read stays in the parser
      // while the read buffer serves other sockets, then resume() parses on from the copy.
      const parser = new ResponseParser()
      parser.reset(false)
      feedChunk(parser, Buffer.from(CHUNKED, 'latin1'), true)
      expect(parser.next()).toBe(HEAD)
      expect(parser.next()).toBe(DATA)
      const first = parser.data
      endRead(parser, true)
      const rest: Buffer[] = []
      let event: number
      while ((event = parser.next()) === DATA) rest.push(parser.data)
      expect(event).toBe(END)
      expect(first.toString('latin1') + Buffer.concat(rest).toString('latin1')).toBe(
        'hello,0123456789',
      )
      expect(parser.trailers).toEqual({ 'x-sum': '42', 'x-other': 'yes' })
      expect(parser.drained).toBe(true)
    })

    it('lends views of a borrowed Buffer only to a handler that takes them, and parses on the same', () => {
      for (const lend of [false, true]) {
        const parser = new ResponseParser()
        parser.reset(false, lend)
        feedChunk(parser, Buffer.from(CHUNKED, 'latin1'), true)
        expect(parser.next()).toBe(HEAD)
        let body = ''
        let event: number
        while ((event = parser.next()) === DATA) {
          expect(parser.data.buffer === SCRATCH.buffer, `lend ${lend}`).toBe(lend)
          body += parser.data.toString('latin1') // used during the call, as such a handler does
        }
        expect(event).toBe(END)
        expect(body).toBe('hello,0123456789')
        endRead(parser, true)
      }
    })

    it('ends on the last chunk with no trailers', () => {
      for (const r of everySplit(
        'HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n0\r\n\r\n',
      )) {
        expect(r.error).toBeNull()
        expect(r.end).toBe(true)
        expect(r.trailers).toEqual({})
        expect(r.drained).toBe(true)
      }
    })
  })

  describe('interim responses', () => {
    it('reports 100 and 103 heads before the final one', () => {
      const message =
        'HTTP/1.1 100 Continue\r\n\r\n' +
        'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' +
        'HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok'
      for (const r of everySplit(message, { borrowed: true })) {
        expect(r.heads.map((h) => h.status)).toEqual([100, 103, 201])
        expect(r.heads[1]!.headers['link']).toBe('</a.css>; rel=preload')
        expect(r.body).toBe('ok')
        expect(r.end).toBe(true)
      }
    })
  })

  describe('responses without a body (RFC 9112 §6.3)', () => {
    it('ends a response to HEAD at its head, whatever its Content-Length', () => {
      const r = parse(['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'], { noBody: true })
      expect(r.heads[0]!.headers['content-length']).toBe('100')
      expect(r.end).toBe(true)
      expect(r.drained).toBe(true)
    })

    it.each([204, 304])('ends a %i at its head', (status) => {
      const r = parse([`HTTP/1.1 ${status} X\r\nContent-Length: 10\r\n\r\n`])
      expect(r.end).toBe(true)
      expect(r.body).toBe('')
      expect(r.drained).toBe(true)
    })
  })

  describe('a body delimited by the end of the connection', () => {
    it('is read until the server closes, and the connection is not reusable', () => {
      const r = parse(['HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhel', 'lo'], {
        eof: true,
        borrowed: true,
      })
      expect(r.error).toBeNull()
      expect(r.body).toBe('hello')
      expect(r.end).toBe(true)
      expect(r.keepAlive).toBe(false)
    })
  })

  describe('persistence (RFC 9112 §9.3)', () => {
    it.each([
      ['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', false],
      ['HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\nContent-Length: 0\r\n\r\n', false],
      ['HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n', false],
      ['HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n', true],
      ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', true],
    ])('%j → reusable %s', (message, reusable) => {
      expect(parse([message]).keepAlive).toBe(reusable)
    })

    it('reads the Keep-Alive timeout hint', () => {
      const r = parse(['HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n'])
      expect(r.keepAliveHintMs).toBe(5000)
    })
  })

  describe('malformed responses', () => {
    const BAD: [string, string, RegExp][] = [
      ['conflicting Content-Lengths', 'Content-Length: 5\r\nContent-Length: 6', /conflicting/],
      ['a Content-Length list', 'Content-Length: 5, 5', /invalid Content-Length/],
      ['a non-numeric Content-Length', 'Content-Length: 0x10', /invalid Content-Length/],
      ['a negative Content-Length', 'Content-Length: -1', /invalid Content-Length/],
      [
        'Transfer-Encoding with Content-Length',
        'Transfer-Encoding: chunked\r\nContent-Length: 5',
        /both/,
      ],
      ['a coding other than chunked', 'Transfer-Encoding: gzip, chunked', /unsupported/],
      [
        'a repeated Transfer-Encoding',
        'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked',
        /repeated/,
      ],
      ['obs-fold', 'X-A: 1\r\n  continued', /obs-fold/],
      ['whitespace before the colon', 'X-A : 1', /field name/],
      ['a line without colon', 'X-A 1', /colon/],
      ['an empty name', ': 1', /empty field name/],
      ['a bare LF', 'X-A: 1\nX-B: 2', /bare CR or LF/],
      ['a bare CR in a value', 'X-A: 1\r2', /bare CR or LF/],
      ['a NUL in a value', 'X-A: 1\u00002', /control character 0x00/],
    ]
    it.each(BAD)('refuses %s', (_name, fields, why) => {
      const r = parse([`HTTP/1.1 200 OK\r\n${fields}\r\n\r\n`])
      expect(r.error).toMatch(why)
      expect(r.heads).toEqual([])
    })

    describe('a control character other than HTAB (RFC 9110 §5.5)', () => {
      it.each([0x01, 0x08, 0x0b, 0x0c, 0x0e, 0x1f, 0x7f])(
        'refuses 0x%s in a value, naming the field',
        (c) => {
          const r = parse([
            `HTTP/1.1 200 OK\r\nX-Ok: 1\r\nX-Bad: a${String.fromCharCode(c)}b\r\n\r\n`,
          ])
          const hex = c.toString(16).padStart(2, '0')
          expect(r.error).toBe(`control character 0x${hex} in the value of field "x-bad"`)
          expect(r.heads).toEqual([])
        },
      )

      it('keeps HTAB and obs-text in a value, one latin1 char per byte', () => {
        const r = parse([
          'HTTP/1.1 200 OK\r\nX-A: a\tb caf\u00e9\u00ff\u0080\r\nContent-Length: 0\r\n\r\n',
        ])
        expect(r.error).toBeNull()
        expect(r.heads[0]!.fields).toEqual([
          'x-a',
          'a\tb caf\u00e9\u00ff\u0080',
          'content-length',
          '0',
        ])
      })

      it('refuses one in the reason phrase', () => {
        expect(parse(['HTTP/1.1 200 O\u0001K\r\n\r\n']).error).toMatch(/0x01 in the status line/)
      })

      it('refuses one in a name without quoting it', () => {
        expect(parse(['HTTP/1.1 200 OK\r\nX\u0001A: 1\r\n\r\n']).error).toMatch(
          /0x01 in a field name/,
        )
      })

      it('refuses one in a trailer', () => {
        const r = parse([
          'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\u0001\r\n\r\n',
        ])
        expect(r.error).toMatch(/0x01 in the value of field "x-t"/)
        expect(r.end).toBe(false)
      })

      it('refuses one in a body-less head read in pieces', () => {
        for (const r of everySplit('HTTP/1.1 204 No Content\r\nX-Bad: \u007f\r\n\r\n')) {
          expect(r.error).toMatch(/0x7f/)
        }
      })
    })

    it.each([
      ['HTTP/2 200 OK\r\n\r\n'],
      ['HTTP/1.1 20 OK\r\n\r\n'],
      ['HTTP/1.1 2000 OK\r\n\r\n'],
      ['HTTP/1.1 600 High\r\n\r\n'],
      ['HTTP/1.1 999 Max\r\n\r\n'],
      ['HTTP/1.1 200OK\r\n\r\n'],
      ['HTTP/1.1 200 O\rK\r\n\r\n'],
      ['ICY 200 OK\r\n\r\n'],
      ['\r\nHTTP/1.1 200 OK\r\n\r\n'],
    ])('refuses the status line of %j', (message) => {
      expect(parse([message]).error).toMatch(/status/)
    })

    it('refuses a head over 64 KiB, complete or not', () => {
      const big = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`
      expect(parse([big]).error).toMatch(/64 KiB/)
      expect(parse([big.slice(0, 66 * 1024)]).error).toMatch(/64 KiB/)
    })

    it.each([
      ['a chunk size that is not hex', 'zz\r\n'],
      ['an empty chunk size', '\r\nhello\r\n'],
      ['a chunk size over 2^52', 'fffffffffffffff\r\n'],
      ['a chunk size line ended by a bare LF', '5\nhello\r\n0\r\n\r\n'],
      ['chunk data not followed by CRLF', '5\r\nhelloX\r\n0\r\n\r\n'],
      ['a chunk extension with a bare LF', '5;a\nhello\r\n'],
      ['a trailer with obs-fold', '0\r\nX-A: 1\r\n 2\r\n\r\n'],
      ['a trailer line starting with CR', '0\r\n\rX\r\n\r\n'],
    ])('refuses %s', (_name, body) => {
      for (const r of everySplit(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}`)) {
        expect(r.error).not.toBeNull()
        expect(r.end).toBe(false)
      }
    })

    it('refuses a Content-Length body cut by the end of the connection', () => {
      const r = parse(['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello'], { eof: true })
      expect(r.body).toBe('hello')
      expect(r.error).toMatch(/closed within the body/)
    })

    it('refuses a connection closed before a complete head', () => {
      expect(parse(['HTTP/1.1 200 OK\r\nContent-'], { eof: true }).error).toMatch(
        /before a response/,
      )
    })
  })

  describe('a parser reused for response after response (its name and status caches)', () => {
    const parser = new ResponseParser()
    function next(message: string): { status: number; headers: IncomingHttpHeaders } | string {
      parser.reset(false)
      parser.feed(Buffer.from(message, 'latin1'), false)
      for (;;) {
        const event = parser.next()
        if (event === HEAD && parser.status >= 200) continue
        if (event === END) return { status: parser.status, headers: parser.headers }
        if (event !== DATA && event !== HEAD)
          return event === NEED_MORE ? 'need more' : parser.error
      }
    }
    const ok = (fields: string, status = '200 OK') => `HTTP/1.1 ${status}\r\n${fields}\r\n\r\n`

    it('gives each head its own fields whatever the previous one had', () => {
      expect(next(ok('Content-Type: a\r\nX-A: 1\r\nContent-Length: 0'))).toEqual({
        status: 200,
        headers: { 'content-type': 'a', 'x-a': '1', 'content-length': '0' },
      })
      expect(next(ok('Content-Type: b\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 0'))).toEqual({
        status: 200,
        headers: { 'content-type': 'b', 'x-a': ['1', '2'], 'content-length': '0' },
      })
      expect(next(ok('Content-Type: b\r\nX-A: 3\r\nX-A: 4\r\nContent-Length: 0'))).toEqual({
        status: 200,
        headers: { 'content-type': 'b', 'x-a': ['3', '4'], 'content-length': '0' },
      })
      expect(next(ok('Content-Type:c\r\nContent-Length: 0', '404 Not Found'))).toEqual({
        status: 404,
        headers: { 'content-type': 'c', 'content-length': '0' },
      })
      expect(next(ok('content-type: d\r\nContent-Typo: e\r\nContent-Length: 0'))).toEqual({
        status: 200,
        headers: { 'content-type': 'd', 'content-typo': 'e', 'content-length': '0' },
      })
      expect(next(ok('Content-Type: f\r\nContent-Length: 0', '200 OKAY'))).toMatchObject({
        status: 200,
      })
      expect(parser.statusMessage).toBe('OKAY')
    })

    it('still refuses a malformed line where a cached name used to be', () => {
      expect(next(ok('Content-Type: a\r\nContent-Length: 0'))).toMatchObject({ status: 200 })
      expect(next(ok(' Content-Type: a\r\nContent-Length: 0'))).toMatch(/obs-fold/)
      expect(next(ok('Content-Length: 0\r\nContent-Type: a'))).toMatchObject({ status: 200 })
      expect(next(ok('Content-Length: 1\r\nContent-Length: 2'))).toMatch(/conflicting/)
      expect(next(ok('Content-Length : 0\r\nContent-Type: a'))).toMatch(/field name/)
    })
  })
})
