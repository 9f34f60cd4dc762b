import { describe, expect, it } from 'vitest'
import { REJECT, REJECT_HEAD } from '../../../src/errors.js'
import type { Exchange } from '../../../src/gateway/exchange.js'
import { completeHead, parseContentLength, recordHeader } from '../../../src/front/request-head.js'
import { FakeExchange } from '../../helpers/exchange.js'

function head(...pairs: [string, string][]): Exchange {
  const exchange = new FakeExchange()
  for (const [name, value] of pairs) recordHeader(exchange, name, value)
  completeHead(exchange)
  return exchange
}

describe('parseContentLength', () => {
  it('reads plain digits', () => {
    expect(parseContentLength('0')).toBe(0)
    expect(parseContentLength('1048576')).toBe(1048576)
  })
  it('accepts a list of identical values, as RFC 9112 §6.3 allows', () => {
    expect(parseContentLength('5, 5')).toBe(5)
    expect(parseContentLength('5,5')).toBe(5)
  })
  it.each([
    '',
    ' ',
    '+5',
    '-1',
    '5 5',
    '0x10',
    '1e3',
    '5, 6',
    '5,',
    ',5',
    '1.0',
    '99999999999999999',
  ])('refuses %j', (value) => {
    expect(parseContentLength(value)).toBe(-1)
  })
})

describe('recordHeader', () => {
  describe('when Content-Length and Transfer-Encoding are both present', () => {
    it('marks the request invalid in either order', () => {
      expect(head(['content-length', '5'], ['transfer-encoding', 'chunked']).invalid).toBe(
        REJECT.conflictingLength,
      )
      expect(head(['transfer-encoding', 'chunked'], ['content-length', '5']).invalid).toBe(
        REJECT.conflictingLength,
      )
    })
  })

  describe('when two Content-Lengths disagree', () => {
    it('marks the request invalid', () => {
      expect(head(['content-length', '5'], ['content-length', '6']).invalid).toBe(
        REJECT.conflictingLength,
      )
    })
    it('accepts repeated identical values', () => {
      const exchange = head(['content-length', '5'], ['content-length', '5'])
      expect(exchange.invalid).toBeNull()
      expect(exchange.contentLength).toBe(5)
    })
  })

  describe('when the transfer coding is not plain chunked', () => {
    it.each(['gzip, chunked', 'chunked, chunked', 'identity', 'xchunked'])(
      'refuses %j',
      (value) => {
        expect(head(['transfer-encoding', value]).invalid).not.toBeNull()
      },
    )
    it('accepts chunked in any letter case and marks the length unknown', () => {
      const exchange = head(['transfer-encoding', 'Chunked'])
      expect(exchange.invalid).toBeNull()
      expect(exchange.contentLength).toBe(-1)
    })
    it('refuses a second Transfer-Encoding header', () => {
      expect(head(['transfer-encoding', 'chunked'], ['transfer-encoding', 'chunked']).invalid).toBe(
        REJECT.conflictingLength,
      )
    })
  })

  describe('Host', () => {
    it('keeps the lowercased name without port or trailing dot', () => {
      expect(head(['host', 'API.Example.com.:8080']).host).toBe('api.example.com')
      expect(head(['host', '[::1]:8080']).host).toBe('[::1]')
    })
    it('refuses two Host headers (RFC 9112 §3.2)', () => {
      expect(head(['host', 'a'], ['host', 'b']).invalid).toBe(REJECT_HEAD.duplicateHost)
    })
    it('refuses a Host with characters no host has', () => {
      expect(head(['host', 'a b']).invalid).toBe(REJECT_HEAD.badHost)
      expect(head(['host', 'a/b']).invalid).toBe(REJECT_HEAD.badHost)
    })
  })

  describe('Expect', () => {
    it('notes 100-continue', () => {
      expect(head(['expect', '100-Continue']).expectContinue).toBe(true)
    })
    it('answers any other expectation with 417', () => {
      expect(head(['expect', 'something-else']).invalid).toBe(REJECT_HEAD.expectationFailed)
    })
  })

  describe('X-Request-Id', () => {
    it('propagates a well-formed id', () => {
      expect(head(['x-request-id', 'abc-123_DEF.4']).requestId).toBe('abc-123_DEF.4')
    })
    it.each(['has space', 'a"b', 'x'.repeat(129), '<script>'])(
      'replaces %j with a fresh one',
      (id) => {
        const requestId = head(['x-request-id', id]).requestId
        expect(requestId).not.toBe(id)
        expect(requestId).toMatch(/^[0-9a-f-]{36}$/)
      },
    )
  })

  it('counts header bytes for the 431 limit', () => {
    expect(head(['a', 'bc'], ['host', 'x']).headerBytes).toBe(1 + 2 + 4 + 4 + 1 + 4)
  })
})
