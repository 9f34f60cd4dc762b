/**
 * The MAC over padded keys (src/hmac/mac.ts) against node:crypto's createHmac: keys shorter
 * than, as long as and longer than the hash block (RFC 2104 §2 hashes those first), bases of
 * every size (a long one grows the buffer) and outside ASCII, and keys taking turns.
 */
import { createHmac, createSecretKey } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { HmacKey } from '../../../src/hmac/keys.js'
import { SignatureMac } from '../../../src/hmac/mac.js'

function key(secret: Buffer): HmacKey {
  return {
    id: 'k',
    consumer: 'c',
    algorithm: 'hmac-sha256',
    secret: createSecretKey(secret),
    scopes: new Set(),
    identity: null,
    expiresAt: Infinity,
  }
}

function secretOf(length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 131 + length) & 255))
}

describe('SignatureMac', () => {
  it('equals createHmac for keys around the block length and bases of every size', () => {
    const mac = new SignatureMac()
    for (const length of [1, 32, 63, 64, 65, 128, 200]) {
      const secret = secretOf(length)
      const k = key(secret)
      for (const size of [0, 1, 55, 56, 64, 200, 1100, 5000, 20_000, 3]) {
        const base = 'b'.repeat(size) + (size % 2 === 0 ? '"@path": /é€' : '')
        const expected = createHmac('sha256', secret).update(base).digest()
        expect(mac.sign(k, base), `key ${length}, base ${size}`).toEqual(expected)
      }
    }
  })

  it('keeps each key’s MAC apart when keys take turns', () => {
    const mac = new SignatureMac()
    const keys = [secretOf(32), secretOf(40), secretOf(70)].map((secret) => ({
      secret,
      key: key(secret),
    }))
    for (let n = 0; n < 30; n++) {
      const { secret, key: k } = keys[n % 3]!
      const base = `"@query": ?n=${n}`
      expect(mac.sign(k, base)).toEqual(createHmac('sha256', secret).update(base).digest())
    }
  })
})
