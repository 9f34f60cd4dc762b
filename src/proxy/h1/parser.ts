/**
 * HTTP/1.1 response parser (RFC 9112), pull style: the connection feeds it socket Buffers and
 * calls next() until it returns NEED_MORE, so the connection stays in control between events (it
 * stops on pause or abort and resumes later on the same Buffer). One parser per connection,
 * reused for every response; body chunks are subarrays of the fed Buffer, except when it is
 * borrowed (a read buffer the socket reuses) and the handler keeps them: then they are copies, and
 * detach() copies what the parser still holds of it before the next read overwrites it.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { C_DATA, C_END, C_NEED_MORE, ChunkedDecoder } from './chunked.js'
import {
  controlCharProblem,
  FieldNameCache,
  fieldRecord,
  parseFields,
  type Framing,
} from './fields.js'

/** The fed bytes are used up (a partial head or trailer section is kept inside). */
export const NEED_MORE = 0
/** A head was parsed: status, statusMessage, fields (a 1xx one too: the caller skips it). */
export const HEAD = 1
/** `data` holds the next body bytes. */
export const DATA = 2
/** The response is complete; `trailers` holds the chunked trailer fields. */
export const END = 3
/** Malformed response: `error` says why. The connection cannot be used any more. */
export const ERROR = 4
export type ParseEvent = 0 | 1 | 2 | 3 | 4

/** Limit of a head: 64 KiB, as undici's and node's default. */
export const MAX_HEAD_BYTES = 64 * 1024
/**
 * A head is searched for in a latin1 decoding of at most this many bytes (string indexOf is
 * cheaper than Buffer indexOf, and the head is decoded anyway); past it, in the Buffer.
 */
const HEAD_PROBE_BYTES = 2048

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1')
const EMPTY = Buffer.alloc(0)

const S_HEAD = 0
const S_LENGTH = 1 // Content-Length body
const S_CLOSE = 2 // body delimited by the end of the connection
const S_CHUNKED = 3
const S_DONE = 4 // END was returned; the next response starts with reset()

export class ResponseParser implements Framing {
  buf: Buffer = EMPTY
  pos = 0
  status = 0
  statusMessage = ''
  /** The fields of the last head, [name, value, …] with names in lower case. */
  fields: string[] = []
  #record: IncomingHttpHeaders | null = null
  trailers: IncomingHttpHeaders = {}
  data: Buffer = EMPTY
  error = ''
  /** The connection may carry another request after this response (RFC 9112 §9.3). */
  keepAlive = true
  contentLength = -1
  chunked = false
  connectionClose = false
  connectionKeepAlive = false
  keepAliveHintMs = -1
  /** Body chunks may be views of a borrowed Buffer (see reset). */
  lend = false
  #state = S_HEAD
  #noBody = false
  #remaining = 0
  /** Bytes of a head spanning reads. */
  #partial: Buffer | null = null
  /** `buf` is only valid until the next read: see feed() and detach(). */
  #borrowed = false
  readonly #chunks = new ChunkedDecoder()
  readonly #names = new FieldNameCache()
  /** The previous status line, CRLF included, and what it meant: most repeat it. */
  #statusLine = ''
  #statusCode = 0
  #http10 = false

  /**
   * Prepares for the response to a request; `noBody` for HEAD (RFC 9112 §6.3 rule 1). `lend`:
   * body chunks are handed out as views even of a borrowed Buffer, for a handler that is done
   * with each one when its callback returns.
   */
  reset(noBody: boolean, lend = false): void {
    this.#state = S_HEAD
    this.#noBody = noBody
    this.lend = lend
    this.#partial = null
    this.#borrowed = false
    this.buf = EMPTY
    this.pos = 0
  }

