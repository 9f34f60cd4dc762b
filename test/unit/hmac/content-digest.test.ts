/** RFC 9530 Content-Digest against the body the gateway received. */
import { describe, expect, it } from 'vitest'
import { checkContentDigest, contentDigest } from '../../../src/hmac/content-digest.js'

const BODY = Buffer.from('{"hello": "world"}')

describe('checkContentDigest', () => {
  it('admits sha-256 and sha-512 digests of the body (RFC 9530 Appendix B)', () => {
    expect(
      checkContentDigest('sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:', BODY),
    ).toBeNull()
    expect(checkContentDigest(contentDigest(BODY, 'sha-512'), BODY)).toBeNull()
  })

  it('requires every known algorithm listed to match, ignoring unknown ones', () => {
    const both = `${contentDigest(BODY, 'sha-256')}, ${contentDigest('other', 'sha-512')}`
    expect(checkContentDigest(both, BODY)).toBe('digest_mismatch')
    expect(checkContentDigest(`md5=:AAAA:, ${contentDigest(BODY, 'sha-256')}`, BODY)).toBeNull()
  })

  it('refuses a digest of other bytes', () => {
    expect(checkContentDigest(contentDigest('{"hello": "World"}', 'sha-256'), BODY)).toBe(
      'digest_mismatch',
    )
  })

  it('refuses a field with no algorithm it knows, or that is not a dictionary of byte sequences', () => {
    expect(checkContentDigest('md5=:AAAA:', BODY)).toBe('digest_unsupported')
    expect(checkContentDigest('sha-256="abc"', BODY)).toBe('digest_malformed')
    expect(checkContentDigest('sha-256=:abc', BODY)).toBe('digest_malformed')
  })
})
