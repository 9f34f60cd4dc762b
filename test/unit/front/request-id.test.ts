import { describe, expect, it } from 'vitest'
import { newRequestId } from '../../../src/front/request-id.js'

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('request ids', () => {
  it('are random UUIDs, version 4 and variant 10, across several batches of 128', () => {
    const ids = Array.from({ length: 1000 }, () => newRequestId())
    for (const id of ids) expect(id).toMatch(UUID_V4)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('use every hex digit in every free position, so no bit is stuck', () => {
    const ids = Array.from({ length: 2000 }, () => newRequestId())
    for (let position = 0; position < 36; position++) {
      if ([8, 13, 14, 18, 19, 23].includes(position)) continue // dashes, version, variant
      const seen = new Set(ids.map((id) => id[position]))
      expect(seen.size, `position ${position}`).toBe(16)
    }
  })

  it('stay as they were once the batch they came from is refilled', () => {
    const first = newRequestId()
    const copy = `${first}`
    for (let i = 0; i < 300; i++) newRequestId() // refills the batch the first came from
    expect(first).toBe(copy)
  })
})
