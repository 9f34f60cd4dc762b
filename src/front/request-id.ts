/**
 * X-Request-Id values for requests that bring none: UUID version 4 (RFC 9562 §5.4) from node's
 * CSPRNG, as crypto.randomUUID makes them, 128 at a time as it does.
 *
 * Why not randomUUID itself: it concatenates each id from 20 pieces, a tree of cons strings that
 * V8 must flatten again when the id is written into the upstream request head
 * (bench/micro/request-head.bench.ts prices a head with either id). Here a batch is formatted
 * as ASCII into one Buffer, read out as one string, and an id is a slice of it (flat for V8: a view
 * of the batch's string, kept alive while the id lives).
 */
import { randomFillSync } from 'node:crypto'

const BATCH = 128
const ID_LENGTH = 36
const HEX = Buffer.from('0123456789abcdef', 'latin1')
const DASH = 0x2d

const random = Buffer.allocUnsafeSlow(16 * BATCH)
const text = Buffer.allocUnsafeSlow(ID_LENGTH * BATCH)
let batch = ''
let next = BATCH

/** A fresh random UUID, lower-case hex with dashes (8-4-4-4-12). */
export function newRequestId(): string {
  if (next === BATCH) refill()
  const at = next++ * ID_LENGTH
  return batch.slice(at, at + ID_LENGTH)
}

function refill(): void {
  randomFillSync(random)
  for (let id = 0; id < BATCH; id++) {
    const r = id * 16
    random[r + 6] = (random[r + 6]! & 0x0f) | 0x40 // version 4
    random[r + 8] = (random[r + 8]! & 0x3f) | 0x80 // variant 10 (RFC 9562 §4.1)
    let at = id * ID_LENGTH
    for (let b = 0; b < 16; b++) {
      if (b === 4 || b === 6 || b === 8 || b === 10) text[at++] = DASH
      const byte = random[r + b]!
      text[at++] = HEX[byte >> 4]!
      text[at++] = HEX[byte & 0x0f]!
    }
  }
  batch = text.toString('latin1')
  next = 0
}
