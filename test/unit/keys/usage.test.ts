import { describe, expect, it } from 'vitest'
import { KeyUsage } from '../../../src/keys/usage.js'

describe('KeyUsage', () => {
  it('counts admitted and refused requests per key with the last use and address', () => {
    let now = 1000
    const usage = new KeyUsage(() => now)
    usage.record('key_a', true, '10.0.0.1')
    now = 2000
    usage.record('key_a', false, '2001:db8::1')
    usage.record('key_b', true, '10.0.0.2')
    expect(Object.fromEntries(usage.drain())).toEqual({
      key_a: { admitted: 1, refused: 1, lastUsedMs: 2000, lastAddress: '2001:db8::1' },
      key_b: { admitted: 1, refused: 0, lastUsedMs: 2000, lastAddress: '10.0.0.2' },
    })
  })

  it('starts from zero after a drain', () => {
    const usage = new KeyUsage(() => 5)
    usage.record('key_a', true, '10.0.0.1')
    usage.drain()
    expect(usage.size).toBe(0)
    expect(usage.drain().size).toBe(0)
    usage.record('key_a', true, '10.0.0.1')
    expect(usage.drain().get('key_a')?.admitted).toBe(1)
  })

  it('reuses one count per key between drains', () => {
    const usage = new KeyUsage(() => 5)
    for (let i = 0; i < 100; i++) usage.record('key_a', i % 2 === 0, '10.0.0.1')
    expect(usage.size).toBe(1)
    expect(usage.drain().get('key_a')).toMatchObject({ admitted: 50, refused: 50 })
  })
})
