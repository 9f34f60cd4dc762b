import { describe, expect, it } from 'vitest'
import { HexIds, isValidTraceparent, traceOf } from '../../../src/observability/trace-context.js'
import type { RequestTracer } from '../../../src/gateway/exchange.js'
import type { TracingSettings } from '../../../src/observability/tracing/settings.js'
import { FakeExchange } from '../../helpers/exchange.js'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'
const VALID = `00-${TRACE}-${PARENT}-01`

function exchangeWith(...headers: string[]): FakeExchange {
  const exchange = new FakeExchange()
  exchange.headers = headers
  return exchange
}

describe('trace context', () => {
  describe('isValidTraceparent', () => {
    it('accepts version 00 with lowercase hex ids', () => {
      expect(isValidTraceparent(VALID)).toBe(true)
    })

    it.each([
      ['uppercase hex', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
      ['an all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
      ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
      ['a short trace id', `00-${TRACE.slice(1)}-${PARENT}-01`],
      ['a long parent id', `00-${TRACE}-${PARENT}0-01`],
      ['version ff', `ff-${TRACE}-${PARENT}-01`],
      ['trailing data on version 00', `${VALID}-extra`],
      ['a non-hex version', `0x-${TRACE}-${PARENT}-01`],
      ['a wrong separator', `00_${TRACE}-${PARENT}-01`],
      ['non-hex flags', `00-${TRACE}-${PARENT}-0g`],
      ['nothing', ''],
    ])('refuses %s', (_why, value) => {
      expect(isValidTraceparent(value)).toBe(false)
    })

    it('reads a later version by the version 00 rules, with or without more fields (§4.3)', () => {
      expect(isValidTraceparent(`01-${TRACE}-${PARENT}-01`)).toBe(true)
      expect(isValidTraceparent(`cc-${TRACE}-${PARENT}-01-what-the-future-holds`)).toBe(true)
      expect(isValidTraceparent(`cc-${TRACE}-${PARENT}-01x`)).toBe(false)
    })
  })

  describe('traceOf', () => {
    it('continues a valid trace with a new span id for the gateway and keeps tracestate', () => {
      const exchange = exchangeWith('traceparent', VALID, 'tracestate', 'a=1', 'tracestate', 'b=2')
      const sent = traceOf(exchange)
      expect(exchange.traceId).toBe(TRACE)
      expect(exchange.parentSpanId).toBe(PARENT)
      expect(exchange.spanId).toMatch(/^[0-9a-f]{16}$/)
      expect(exchange.spanId).not.toBe(PARENT)
      expect(sent).toBe(`00-${TRACE}-${exchange.spanId}-01`)
      expect(exchange.traceState).toBe('a=1,b=2')
    })

    it('keeps only the sampled flag', () => {
      const exchange = exchangeWith('traceparent', `00-${TRACE}-${PARENT}-fe`)
      expect(traceOf(exchange).endsWith('-00')).toBe(true)
    })

    it('starts a new trace and drops tracestate when traceparent is malformed', () => {
      const exchange = exchangeWith('traceparent', VALID.toUpperCase(), 'tracestate', 'a=1')
      const sent = traceOf(exchange)
      expect(sent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/)
      expect(exchange.traceId).not.toBe(TRACE.toUpperCase())
      expect(exchange.parentSpanId).toBe('')
      expect(exchange.traceState).toBe('')
    })

    it('starts a new trace when two traceparent lines disagree', () => {
      const other = `00-${'1'.repeat(32)}-${PARENT}-01`
      const exchange = exchangeWith('traceparent', VALID, 'traceparent', other)
      traceOf(exchange)
      expect(exchange.traceId).not.toBe(TRACE)
      expect(exchange.parentSpanId).toBe('')
    })

    it('starts a new trace when none is sent, and computes it once', () => {
      const exchange = exchangeWith()
      const sent = traceOf(exchange)
      expect(traceOf(exchange)).toBe(sent)
      expect(exchange.traceId).toMatch(/^[0-9a-f]{32}$/)
    })
  })

  describe('traceOf under tracing', () => {
    /** A tracer whose ratio samples every new trace or none; it records the trace ids asked. */
    function tracer(samplesNew: boolean): RequestTracer & { asked: string[] } {
      const asked: string[] = []
      return {
        asked,
        settings: {} as TracingSettings,
        sampleNew: (traceId) => {
          asked.push(traceId)
          return samplesNew
        },
        record: () => undefined,
        close: () => Promise.resolve(),
      }
    }

    function tracedWith(t: RequestTracer, ...headers: string[]): FakeExchange {
      const exchange = new FakeExchange([], t)
      exchange.headers = headers
      return exchange
    }

    it('samples a new trace by the ratio and names the upstream span as the parent', () => {
      const t = tracer(true)
      const exchange = tracedWith(t)
      const sent = traceOf(exchange)
      expect(t.asked).toEqual([exchange.traceId])
      expect(exchange.traceSampled).toBe(true)
      expect(exchange.upstreamSpanId).toMatch(/^[0-9a-f]{16}$/)
      expect(exchange.upstreamSpanId).not.toBe(exchange.spanId)
      expect(sent).toBe(`00-${exchange.traceId}-${exchange.upstreamSpanId}-01`)
    })

    it('leaves a new trace the ratio does not take unsampled, with the gateway as the parent', () => {
      const exchange = tracedWith(tracer(false))
      expect(traceOf(exchange)).toBe(`00-${exchange.traceId}-${exchange.spanId}-00`)
      expect(exchange.upstreamSpanId).toBe('')
    })

    it("follows a continued trace's sampled flag without asking the ratio", () => {
      const none = tracer(false)
      const sampled = tracedWith(none, 'traceparent', VALID)
      expect(traceOf(sampled)).toBe(`00-${TRACE}-${sampled.upstreamSpanId}-01`)
      const all = tracer(true)
      const unsampled = tracedWith(all, 'traceparent', `00-${TRACE}-${PARENT}-00`)
      expect(traceOf(unsampled)).toBe(`00-${TRACE}-${unsampled.spanId}-00`)
      expect(none.asked).toEqual([])
      expect(all.asked).toEqual([])
    })
  })

  describe('HexIds', () => {
    it('issues distinct lowercase ids of the asked width across batches', () => {
      const ids = new HexIds(8)
      const seen = new Set<string>()
      for (let i = 0; i < 1000; i++) {
        const id = ids.next()
        expect(id).toMatch(/^[0-9a-f]{16}$/)
        expect(id).not.toBe('0'.repeat(16))
        seen.add(id)
      }
      expect(seen.size).toBe(1000)
    })
  })
})
