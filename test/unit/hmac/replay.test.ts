/** The worker's memory of accepted signatures: replays refused, old ones forgotten, memory bounded. */
import { describe, expect, it } from 'vitest'
import { SignatureMemory } from '../../../src/hmac/replay.js'

describe('SignatureMemory', () => {
  it('refuses a signature it already accepted', () => {
    const memory = new SignatureMemory()
    expect(memory.remember('sig-a', 1300, 1000)).toBe('new')
    expect(memory.remember('sig-a', 1300, 1001)).toBe('replay')
    expect(memory.remember('sig-b', 1300, 1001)).toBe('new')
  })

  it('forgets signatures once their time is past', () => {
    const memory = new SignatureMemory()
    memory.remember('sig-a', 1300, 1000)
    memory.remember('sig-b', 2000, 1000)
    expect(memory.size).toBe(2)
    expect(memory.remember('sig-c', 2000, 1311)).toBe('new')
    expect(memory.size).toBe(2)
  })

  it('accepts nothing new when full, and room comes back as entries expire', () => {
    const memory = new SignatureMemory(2)
    memory.remember('a', 1100, 1000)
    memory.remember('b', 1200, 1000)
    expect(memory.remember('c', 1200, 1000)).toBe('full')
    expect(memory.remember('a', 1100, 1000)).toBe('replay')
    expect(memory.remember('c', 1200, 1111)).toBe('new')
  })
})
