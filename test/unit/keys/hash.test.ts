import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { generateApiKey } from '../../../src/keys/format.js'
import { isKeyHash, KeyHasher } from '../../../src/keys/hash.js'

const KEY = 'pc_live_0123456789abcdefghijABCDEFGHIJ_000000'
const PEPPER = 'p'.repeat(32)

describe('KeyHasher', () => {
  it('without a pepper: base64url of SHA-256 of the key', () => {
    expect(new KeyHasher(null).hash(KEY)).toBe(createHash('sha256').update(KEY).digest('base64url'))
  })

  it('with a pepper: base64url of SHA-256 of the pepper followed by the key', () => {
    expect(new KeyHasher(PEPPER).hash(KEY)).toBe(
      createHash('sha256').update(PEPPER).update(KEY).digest('base64url'),
    )
  })

  it('gives different hashes with and without a pepper, and for two peppers', () => {
    const plain = new KeyHasher(null).hash(KEY)
    const peppered = new KeyHasher(PEPPER).hash(KEY)
    expect(peppered).not.toBe(plain)
    expect(new KeyHasher('q'.repeat(32)).hash(KEY)).not.toBe(peppered)
  })

  it('produces the shape the config accepts', () => {
    for (const hasher of [new KeyHasher(null), new KeyHasher(PEPPER)]) {
      const hash = hasher.hash(generateApiKey('pc_live'))
      expect(hash).toHaveLength(43)
      expect(isKeyHash(hash)).toBe(true)
    }
    expect(isKeyHash('a'.repeat(42))).toBe(false)
    expect(isKeyHash(`${'a'.repeat(42)}=`)).toBe(false)
    expect(isKeyHash(`${'a'.repeat(42)}+`)).toBe(false)
  })

  it('says whether it is peppered', () => {
    expect(new KeyHasher(null).peppered).toBe(false)
    expect(new KeyHasher(PEPPER).peppered).toBe(true)
  })
})
