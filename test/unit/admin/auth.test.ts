import { describe, expect, it } from 'vitest'
import { AdminAuth, adminTokenDigest } from '../../../src/admin/auth.js'

describe('admin bearer tokens', () => {
  const auth = new AdminAuth([adminTokenDigest('first-token'), adminTokenDigest('second-token')])

  it('accepts every configured token and names it by its digest prefix, never the token', () => {
    const first = auth.authenticate('Bearer first-token')
    const second = auth.authenticate('bearer  second-token')
    expect(first).toBe(`sha256:${adminTokenDigest('first-token').slice(0, 12)}`)
    expect(second).toBe(`sha256:${adminTokenDigest('second-token').slice(0, 12)}`)
    expect(first).not.toContain('first-token')
  })

  it('refuses a missing, unknown, malformed or non-Bearer credential', () => {
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer other-token',
      'Bearer first-token extra',
      'Basic Zmlyc3QtdG9rZW4=',
      `Bearer ${adminTokenDigest('first-token')}`,
      'first-token',
    ]) {
      expect(auth.authenticate(header), String(header)).toBeNull()
    }
  })

  it('refuses everything with no token configured', () => {
    expect(new AdminAuth([]).authenticate('Bearer first-token')).toBeNull()
  })
})
