/**
 * One request on the native transport: its serialized head, its body, and the undici
 * DispatchController the handler holds (pause/resume/abort). The head is built and checked at
 * dispatch, so a header the gateway must not send throws synchronously, as undici's
 * InvalidArgumentError does, before anything reaches a socket.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import { errors, type Dispatcher } from 'undici'
import { isFieldValue, isPath, isToken, parseDecimal } from './names.js'
import type { FieldSectionCheck } from './socket-choice.js'

/** The part of a connection a request drives; implemented by H1Connection. */
export interface RequestSocket {
  /** Ends the exchange with `error`: the connection is destroyed, never pooled again. */
  fail(error: Error): void
  pauseReading(): void
  resumeReading(): void
}

type HeaderValue = string | readonly string[] | undefined | null
type Headers = readonly (string | readonly string[])[] | Record<string, HeaderValue>

/** RFC 9110 §8.6: methods whose empty body is still announced with Content-Length: 0. */
const EXPECTS_PAYLOAD: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'QUERY'])

const EMPTY_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>

export class H1Request implements Dispatcher.DispatchController {
  readonly handler: Dispatcher.DispatchHandler
  readonly method: string
  /** Request line and header section, CRLF CRLF included, to be written latin1. */
  readonly head: string
  readonly body: Buffer | Readable | null
  /** Declared length of a streamed body; -1 when it is sent chunked. */
  readonly streamLength: number
  readonly headersTimeout: number
  readonly bodyTimeout: number
  /** The caller asked for Connection: close: the socket is not reused afterwards. */
  readonly closeAfter: boolean
  /** The connection carrying the request; null while queued and once settled. */
  socket: RequestSocket | null = null
  /** performance.now() when it first waited in its pool's queue; 0 when it never did. */
  queuedAt = 0
  /** onResponseEnd or onResponseError was called: nothing else will be. */
  done = false
  #aborted = false
  #paused = false
  #reason: Error | null = null

  constructor(
    opts: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
    b: HeadBuilder,
    hostHeader: string,
    headersTimeout: number,
    bodyTimeout: number,
  ) {
    if (opts.upgrade != null && opts.upgrade !== false) {
      throw new errors.InvalidArgumentError('upgrade is not supported by the native transport')
    }
    const method = opts.method
    if (method === 'CONNECT' || !isToken(method))
      throw new errors.InvalidArgumentError('invalid method')
    const path = opts.path
    if (!isPath(path)) throw new errors.InvalidArgumentError('invalid request path')
    if (opts.query != null) throw new errors.InvalidArgumentError('query is not supported')
    this.handler = handler
    this.method = method
    this.headersTimeout = opts.headersTimeout ?? headersTimeout
    this.bodyTimeout = opts.bodyTimeout ?? bodyTimeout

    let body = opts.body ?? null
    if (typeof body === 'string') body = Buffer.from(body)
    else if (body instanceof Uint8Array && !Buffer.isBuffer(body)) {
      body = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
    }
    const streamed = body !== null && !Buffer.isBuffer(body)
    if (streamed && typeof (body as Readable).on !== 'function') {
      throw new errors.InvalidArgumentError('body must be a Buffer, a string or a Readable')
    }

    // RFC 9112 §3: request-line = method SP request-target SP HTTP-version
    b.fields = ''
    b.lines = 0
    b.host = false
    b.length = -1
    b.close = opts.reset === true
    const headers = (opts.headers ?? EMPTY_HEADERS) as Headers
    if (Array.isArray(headers)) {
      if (headers.length % 2 !== 0) throw new errors.InvalidArgumentError('odd headers array')
      for (let i = 0; i < headers.length; i += 2) addValue(b, headers[i] as string, headers[i + 1])
    } else {
      const record = headers as Record<string, HeaderValue>
      for (const name in record) addValue(b, name, record[name])
    }
    const requestLine = `${method} ${path} HTTP/1.1\r\n`
    let head = requestLine + b.fields
    b.fields = ''
    let lines = b.lines
    const length = b.length
    const close = b.close
    if (!b.host) {
      head += `host: ${hostHeader}\r\n`
      lines++
    }

    if (streamed) {
      if (length >= 0) head += `content-length: ${length}\r\n`
      else head += 'transfer-encoding: chunked\r\n' // RFC 9112 §7.1
      lines++
    } else {
      const size = body === null ? 0 : (body as Buffer).length
      if (length !== -1 && length !== size) throw new errors.RequestContentLengthMismatchError()
      if (size > 0 || EXPECTS_PAYLOAD.has(method)) {
        head += `content-length: ${size}\r\n`
        lines++
      }
      if (size === 0) body = null
    }
    if (close) {
      head += 'connection: close\r\n'
      lines++
    }
    head += '\r\n'
    // The transport's own lines are checked with the caller's: a configured Host is a value too.
    if (!isFieldSection(b, head, lines, requestLine.length, head.length - 2)) {
      throw invalidField(headers, hostHeader)
    }
    this.head = head
    this.body = body as Buffer | Readable | null
    // As undici: a streamed body that fails before or while it is sent ends the request (an
    // 'error' without a listener would take the process down). The listener stays after the
    // request settles, since abort() is then a no-op.
    if (streamed) (body as Readable).on('error', (error: Error) => this.abort(error))
    this.streamLength = streamed ? length : -1
    this.closeAfter = close
  }

