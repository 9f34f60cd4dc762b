import { describe, expect, it } from 'vitest'
import { STAGE_ORDER, stageRank, type StageName } from '../../../src/pipeline/order.js'

function before(a: StageName, b: StageName): boolean {
  return stageRank(a) < stageRank(b)
}

describe('STAGE_ORDER', () => {
  it('is pinned: changing it is a security decision, not a refactor', () => {
    expect(STAGE_ORDER).toEqual([
      'ip-restriction',
      'limits',
      'cors',
      'rate-limit-pre-auth',
      'authenticate',
      'authorize',
      'rate-limit',
      'validate',
      'forward',
    ])
  })

  describe('when stages are ranked', () => {
    it('ranks each stage by its position', () => {
      STAGE_ORDER.forEach((name, i) => expect(stageRank(name)).toBe(i))
    })

    it('answers CORS preflights before authentication', () => {
      expect(before('cors', 'authenticate')).toBe(true)
    })

    it('counts pre_auth limits before credentials are checked, after CORS preflights', () => {
      expect(before('cors', 'rate-limit-pre-auth')).toBe(true)
      expect(before('rate-limit-pre-auth', 'authenticate')).toBe(true)
    })

    it('authorizes only an authenticated caller, and rate-limits only an authorized one', () => {
      expect(before('authenticate', 'authorize')).toBe(true)
      expect(before('authorize', 'rate-limit')).toBe(true)
    })

    it('checks sizes before credentials and validates bodies last', () => {
      expect(before('limits', 'authenticate')).toBe(true)
      expect(before('rate-limit', 'validate')).toBe(true)
      expect(stageRank('forward')).toBe(STAGE_ORDER.length - 1)
    })

    it('ranks an unknown name after every known stage', () => {
      expect(stageRank('no-such-stage' as StageName)).toBe(Number.MAX_SAFE_INTEGER)
    })
  })
})
