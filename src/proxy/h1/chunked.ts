/**
 * The chunked transfer coding of a response body (RFC 9112 §7.1), decoded in place: chunk data
 * is handed out as offsets into the fed Buffer, sizes and extensions are read byte by byte into
 * state (a few bytes per chunk; a size line split across reads keeps no bytes), and the trailer
 * section is parsed like a header section.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { controlCharProblem, FieldNameCache, fieldRecord, parseFields } from './fields.js'

/** What decode() found; the parser maps these onto its own events. */
export const C_NEED_MORE = 0
export const C_DATA = 1
export const C_END = 2
export const C_ERROR = 3
export type ChunkEvent = 0 | 1 | 2 | 3

const MAX_EXT_BYTES = 4096
const MAX_TRAILER_BYTES = 64 * 1024

const CR = 13
const LF = 10
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1')

const S_SIZE = 0 // chunk-size digits
const S_EXT = 1 // chunk-ext, skipped up to CR
const S_SIZE_LF = 2
const S_DATA = 3
const S_DATA_CR = 4
const S_DATA_LF = 5
const S_TRAILERS = 6

export class ChunkedDecoder {
  /** After C_DATA: the chunk bytes, [dataStart, dataEnd) of the fed Buffer. */
  dataStart = 0
  dataEnd = 0
  /** After C_END. */
  trailers: IncomingHttpHeaders = {}
  /** After C_ERROR. */
  error = ''
  /**
   * Trailer bytes held across reads, a view of the fed Buffer (the caller copies it if that
   * Buffer is reused, and prepends it to the next one).
   */
  partial: Buffer | null = null
  #state = S_SIZE
  #remaining = 0
  #digits = 0
  #extBytes = 0
  readonly #names = new FieldNameCache()

  reset(): void {
    this.#state = S_SIZE
    this.#remaining = 0
    this.#digits = 0
    this.#extBytes = 0
    this.partial = null
  }

  /** Decodes from `pos`; returns the event and, through `this.end`, where it stopped. */
  decode(buf: Buffer, pos: number): ChunkEvent {
    const len = buf.length
    while (pos < len) {
      const state = this.#state
      if (state === S_DATA) {
        const end = Math.min(len, pos + this.#remaining)
        this.#remaining -= end - pos
        if (this.#remaining === 0) this.#state = S_DATA_CR
        this.dataStart = pos
        this.dataEnd = end
        this.end = end
        return C_DATA
      }
      if (state === S_TRAILERS) return this.#trailers(buf, pos)
      const c = buf[pos++]!
      if (state === S_SIZE) {
        const v = hexValue(c)
        if (v >= 0) {
          // 13 hex digits stay below 2^53; more is no chunk anyone sends.
          if (++this.#digits > 13) return this.#fail('chunk size too large', len)
          this.#remaining = this.#remaining * 16 + v
        } else if (this.#digits === 0) {
          return this.#fail('invalid chunk size', len)
        } else if (c === CR) {
          this.#state = S_SIZE_LF
        } else if (c === 59 /* ; */ || c === 32 || c === 9) {
          this.#state = S_EXT // chunk-ext (and BWS before it): ignored, RFC 9112 §7.1.1
        } else {
          return this.#fail('invalid chunk size', len)
        }
      } else if (state === S_EXT) {
        if (c === CR) this.#state = S_SIZE_LF
        else if (c === LF || c === 0) return this.#fail('invalid chunk extension', len)
        else if (++this.#extBytes > MAX_EXT_BYTES)
          return this.#fail('chunk extension too long', len)
      } else if (state === S_SIZE_LF) {
        if (c !== LF) return this.#fail('chunk size line without CRLF', len)
        this.#state = this.#remaining === 0 ? S_TRAILERS : S_DATA
      } else if (state === S_DATA_CR) {
        if (c !== CR) return this.#fail('chunk data without CRLF', len)
        this.#state = S_DATA_LF
      } else {
        if (c !== LF) return this.#fail('chunk data without CRLF', len)
        this.#state = S_SIZE
        this.#digits = 0
        this.#extBytes = 0
      }
    }
    this.end = len
    return C_NEED_MORE
  }

  /** Where decode() stopped in the Buffer. */
  end = 0

  #fail(why: string, len: number): ChunkEvent {
    this.error = why
    this.partial = null
    this.end = len
    return C_ERROR
  }

  /** trailer-section = *( field-line CRLF ) CRLF, after the last chunk (RFC 9112 §7.1.2). */
  #trailers(buf: Buffer, start: number): ChunkEvent {
    const len = buf.length
    if (len - start >= 2 && buf[start] === CR) {
      if (buf[start + 1] !== LF) return this.#fail('malformed trailer section', len)
      this.end = start + 2
      this.trailers = {}
      return C_END
    }
    const at = buf.indexOf(CRLFCRLF, start)
    if (at === -1) {
      if (len - start > MAX_TRAILER_BYTES) return this.#fail('trailer section over 64 KiB', len)
      if (start < len) this.partial = buf.subarray(start)
      this.end = len
      return C_NEED_MORE
    }
    const text = buf.toString('latin1', start, at + 2)
    this.end = at + 4
    const fields: string[] = []
    const problem =
      controlCharProblem(text, 0, text.length, false) ??
      parseFields(text, 0, text.length, fields, null, this.#names)
    this.trailers = fieldRecord(fields)
    return problem === null ? C_END : this.#fail(problem, len)
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  const l = c | 0x20
  if (l >= 97 && l <= 102) return l - 87
  return -1
}
