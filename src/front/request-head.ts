/**
 * Reads one request header into the exchange and applies the framing rules of RFC 9112 that
 * defeat request smuggling: a Content-Length must be digits; several must agree (§6.3); a
 * Transfer-Encoding with a Content-Length is refused (§6.1, the classic CL.TE/TE.CL desync);
 * only plain `chunked` is accepted; one Host only (§3.2). Both fronts call this for every header,
 * so the rules are the same whatever parser ran before.
 */
import { REJECT, REJECT_HEAD } from '../errors.js'
import type { Exchange } from '../gateway/exchange.js'
import { newRequestId } from './request-id.js'

/** A propagated X-Request-Id is kept only if it is this tame: it is echoed and logged. */
const REQUEST_ID = /^[A-Za-z0-9._:@+=-]{1,128}$/

/** RFC 3986 reg-name / IPv4 / bracketed IPv6, with an optional port. */
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(:[0-9]{0,5})?$/

export const FRAMING_LENGTH = 1
export const FRAMING_CHUNKED = 2
export const FRAMING_HOST = 4

export function recordHeader(exchange: Exchange, name: string, value: string): void {
  exchange.headers.push(name, value)
  applyHeader(exchange, name, value)
}

/** The rules of {@link recordHeader} for a header already in `exchange.headers`. */
export function applyHeader(exchange: Exchange, name: string, value: string): void {
  exchange.headerBytes += name.length + value.length + 4
  switch (name) {
    case 'content-length':
      return recordLength(exchange, value)
    case 'transfer-encoding':
      if (exchange.framing & (FRAMING_LENGTH | FRAMING_CHUNKED)) {
        exchange.invalid = REJECT.conflictingLength
      } else if (value.trim().toLowerCase() !== 'chunked') {
        exchange.invalid = REJECT_HEAD.unsupportedTransferEncoding
      }
      exchange.framing |= FRAMING_CHUNKED
      exchange.contentLength = -1
      return
    case 'host':
      if (exchange.framing & FRAMING_HOST) exchange.invalid = REJECT_HEAD.duplicateHost
      exchange.framing |= FRAMING_HOST
      exchange.hostHeader = value
      return recordHost(exchange, value)
    case 'connection':
      exchange.connectionHeader =
        exchange.connectionHeader === '' ? value : `${exchange.connectionHeader}, ${value}`
      return
    case 'expect':
      if (value.trim().toLowerCase() === '100-continue') exchange.expectContinue = true
      else exchange.invalid = REJECT_HEAD.expectationFailed
      return
    case 'upgrade':
      exchange.upgrade = value.trim().toLowerCase()
      return
    case 'x-request-id':
      if (REQUEST_ID.test(value)) exchange.requestId = value
      return
  }
}

/** Called after the last header: fills what the request did not send. */
export function completeHead(exchange: Exchange): void {
  if (exchange.requestId === '') exchange.requestId = newRequestId()
}

function recordLength(exchange: Exchange, value: string): void {
  const length = parseContentLength(value)
  if (length < 0 || exchange.framing & FRAMING_CHUNKED) {
    exchange.invalid = REJECT.conflictingLength
  } else if (exchange.framing & FRAMING_LENGTH && exchange.contentLength !== length) {
    exchange.invalid = REJECT.conflictingLength
  }
  exchange.framing |= FRAMING_LENGTH
  exchange.contentLength = length
}

/**
 * Digits only, or a list of identical values (`5, 5`, which RFC 9112 §6.3 lets a recipient
 * accept); -1 for anything else, including signs, spaces inside numbers and values past 2^53.
 */
export function parseContentLength(value: string): number {
  const length = value.length
  let n = 0
  let i = 0
  for (; i < length; i++) {
    const c = value.charCodeAt(i)
    if (c < 48 || c > 57) break
    n = n * 10 + (c - 48)
  }
  if (i === length) return length > 0 && n <= Number.MAX_SAFE_INTEGER ? n : -1
  let result = -1
  for (const part of value.split(',')) {
    const digits = part.trim()
    if (!/^[0-9]{1,16}$/.test(digits)) return -1
    const v = Number(digits)
    if (v > Number.MAX_SAFE_INTEGER || (result >= 0 && v !== result)) return -1
    result = v
  }
  return result
}

function recordHost(exchange: Exchange, value: string): void {
  if (!HOST.test(value)) {
    exchange.invalid = REJECT_HEAD.badHost
    return
  }
  let host = value
  if (host.charCodeAt(0) === 91 /* [ */) host = host.slice(0, host.indexOf(']') + 1)
  else {
    const colon = host.indexOf(':')
    if (colon >= 0) host = host.slice(0, colon)
  }
  // Host names are case-insensitive (RFC 9110 §4.2.3); a trailing dot names the same host.
  if (host.charCodeAt(host.length - 1) === 46) host = host.slice(0, -1)
  exchange.host = host.toLowerCase()
}
