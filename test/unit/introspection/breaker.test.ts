import { describe, expect, it } from 'vitest'
import { CircuitBreaker } from '../../../src/introspection/breaker.js'

describe('CircuitBreaker', () => {
  it('lets calls through until failures in a row reach the threshold', () => {
    const breaker = new CircuitBreaker(3, 1000)
    breaker.failed(0)
    breaker.failed(0)
    expect(breaker.allow(0)).toBe(true)
    breaker.failed(0)
    expect(breaker.allow(0)).toBe(false)
    expect(breaker.retryInMs(400)).toBe(600)
  })

  it('forgets failures separated by a success', () => {
    const breaker = new CircuitBreaker(2, 1000)
    breaker.failed(0)
    breaker.succeeded()
    breaker.failed(0)
    expect(breaker.allow(0)).toBe(true)
  })

  describe('once open', () => {
    const opened = () => {
      const breaker = new CircuitBreaker(1, 1000)
      breaker.failed(0)
      return breaker
    }

    it('makes no call during the cooldown', () => {
      const breaker = opened()
      expect(breaker.allow(999)).toBe(false)
    })

    it('lets exactly one probe through after the cooldown', () => {
      const breaker = opened()
      expect(breaker.allow(1000)).toBe(true)
      expect(breaker.allow(1001)).toBe(false)
      expect(breaker.allow(5000)).toBe(false)
    })

    it('closes when the probe succeeds', () => {
      const breaker = opened()
      breaker.allow(1000)
      breaker.succeeded()
      expect(breaker.isOpen).toBe(false)
      expect(breaker.allow(1000)).toBe(true)
      expect(breaker.allow(1000)).toBe(true)
    })

    it('opens for another cooldown when the probe fails', () => {
      const breaker = opened()
      breaker.allow(1000)
      breaker.failed(1000)
      expect(breaker.allow(1999)).toBe(false)
      expect(breaker.allow(2000)).toBe(true)
    })
  })
})
