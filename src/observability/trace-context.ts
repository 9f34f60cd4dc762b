/**
 * W3C Trace Context for the gateway's hop: a valid incoming `traceparent` is continued (same
 * trace id, the client's span as parent, a new span id for the gateway), an absent or invalid
 * one starts a new trace; the upstream receives the gateway's `traceparent` and, when the
 * incoming one was valid, the client's `tracestate` unchanged.
 *
 * With `tracing:` configured (runtime.tracer), a new trace is sampled by the tracer's ratio, and
 * a sampled exchange gets a second span id, its upstream call's, which the upstream receives as
 * its parent: the spans exported at the exchange's end (tracing/otlp.ts) carry these ids.
 *
 * Computed on first use (the upstream request head, the access log, the exchange's end when
 * tracing), not for every request.
 * Ids come from a batch of CSPRNG bytes formatted as hex at once, like request ids
 * (front/request-id.ts): one randomFillSync per batch, never one per request.
 *
 * @see https://www.w3.org/TR/trace-context/
 */
import { randomFillSync } from 'node:crypto'
import type { Exchange } from '../gateway/exchange.js'

const BATCH = 256
const HEX = Buffer.from('0123456789abcdef', 'latin1')

/** Lowercase hex ids of `bytes` random bytes, never all zero (an all-zero id is invalid, §3.2.2.3). */
export class HexIds {
  readonly #bytes: number
  readonly #random: Buffer
  readonly #text: Buffer
  #batch = ''
  #next = BATCH

  constructor(bytes: number) {
    this.#bytes = bytes
    this.#random = Buffer.allocUnsafeSlow(bytes * BATCH)
    this.#text = Buffer.allocUnsafeSlow(bytes * 2 * BATCH)
  }

  next(): string {
    if (this.#next === BATCH) this.#refill()
    const width = this.#bytes * 2
    const at = this.#next++ * width
    return this.#batch.slice(at, at + width)
  }

  #refill(): void {
    const random = this.#random
    const text = this.#text
    randomFillSync(random)
    const bytes = this.#bytes
    for (let id = 0; id < BATCH; id++) {
      const r = id * bytes
      // One bit set keeps an id of all-zero bytes from ever being issued.
      if (random.readUInt32BE(r) === 0) random[r + bytes - 1] = 1
      let at = r * 2
      for (let b = 0; b < bytes; b++) {
        const byte = random[r + b]!
        text[at++] = HEX[byte >> 4]!
        text[at++] = HEX[byte & 0x0f]!
      }
    }
    this.#batch = text.toString('latin1')
    this.#next = 0
  }
}

/** The process's id sources: trace ids (16 bytes) and span ids (8 bytes). */
const traceIds = new HexIds(16)
const spanIds = new HexIds(8)

/** traceparent version 00: `00-<32 hex>-<16 hex>-<2 hex>` (§3.2). */
const VERSION_00_LENGTH = 55

/**
 * Fills the exchange's trace fields once: traceId, spanId (the gateway's), parentSpanId ('' for a
 * new trace), traceSampled, upstreamSpanId (sampled under tracing) and the `traceparent` to send
 * upstream.
 */
export function traceOf(exchange: Exchange): string {
  if (exchange.traceparent !== '') return exchange.traceparent
  let incoming: string | undefined
  let state = ''
  let lines = 0
  const headers = exchange.headers
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!
    if (name === 'traceparent') {
      incoming = headers[i + 1]
      lines++
    } else if (name === 'tracestate') {
      // Several tracestate lines are one list (RFC 9110 §5.3, §3.3.1 of the spec).
      state = state === '' ? headers[i + 1]! : `${state},${headers[i + 1]!}`
    }
  }
  // Two traceparent lines cannot both be the parent: treated as invalid (§3.2).
  let sampled = false
  if (lines === 1 && isValidTraceparent(incoming!)) {
    exchange.traceId = incoming!.slice(3, 35)
    exchange.parentSpanId = incoming!.slice(36, 52)
    // Only the sampled bit is defined; a receiver keeps it and sends the other bits as 0 (§3.2.2.5).
    sampled = (parseInt(incoming!.slice(53, 55), 16) & 1) === 1
    exchange.traceState = state
  } else {
    // A new trace: a tracestate without its traceparent means nothing (§3.3.1).
    exchange.traceId = traceIds.next()
    exchange.parentSpanId = ''
    exchange.traceState = ''
  }
  exchange.spanId = spanIds.next()
  let parent = exchange.spanId
  const tracer = exchange.runtime.tracer
  if (tracer !== null) {
    // Parent-based: a continued trace keeps its caller's decision, a new one takes the ratio.
    if (exchange.parentSpanId === '') sampled = tracer.sampleNew(exchange.traceId)
    // An exported trace has a client span for the upstream call: the upstream's parent.
    if (sampled) parent = exchange.upstreamSpanId = spanIds.next()
  }
  exchange.traceSampled = sampled
  exchange.traceparent = `00-${exchange.traceId}-${parent}-${sampled ? '01' : '00'}`
  return exchange.traceparent
}

/**
 * §3.2 and §4.3: version 00 is exactly 55 characters; a later version (not ff) is read by the
 * version 00 rules and may go on after a `-`. Lowercase hex only; all-zero ids are invalid.
 */
export function isValidTraceparent(value: string): boolean {
  if (value.length < VERSION_00_LENGTH) return false
  if (!isLowerHex(value, 0, 2)) return false
  const version = value.slice(0, 2)
  if (version === 'ff') return false
  if (
    version === '00'
      ? value.length !== VERSION_00_LENGTH
      : value.length > VERSION_00_LENGTH && value.charCodeAt(VERSION_00_LENGTH) !== 45
  ) {
    return false
  }
  if (value.charCodeAt(2) !== 45 || value.charCodeAt(35) !== 45 || value.charCodeAt(52) !== 45) {
    return false
  }
  return (
    isLowerHex(value, 3, 35) &&
    !isZero(value, 3, 35) &&
    isLowerHex(value, 36, 52) &&
    !isZero(value, 36, 52) &&
    isLowerHex(value, 53, 55)
  )
}

function isLowerHex(value: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = value.charCodeAt(i)
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false
  }
  return true
}

function isZero(value: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (value.charCodeAt(i) !== 48) return false
  return true
}