  /** The fields of the last head in undici's object form (made on first use). */
  get headers(): IncomingHttpHeaders {
    return (this.#record ??= fieldRecord(this.fields))
  }

  /** Nothing is buffered: every fed byte was consumed. */
  get drained(): boolean {
    return this.pos >= this.buf.length && this.#partial === null && this.#chunks.partial === null
  }

  /**
   * `borrowed`: `chunk` is overwritten by the socket's next read. Body data is then handed out as
   * copies (a handler may keep a chunk, e.g. a client write queued on backpressure), and the
   * caller must call detach() before the read callback returns.
   */
  feed(chunk: Buffer, borrowed: boolean): void {
    const partial = this.#partial ?? this.#chunks.partial
    if (this.pos < this.buf.length) {
      // Only after a pause: what the handler had not taken yet comes first (owned, see detach()).
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk])
      this.#borrowed = false
    } else if (partial !== null) {
      // A head or trailer section spanning reads: the concatenation is the parser's own.
      this.buf = Buffer.concat([partial, chunk])
      this.#partial = null
      this.#chunks.partial = null
      this.#borrowed = false
    } else {
      this.buf = chunk
      this.#borrowed = borrowed
    }
    this.pos = 0
  }

  /**
   * The borrowed Buffer is about to be reused: copies what the parser still holds of it (the
   * rest of a paused read, a partial head or trailer section; chunk-size lines are parsed byte by
   * byte into state, so they hold nothing). Copies happen only on a pause, on a head or trailer
   * section split across reads, or on bytes past the response (the connection then closes).
   */
  detach(): void {
    if (!this.#borrowed) return
    this.#borrowed = false
    const buf = this.buf
    this.buf = this.pos < buf.length ? copyOf(buf, this.pos, buf.length) : EMPTY
    this.pos = 0
    const partial = this.#partial
    if (partial !== null) this.#partial = copyOf(partial, 0, partial.length)
    const trailers = this.#chunks.partial
    if (trailers !== null) this.#chunks.partial = copyOf(trailers, 0, trailers.length)
  }

  /** Body bytes [start, end) of `buf`, as a view, or a copy when `buf` is borrowed and kept. */
  #body(buf: Buffer, start: number, end: number): Buffer {
    return this.#borrowed && !this.lend ? copyOf(buf, start, end) : buf.subarray(start, end)
  }

  next(): ParseEvent {
    const buf = this.buf
    const start = this.pos
    switch (this.#state) {
      case S_HEAD:
        return this.#head(buf, start)
      case S_LENGTH: {
        if (start >= buf.length) return NEED_MORE
        const end = Math.min(buf.length, start + this.#remaining)
        this.#remaining -= end - start
        this.pos = end
        if (this.#remaining === 0) this.#state = S_DONE
        this.data = this.#body(buf, start, end)
        return DATA
      }
      case S_CHUNKED: {
        const chunks = this.#chunks
        const event = chunks.decode(buf, start)
        this.pos = chunks.end
        if (event === C_DATA) {
          this.data = this.#body(buf, chunks.dataStart, chunks.dataEnd)
          return DATA
        }
        if (event === C_NEED_MORE) return NEED_MORE
        if (event === C_END) {
          this.trailers = chunks.trailers
          this.#state = S_DONE
          return END
        }
        this.error = chunks.error
        return ERROR
      }
      case S_CLOSE:
        if (start >= buf.length) return NEED_MORE
        this.data =
          start === 0 && (!this.#borrowed || this.lend) ? buf : this.#body(buf, start, buf.length)
        this.pos = buf.length
        return DATA
      default:
        return END
    }
  }

  /** The server closed its side: the end of a close-delimited body, otherwise an error. */
  atEof(): ParseEvent {
    if (this.#state === S_CLOSE && this.pos >= this.buf.length) {
      this.#state = S_DONE
      return END
    }
    this.error = this.#state === S_HEAD ? 'closed before a response' : 'closed within the body'
    return ERROR
  }

  #fail(why: string): ParseEvent {
    this.error = why
    this.#partial = null
    this.pos = this.buf.length
    return ERROR
  }

  #head(buf: Buffer, start: number): ParseEvent {
    const len = buf.length
    if (start >= len) return NEED_MORE
    const probeEnd = Math.min(len, start + HEAD_PROBE_BYTES)
    let text = buf.toString('latin1', start, probeEnd)
    let end = text.indexOf('\r\n\r\n') // relative to start
    if (end === -1 && probeEnd < len) {
      const at = buf.indexOf(CRLFCRLF, start)
      if (at !== -1 && at + 4 - start <= MAX_HEAD_BYTES) {
        text = buf.toString('latin1', start, at + 2)
        end = at - start
      }
    }
    if (end === -1) {
      if (len - start > MAX_HEAD_BYTES) return this.#fail('response head over 64 KiB')
      this.#partial = buf.subarray(start)
      this.pos = len
      return NEED_MORE
    }
    if (end + 4 > MAX_HEAD_BYTES) return this.#fail('response head over 64 KiB')
    this.pos = start + end + 4
    // The head without its empty line: each line, the status line too, ends with CRLF.
    const problem = this.#parseHead(text, end + 2)
    if (problem !== null) return this.#fail(problem)
    this.#frame()
    return HEAD
  }

  #parseHead(text: string, end: number): string | null {
    // No control char but HTAB, anywhere in a head (RFC 9110 §5.5), as llhttp for undici: a
    // client must not get one from the gateway.
    const control = controlCharProblem(text, 0, end, true)
    if (control !== null) return control
    let fields: number
    const previous = this.#statusLine
    if (previous !== '' && text.startsWith(previous)) {
      fields = previous.length
    } else {
      const problem = this.#statusLineOf(text)
      if (problem !== null) return problem
      fields = this.#statusLine.length
    }
    this.status = this.#statusCode
    this.fields = []
    this.#record = null
    this.contentLength = -1
    this.chunked = false
    this.connectionClose = false
    this.connectionKeepAlive = false
    this.keepAliveHintMs = -1
    const problem = parseFields(text, fields, end, this.fields, this, this.#names)
    if (problem !== null) return problem
    if (this.chunked && this.contentLength !== -1) {
      return 'both Transfer-Encoding and Content-Length (RFC 9112 §6.3)'
    }
    // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
    this.keepAlive = !this.connectionClose && (!this.#http10 || this.connectionKeepAlive)
    return null
  }

  /** RFC 9112 §4: status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF */
  #statusLineOf(text: string): string | null {
    const eol = text.indexOf('\r\n')
    if (eol < 12) return 'malformed status line'
    const v = text.charCodeAt(7)
    if (!text.startsWith('HTTP/1.') || v < 48 || v > 57 || text.charCodeAt(8) !== 32) {
      return 'malformed status line'
    }
    const d0 = text.charCodeAt(9) - 48
    const d1 = text.charCodeAt(10) - 48
    const d2 = text.charCodeAt(11) - 48
    // RFC 9110 §15: codes are 100–599; one outside is not forwarded as if it meant something.
    if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return 'malformed status code'
    if (eol !== 12 && text.charCodeAt(12) !== 32) return 'malformed status line'
    // A bare CR or LF inside the status line (RFC 9112 §2.2).
    if (text.indexOf('\r') !== eol || text.indexOf('\n') !== eol + 1) return 'malformed status line'
    this.#statusLine = text.slice(0, eol + 2)
    this.#statusCode = d0 * 100 + d1 * 10 + d2
    this.#http10 = v === 48
    this.statusMessage = eol === 12 ? '' : text.slice(13, eol)
    return null
  }

  /** RFC 9112 §6.3: how the body of this response is delimited. */
  #frame(): void {
    const status = this.status
    if (status < 200) {
      this.#state = S_HEAD // interim: the final response follows (RFC 9110 §15.2)
    } else if (this.#noBody || status === 204 || status === 304) {
      this.#state = S_DONE
    } else if (this.chunked) {
      this.#state = S_CHUNKED
      this.#chunks.reset()
    } else if (this.contentLength >= 0) {
      this.#remaining = this.contentLength
      this.#state = this.contentLength === 0 ? S_DONE : S_LENGTH
    } else {
      this.#state = S_CLOSE
      this.keepAlive = false
    }
  }
}

/** A copy of `buf`'s bytes [start, end) (a pooled slice when small, as Buffer.from). */
function copyOf(buf: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start)
  buf.copy(out, 0, start, end)
  return out
}