  get aborted(): boolean {
    return this.#aborted
  }

  get paused(): boolean {
    return this.#paused
  }

  get reason(): Error | null {
    return this.#reason
  }

  pause(): void {
    if (this.done || this.#paused) return
    this.#paused = true
    this.socket?.pauseReading()
  }

  resume(): void {
    if (!this.#paused) return
    this.#paused = false
    if (!this.done) this.socket?.resumeReading()
  }

  abort(reason: Error): void {
    if (this.done || this.#aborted) return
    this.#aborted = true
    this.#reason = reason
    const socket = this.socket
    // On a connection: it is destroyed (its state is unknown) and settles this request.
    if (socket !== null) socket.fail(reason)
    else this.settleError(reason) // queued: the pool skips a settled request
  }

  settleEnd(trailers: IncomingHttpHeaders): void {
    if (this.done) return
    this.done = true
    this.socket = null
    this.handler.onResponseEnd?.(this, trailers)
  }

  settleError(error: Error): void {
    if (this.done) return
    this.done = true
    this.socket = null
    const body = this.body
    // As undici: a streamed body that will not be sent any more is destroyed (without an error,
    // which would have no listener left).
    if (body !== null && !Buffer.isBuffer(body) && !body.readableEnded) body.destroy()
    this.handler.onResponseError?.(this, error)
  }
}

/** How many field lines of the previous head a HeadBuilder keeps, by position. */
const CACHED_LINES = 32

/**
 * Builds the heads of one pool's requests, one at a time (dispatch is synchronous): the scratch
 * state of the head being built, and the field lines of the previous head, by position. Most
 * repeat from one request to the next (the gateway's own fields, a keep-alive client's), and a
 * line reused is one flat string where a line built is a few cons strings that the head's check
 * must flatten, node by node, again.
 */
export class HeadBuilder {
  /** The caller's field lines so far, each `name: value` CRLF, unchecked until the end. */
  fields = ''
  lines = 0
  host = false
  length = -1
  close = false
  readonly cachedName: string[] = []
  readonly cachedValue: string[] = []
  readonly cachedLine: string[] = []
  /** src/native's check, from the sockets' choice; null (node's sockets): the expression. */
  readonly nativeCheck: FieldSectionCheck | null

  constructor(nativeCheck: FieldSectionCheck | null) {
    this.nativeCheck = nativeCheck
  }
}

/**
 * Characters [start, end) of `head` are `lines` field lines, each `token ": " field-value CRLF`
 * (RFC 9110 §5.1, §5.5): the whole section is checked at once instead of every name and value on
 * its own, which cost a call and a string flattening per field. The line count
 * catches a CR LF inside a value: it would pass as a line of its own. The check reads the head
 * that will be written, so V8 flattens it once, here, and the write copies it flat. src/native
 * checks a head of up to 8192 characters in a loop; the expression (whose cost grows with every
 * character) takes a longer one, or every one on node's sockets.
 */
const FIELD_SECTION = /^(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+: [\t\x20-\x7e\x80-\xff]*\r\n)*$/

function isFieldSection(
  b: HeadBuilder,
  head: string,
  lines: number,
  start: number,
  end: number,
): boolean {
  const nativeCheck = b.nativeCheck
  if (nativeCheck !== null) {
    const checked = nativeCheck(head, lines, start, end)
    if (checked !== undefined) return checked
  }
  const fields = head.slice(start, end)
  if (!FIELD_SECTION.test(fields)) return false
  let count = 0
  for (let at = fields.indexOf('\n'); at !== -1; at = fields.indexOf('\n', at + 1)) count++
  return count === lines
}

/** The error for the first field that spoiled the section, checked field by field. */
function invalidField(headers: Headers, hostHeader: string): Error {
  const check = (name: string, value: unknown): void => {
    if (value === undefined) return
    if (!isToken(name)) throw new errors.InvalidArgumentError('invalid header name')
    for (const v of Array.isArray(value) ? value : [value]) {
      if (!isFieldValue(v === null ? '' : String(v))) {
        throw new errors.InvalidArgumentError(`invalid ${name} header`)
      }
    }
  }
  try {
    if (Array.isArray(headers)) {
      for (let i = 0; i < headers.length; i += 2) check(headers[i] as string, headers[i + 1])
    } else {
      for (const name in headers) check(name, (headers as Record<string, HeaderValue>)[name])
    }
    check('host', hostHeader)
  } catch (error) {
    return error as Error
  }
  return new errors.InvalidArgumentError('invalid header')
}

function addValue(b: HeadBuilder, name: string, value: unknown): void {
  if (value === undefined) return
  if (typeof value === 'string') addHeader(b, name, value)
  else if (Array.isArray(value)) for (const v of value) addHeader(b, name, String(v))
  else if (value === null) addHeader(b, name, '')
  else if (typeof value === 'number' || typeof value === 'boolean')
    addHeader(b, name, String(value))
  else throw new errors.InvalidArgumentError(`invalid ${name} header`)
}

/** First letters (lowercase) of the names the transport handles itself: h, c, k, t, u, e. */
function mayBeSpecial(name: string): boolean {
  switch (name.length) {
    case 4: // host
    case 14: // content-length
    case 10: // connection, keep-alive
    case 17: // transfer-encoding
    case 7: // upgrade
    case 6: {
      // expect
      const c = name.charCodeAt(0) | 0x20
      return c === 104 || c === 99 || c === 107 || c === 116 || c === 117 || c === 101
    }
    default:
      return false
  }
}

/** Appends a field; names and values are checked once the section is complete. */
function addHeader(b: HeadBuilder, name: string, value: string): void {
  // Most names are no special one: they skip the lowercasing.
  if (mayBeSpecial(name)) {
    switch (name.toLowerCase()) {
      case 'host':
        if (b.host) throw new errors.InvalidArgumentError('duplicate host header')
        b.host = true
        break
      case 'content-length':
        if (b.length !== -1) throw new errors.InvalidArgumentError('duplicate content-length')
        b.length = parseDecimal(value)
        if (b.length < 0) throw new errors.InvalidArgumentError('invalid content-length header')
        return // written once the body is known
      case 'connection': {
        const v = value.toLowerCase()
        if (v !== 'close' && v !== 'keep-alive') {
          throw new errors.InvalidArgumentError('invalid connection header')
        }
        if (v === 'close') b.close = true
        return // written by the transport
      }
      // Framing, persistence and protocol switches are the transport's (RFC 9112 §6.1, §7, §9).
      case 'keep-alive':
      case 'transfer-encoding':
      case 'upgrade':
      case 'expect':
        throw new errors.InvalidArgumentError(`invalid ${name.toLowerCase()} header`)
    }
  }
  const at = b.lines++
  if (at < CACHED_LINES) {
    if (b.cachedName[at] !== name || b.cachedValue[at] !== value) {
      const line = `${name}: ${value}\r\n`
      line.charCodeAt(0) // V8 flattens a cons string it reads: the cached line is one copy
      b.cachedName[at] = name
      b.cachedValue[at] = value
      b.cachedLine[at] = line
    }
    b.fields += b.cachedLine[at]!
  } else {
    b.fields += `${name}: ${value}\r\n`
  }
}
