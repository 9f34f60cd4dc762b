import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'

import { TokenCache } from '../../../src/jwt/cache.js'

const FAR = Number.MAX_SAFE_INTEGER

describe('TokenCache', () => {
  describe('keyOf', () => {
    it('is the base64url SHA-256 of the token, never the token itself', () => {
      const cache = new TokenCache<boolean>(10)
      const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln'
      const key = cache.keyOf(token)
      expect(key).toBe(createHash('sha256').update(token).digest('base64url'))
      expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(key).not.toContain('eyJ')
      expect(cache.keyOf(`${token}x`)).not.toBe(key)
    })
  })

  describe('get and set', () => {
    it('returns what was stored until it expires', () => {
      const cache = new TokenCache<string>(10)
      cache.set('a', 'one', 1000)
      expect(cache.get('a', 999)).toBe('one')
      expect(cache.get('b', 0)).toBeUndefined()
      expect(cache.size).toBe(1)
    })

    it('drops an entry read at or after its expiry', () => {
      const cache = new TokenCache<string>(10)
      cache.set('a', 'one', 1000)
      expect(cache.get('a', 1000)).toBeUndefined()
      expect(cache.size).toBe(0)
      expect(cache.get('a', 0)).toBeUndefined()
    })

    it('treats a NaN expiry as expired', () => {
      const cache = new TokenCache<string>(10)
      cache.set('a', 'one', Number.NaN)
      expect(cache.get('a', 0)).toBeUndefined()
    })

    it('replaces the value and expiry of a key set again', () => {
      const cache = new TokenCache<string>(2)
      cache.set('a', 'one', 1000)
      cache.set('a', 'two', 5000)
      expect(cache.size).toBe(1)
      expect(cache.get('a', 2000)).toBe('two')
    })

    it('stores and returns falsy values', () => {
      const cache = new TokenCache<boolean | number>(4)
      cache.set('no', false, FAR)
      cache.set('zero', 0, FAR)
      expect(cache.get('no', 0)).toBe(false)
      expect(cache.get('zero', 0)).toBe(0)
    })
  })

  describe('when full', () => {
    it('evicts the least recently used entry', () => {
      const cache = new TokenCache<number>(3)
      cache.set('a', 1, FAR)
      cache.set('b', 2, FAR)
      cache.set('c', 3, FAR)
      expect(cache.get('a', 0)).toBe(1)
      cache.set('d', 4, FAR)
      expect(cache.get('b', 0)).toBeUndefined()
      expect([cache.get('a', 0), cache.get('c', 0), cache.get('d', 0)]).toEqual([1, 3, 4])
      expect(cache.size).toBe(3)
    })

    it('counts a set of an existing key as a use', () => {
      const cache = new TokenCache<number>(2)
      cache.set('a', 1, FAR)
      cache.set('b', 2, FAR)
      cache.set('a', 10, FAR)
      cache.set('c', 3, FAR)
      expect(cache.get('b', 0)).toBeUndefined()
      expect(cache.get('a', 0)).toBe(10)
    })

    it('reuses the slot of an expired entry before evicting a live one', () => {
      const cache = new TokenCache<number>(2)
      cache.set('short', 1, 10)
      cache.set('long', 2, FAR)
      expect(cache.get('short', 20)).toBeUndefined()
      cache.set('new', 3, FAR)
      expect(cache.get('long', 20)).toBe(2)
      expect(cache.get('new', 20)).toBe(3)
    })

    it('holds one entry with capacity 1', () => {
      const cache = new TokenCache<number>(1)
      cache.set('a', 1, FAR)
      cache.set('b', 2, FAR)
      expect(cache.get('a', 0)).toBeUndefined()
      expect(cache.get('b', 0)).toBe(2)
      expect(cache.size).toBe(1)
    })
  })

  describe('with capacity 0', () => {
    it('stores nothing', () => {
      const cache = new TokenCache<number>(0)
      cache.set('a', 1, FAR)
      expect(cache.get('a', 0)).toBeUndefined()
      expect(cache.size).toBe(0)
    })
  })

  it('refuses a negative or fractional capacity', () => {
    expect(() => new TokenCache(-1)).toThrow(RangeError)
    expect(() => new TokenCache(1.5)).toThrow(RangeError)
  })

  it('forgets everything on clear and fills up again', () => {
    const cache = new TokenCache<number>(2)
    cache.set('a', 1, FAR)
    cache.set('b', 2, FAR)
    cache.clear()
    expect(cache.size).toBe(0)
    expect(cache.get('a', 0)).toBeUndefined()
    cache.set('c', 3, FAR)
    cache.set('d', 4, FAR)
    cache.set('e', 5, FAR)
    expect([cache.get('c', 0), cache.get('d', 0), cache.get('e', 0)]).toEqual([undefined, 4, 5])
  })

  it('behaves like a reference LRU over thousands of random operations', () => {
    const capacity = 8
    const cache = new TokenCache<number>(capacity)
    const model = new ReferenceLru(capacity)
    let seed = 12345
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return (seed >>> 8) % n
    }
    let now = 0
    for (let i = 0; i < 20_000; i++) {
      const key = `k${random(20)}`
      now += random(3)
      if (random(3) === 0) {
        const expires = now + 1 + random(40)
        cache.set(key, i, expires)
        model.set(key, i, expires)
      } else {
        expect(cache.get(key, now)).toBe(model.get(key, now))
      }
      expect(cache.size).toBe(model.size)
    }
  })
})

/** The obvious LRU: an array ordered from least to most recently used. */
class ReferenceLru {
  readonly #capacity: number
  #entries: { key: string; value: number; expires: number }[] = []

  constructor(capacity: number) {
    this.#capacity = capacity
  }

  get size(): number {
    return this.#entries.length
  }

  get(key: string, now: number): number | undefined {
    const at = this.#entries.findIndex((e) => e.key === key)
    if (at < 0) return undefined
    const [entry] = this.#entries.splice(at, 1)
    if (!(entry!.expires > now)) {
      // An expired entry is dropped and its place is the first to be reused: in the model,
      // nothing to do but forget it.
      return undefined
    }
    this.#entries.push(entry!)
    return entry!.value
  }

  set(key: string, value: number, expires: number): void {
    const at = this.#entries.findIndex((e) => e.key === key)
    if (at >= 0) this.#entries.splice(at, 1)
    else if (this.#entries.length >= this.#capacity) this.#entries.shift()
    this.#entries.push({ key, value, expires })
  }
}
