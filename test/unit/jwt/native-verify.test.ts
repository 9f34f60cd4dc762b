import {
  constants,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  privateEncrypt,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto'
import { describe, expect, it } from 'vitest'

import { tokenCacheKey } from '../../../src/jwt/cache.js'
import {
  NATIVE_SHA256,
  NATIVE_SHA384,
  NATIVE_SHA512,
  describeVerifier,
  nativeVerifier,
  type NativeKey,
  type NativeVerifier,
} from '../../../src/jwt/native-verify.js'

// CI builds src/native with npm ci; a missing build is a failure here, not a skip.
const maybeNative = nativeVerifier()
if (maybeNative === null) throw new Error(`native verifier missing: ${describeVerifier()}`)
const native: NativeVerifier = maybeNative

const HASHES = [
  { id: NATIVE_SHA256, name: 'sha256', bytes: 32 },
  { id: NATIVE_SHA384, name: 'sha384', bytes: 48 },
  { id: NATIVE_SHA512, name: 'sha512', bytes: 64 },
] as const

const RSA_2048 = generateKeyPairSync('rsa', { modulusLength: 2048 })
const RSA_4096 = generateKeyPairSync('rsa', { modulusLength: 4096 })
const CURVES = [
  { name: 'P-256', hash: HASHES[0], keys: generateKeyPairSync('ec', { namedCurve: 'P-256' }) },
  { name: 'P-384', hash: HASHES[1], keys: generateKeyPairSync('ec', { namedCurve: 'P-384' }) },
  { name: 'P-521', hash: HASHES[2], keys: generateKeyPairSync('ec', { namedCurve: 'P-521' }) },
]

function imported(key: KeyObject): NativeKey {
  const handle = native.importKey(key.export({ type: 'spki', format: 'der' }))
  if (handle === undefined) throw new Error('key refused')
  return handle
}

/** A JWS-like signing input: base64url segments and a dot. */
function signingInput(bytes = 300): string {
  return `${randomBytes(24).toString('base64url')}.${randomBytes(bytes).toString('base64url')}`
}

function flipped(signature: Uint8Array, index: number): Buffer {
  const copy = Buffer.from(signature)
  copy[index]! ^= 0x01
  return copy
}

describe('the native verifier', () => {
  it('is the one this process runs, and names OpenSSL', () => {
    expect(describeVerifier()).toMatch(/^native \(OpenSSL 3\./)
  })

  describe('RSASSA-PKCS1-v1_5 (RS256, RS384, RS512)', () => {
    for (const [bits, keys] of [
      [2048, RSA_2048],
      [4096, RSA_4096],
    ] as const) {
      for (const hash of HASHES) {
        it(`agrees with node:crypto on valid and altered ${bits}-bit ${hash.name} signatures`, () => {
          const key = imported(keys.publicKey)
          for (let i = 0; i < 8; i++) {
            const input = signingInput(50 + i * 97)
            const signature = sign(hash.name, Buffer.from(input), keys.privateKey)
            expect(native.verifyRsa(key, hash.id, input, signature)).toBe(true)
            const altered = flipped(signature, (i * 37) % signature.length)
            expect(verify(hash.name, Buffer.from(input), keys.publicKey, altered)).toBe(false)
            expect(native.verifyRsa(key, hash.id, input, altered)).toBe(false)
            expect(native.verifyRsa(key, hash.id, `${input}x`, signature)).toBe(false)
          }
        })
      }
    }

    it('refuses a signature made with another hash than the one checked', () => {
      const key = imported(RSA_2048.publicKey)
      const input = signingInput()
      const sha384 = sign('sha384', Buffer.from(input), RSA_2048.privateKey)
      expect(native.verifyRsa(key, NATIVE_SHA256, input, sha384)).toBe(false)
      expect(native.verifyRsa(key, NATIVE_SHA512, input, sha384)).toBe(false)
      expect(native.verifyRsa(key, NATIVE_SHA384, input, sha384)).toBe(true)
    })

    it('refuses signatures that are not exactly the modulus length, or not below the modulus', () => {
      const key = imported(RSA_2048.publicKey)
      const input = signingInput()
      const signature = sign('sha256', Buffer.from(input), RSA_2048.privateKey)
      expect(native.verifyRsa(key, NATIVE_SHA256, input, signature.subarray(1))).toBe(false)
      expect(
        native.verifyRsa(key, NATIVE_SHA256, input, Buffer.concat([Buffer.alloc(1), signature])),
      ).toBe(false)
      expect(native.verifyRsa(key, NATIVE_SHA256, input, Buffer.alloc(256, 0xff))).toBe(false)
      expect(native.verifyRsa(key, NATIVE_SHA256, input, Buffer.alloc(256))).toBe(false)
    })

    it('refuses a DigestInfo without its NULL parameters, and trailing bytes after the digest, as node:crypto does', () => {
      const key = imported(RSA_2048.publicKey)
      const input = signingInput()
      const digest = createHash('sha256').update(input).digest()
      // SEQUENCE { SEQUENCE { OID sha256 } OCTET STRING digest }: the NULL left out.
      const noNull = Buffer.concat([
        Buffer.from('302f300b0609608648016503040201', 'hex'),
        Buffer.from('0420', 'hex'),
        digest,
      ])
      // The right DigestInfo followed by a byte more.
      const trailing = Buffer.concat([
        Buffer.from('3031300d060960864801650304020105000420', 'hex'),
        digest,
        Buffer.from([0]),
      ])
      for (const encoded of [noNull, trailing]) {
        const signature = privateEncrypt(
          { key: RSA_2048.privateKey, padding: constants.RSA_PKCS1_PADDING },
          encoded,
        )
        expect(verify('sha256', Buffer.from(input), RSA_2048.publicKey, signature)).toBe(false)
        expect(native.verifyRsa(key, NATIVE_SHA256, input, signature)).toBe(false)
      }
    })

    it('hashes the UTF-8 bytes of a signing input, as node:crypto does, never a lossy reading', () => {
      const key = imported(RSA_2048.publicKey)
      // Not base64url (parseToken refuses such input first): the check must still agree.
      const input = `${signingInput()}é€Ł`
      const signature = sign('sha256', Buffer.from(input), RSA_2048.privateKey)
      expect(native.verifyRsa(key, NATIVE_SHA256, input, signature)).toBe(true)
      // U+0141 read as one byte would be 0x41, "A".
      const lossy = sign(
        'sha256',
        Buffer.from(input.replace('Ł', 'A'), 'latin1'),
        RSA_2048.privateKey,
      )
      expect(native.verifyRsa(key, NATIVE_SHA256, input, lossy)).toBe(false)
    })

    it('hashes signing inputs longer than its stack copy', () => {
      const key = imported(RSA_2048.publicKey)
      const input = signingInput(40_000)
      const signature = sign('sha256', Buffer.from(input), RSA_2048.privateKey)
      expect(native.verifyRsa(key, NATIVE_SHA256, input, signature)).toBe(true)
      expect(native.verifyRsa(key, NATIVE_SHA256, input.slice(0, -1), signature)).toBe(false)
    })
  })

  describe('ECDSA with R || S (ES256, ES384, ES512)', () => {
    for (const curve of CURVES) {
      it(`agrees with node:crypto on valid and altered ${curve.name} signatures`, () => {
        const key = imported(curve.keys.publicKey)
        for (let i = 0; i < 8; i++) {
          const input = signingInput(50 + i * 97)
          const signature = sign(curve.hash.name, Buffer.from(input), {
            key: curve.keys.privateKey,
            dsaEncoding: 'ieee-p1363',
          })
          expect(native.verifyEcdsa(key, curve.hash.id, input, signature)).toBe(true)
          const altered = flipped(signature, (i * 29) % signature.length)
          const nodeSays = verify(
            curve.hash.name,
            Buffer.from(input),
            { key: curve.keys.publicKey, dsaEncoding: 'ieee-p1363' },
            altered,
          )
          expect(nodeSays).toBe(false)
          expect(native.verifyEcdsa(key, curve.hash.id, input, altered)).toBe(false)
          expect(native.verifyEcdsa(key, curve.hash.id, `${input}x`, signature)).toBe(false)
        }
      })
    }

    it('refuses R or S of zero, and signatures not twice the order length', () => {
      const curve = CURVES[0]!
      const key = imported(curve.keys.publicKey)
      const input = signingInput()
      const signature = sign('sha256', Buffer.from(input), {
        key: curve.keys.privateKey,
        dsaEncoding: 'ieee-p1363',
      })
      const zeroR = Buffer.concat([Buffer.alloc(32), signature.subarray(32)])
      const zeroS = Buffer.concat([signature.subarray(0, 32), Buffer.alloc(32)])
      for (const bad of [
        zeroR,
        zeroS,
        Buffer.alloc(64),
        Buffer.alloc(64, 0xff),
        signature.subarray(1),
      ]) {
        expect(native.verifyEcdsa(key, NATIVE_SHA256, input, bad)).toBe(false)
      }
      expect(
        native.verifyEcdsa(key, NATIVE_SHA256, input, Buffer.concat([signature, Buffer.alloc(1)])),
      ).toBe(false)
    })
  })

  it('refuses random signatures of the right length, as node:crypto does', () => {
    const rsa = imported(RSA_2048.publicKey)
    const p256 = CURVES[0]!
    const ec = imported(p256.keys.publicKey)
    const input = signingInput()
    for (let i = 0; i < 200; i++) {
      const rsaSignature = randomBytes(256)
      const ecSignature = randomBytes(64)
      expect(verify('sha256', Buffer.from(input), RSA_2048.publicKey, rsaSignature)).toBe(false)
      expect(native.verifyRsa(rsa, NATIVE_SHA256, input, rsaSignature)).toBe(false)
      const ecKey = { key: p256.keys.publicKey, dsaEncoding: 'ieee-p1363' } as const
      expect(verify('sha256', Buffer.from(input), ecKey, ecSignature)).toBe(false)
      expect(native.verifyEcdsa(ec, NATIVE_SHA256, input, ecSignature)).toBe(false)
    }
  })

  describe('with keys and arguments it must refuse', () => {
    it('imports only RSA and EC public keys, from exact SPKI DER', () => {
      const der = RSA_2048.publicKey.export({ type: 'spki', format: 'der' })
      expect(native.importKey(der)).toBeDefined()
      expect(native.importKey(Buffer.concat([der, Buffer.alloc(1)]))).toBeUndefined()
      expect(native.importKey(der.subarray(0, der.length - 1))).toBeUndefined()
      expect(native.importKey(randomBytes(300))).toBeUndefined()
      const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' })
      expect(native.importKey(ed)).toBeUndefined()
    })

    it('answers false for a key of the other family, a foreign object or a bad hash id', () => {
      const rsa = imported(RSA_2048.publicKey)
      const ec = imported(CURVES[0]!.keys.publicKey)
      const input = signingInput()
      const rsaSignature = sign('sha256', Buffer.from(input), RSA_2048.privateKey)
      const ecSignature = sign('sha256', Buffer.from(input), {
        key: CURVES[0]!.keys.privateKey,
        dsaEncoding: 'ieee-p1363',
      })
      expect(native.verifyEcdsa(rsa, NATIVE_SHA256, input, ecSignature)).toBe(false)
      expect(native.verifyRsa(ec, NATIVE_SHA256, input, rsaSignature)).toBe(false)
      const foreign = {} as NativeKey
      expect(native.verifyRsa(foreign, NATIVE_SHA256, input, rsaSignature)).toBe(false)
      expect(native.verifyRsa(rsa, 7, input, rsaSignature)).toBe(false)
      expect(
        native.verifyRsa(rsa, NATIVE_SHA256, input, [...rsaSignature] as unknown as Uint8Array),
      ).toBe(false)
      expect(native.verifyRsa(rsa, NATIVE_SHA256, input, rsaSignature)).toBe(true)
    })

    it('leaves no OpenSSL error behind for node:crypto to trip on', () => {
      const key = imported(RSA_2048.publicKey)
      const input = signingInput()
      expect(native.verifyRsa(key, NATIVE_SHA256, input, Buffer.alloc(256, 0xff))).toBe(false)
      // node:crypto right after a refusal still works and answers truly.
      const signature = sign('sha256', Buffer.from(input), RSA_2048.privateKey)
      expect(verify('sha256', Buffer.from(input), RSA_2048.publicKey, signature)).toBe(true)
      // node reports the first error on OpenSSL's queue: a refusal left there ("data too large
      // for modulus", an ECDSA range error) would be what node's next failure names.
      const ec = imported(CURVES[0]!.keys.publicKey)
      expect(native.verifyEcdsa(ec, NATIVE_SHA256, input, Buffer.alloc(64))).toBe(false)
      expect(native.verifyRsa(key, NATIVE_SHA256, input, Buffer.alloc(256, 0xff))).toBe(false)
      expect(() =>
        createPublicKey('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'),
      ).toThrow(expect.objectContaining({ code: 'ERR_OSSL_ASN1_WRONG_TAG' }))
    })

    it('hashes inputs around the end of its stack copy whole, multibyte characters too', () => {
      const key = imported(RSA_2048.publicKey)
      for (let length = 8185; length < 8196; length++) {
        for (const tail of ['', 'é', '€', '😀']) {
          const input = 'a'.repeat(length - tail.length) + tail
          const signature = sign('sha256', Buffer.from(input), RSA_2048.privateKey)
          expect(native.verifyRsa(key, NATIVE_SHA256, input, signature)).toBe(true)
          expect(native.verifyRsa(key, NATIVE_SHA256, `${input}a`, signature)).toBe(false)
        }
      }
    })
  })
})

describe('the token cache key', () => {
  const nodeKey = (token: string) => createHash('sha256').update(token, 'utf8').digest('base64url')

  it('is the SHA-256 of the token’s UTF-8 bytes, base64url, as node:crypto computes it', () => {
    const tokens = [
      '',
      'a',
      signingInput(10),
      `${signingInput(400)}.${randomBytes(256).toString('base64url')}`,
      'é€😀\u0000\u00ff',
      // A lone surrogate is U+FFFD in UTF-8, for node:crypto too.
      'a\ud800b',
    ]
    for (const token of tokens) {
      expect(native.tokenKey(token)).toBe(nodeKey(token))
      expect(tokenCacheKey(token)).toBe(nodeKey(token))
    }
  })

  it('keys tokens longer than its stack copy, multibyte characters at the edge too', () => {
    for (let length = 8185; length < 8196; length++) {
      for (const tail of ['', 'é', '😀']) {
        const token = 'a'.repeat(length - tail.length) + tail
        expect(native.tokenKey(token)).toBe(nodeKey(token))
      }
    }
    const huge = signingInput(100_000)
    expect(native.tokenKey(huge)).toBe(nodeKey(huge))
  })

  it('never reads a token lossily: tokens that differ only above 0xFF get different keys', () => {
    // A one-byte reading would turn U+0141 into 0x41 ("A") and hand the forgery a valid token's key.
    const valid = `${signingInput(20)}A`
    const forged = `${valid.slice(0, -1)}\u0141`
    expect(native.tokenKey(forged)).not.toBe(native.tokenKey(valid))
  })

  it('answers undefined for anything but a string', () => {
    const loose = native as unknown as { tokenKey(value: unknown): unknown }
    expect(loose.tokenKey(42)).toBeUndefined()
    expect(loose.tokenKey(undefined)).toBeUndefined()
    expect(loose.tokenKey(Buffer.from('a'))).toBeUndefined()
  })
})
