import {
  constants,
  createHmac,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto'
import { SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'

import { parseToken, type ParsedToken } from '../../../src/jwt/compact.js'
import { describeVerifier } from '../../../src/jwt/native-verify.js'
import { verifySignature } from '../../../src/jwt/signature.js'
import type { JwsAlgorithm } from '../../../src/jwt/types.js'

interface KeyPair {
  readonly signWith: KeyObject
  readonly verifyWith: KeyObject
}

const RSA = generateKeyPairSync('rsa', { modulusLength: 2048 })
const P256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const P384 = generateKeyPairSync('ec', { namedCurve: 'P-384' })
const P521 = generateKeyPairSync('ec', { namedCurve: 'P-521' })
const ED25519 = generateKeyPairSync('ed25519')
const ED448 = generateKeyPairSync('ed448')
const SECRET = createSecretKey(randomBytes(64))

const pair = (keys: { publicKey: KeyObject; privateKey: KeyObject }): KeyPair => ({
  signWith: keys.privateKey,
  verifyWith: keys.publicKey,
})

const KEYS: Record<JwsAlgorithm, KeyPair> = {
  RS256: pair(RSA),
  RS384: pair(RSA),
  RS512: pair(RSA),
  PS256: pair(RSA),
  PS384: pair(RSA),
  PS512: pair(RSA),
  ES256: pair(P256),
  ES384: pair(P384),
  ES512: pair(P521),
  EdDSA: pair(ED25519),
  HS256: { signWith: SECRET, verifyWith: SECRET },
  HS384: { signWith: SECRET, verifyWith: SECRET },
  HS512: { signWith: SECRET, verifyWith: SECRET },
}
const ALGORITHMS = Object.keys(KEYS) as JwsAlgorithm[]

const CLAIMS = { iss: 'https://issuer.example', sub: 'alice', aud: 'api', exp: 2_000_000_000 }

/** A real token from jose, the reference implementation. */
function mint(alg: JwsAlgorithm, signWith: KeyObject = KEYS[alg].signWith): Promise<string> {
  return new SignJWT(CLAIMS).setProtectedHeader({ alg, kid: 'k1' }).sign(signWith)
}

/** A token signed by hand, for what jose refuses to make. */
function handMade(header: object, sign: (input: Buffer) => Buffer): string {
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(CLAIMS))}`
  return `${input}.${sign(Buffer.from(input)).toString('base64url')}`
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64url')
}

function parsed(token: string): ParsedToken {
  const result = parseToken(token, 16_384)
  if (typeof result === 'string') throw new Error(`test token refused: ${result}`)
  return result
}

function check(alg: JwsAlgorithm, key: KeyObject, token: string): boolean {
  const { signingInput, signature } = parsed(token)
  return verifySignature(alg, key, signingInput, signature)
}

describe('verifySignature', () => {
  it('runs on the verifier this process chose (signature-node-crypto.test.ts runs node:crypto)', () => {
    const chosen = process.env['PORTCULLIS_VERIFIER'] === 'node' ? /^node:crypto/ : /^native/
    expect(describeVerifier()).toMatch(chosen)
  })

  describe('with a token minted by jose', () => {
    it.each(ALGORITHMS)('accepts a valid %s signature', async (alg) => {
      expect(check(alg, KEYS[alg].verifyWith, await mint(alg))).toBe(true)
    })

    it.each(ALGORITHMS)('refuses a %s token whose payload was changed', async (alg) => {
      const [header, , signature] = (await mint(alg)).split('.')
      const forged = b64(JSON.stringify({ ...CLAIMS, sub: 'admin' }))
      expect(check(alg, KEYS[alg].verifyWith, `${header}.${forged}.${signature}`)).toBe(false)
    })

    it.each(ALGORITHMS)('refuses a %s token whose header was changed', async (alg) => {
      const [, payload, signature] = (await mint(alg)).split('.')
      const forged = b64(JSON.stringify({ alg, kid: 'k2' }))
      expect(check(alg, KEYS[alg].verifyWith, `${forged}.${payload}.${signature}`)).toBe(false)
    })

    it.each(ALGORITHMS)('refuses a %s signature with one bit flipped', async (alg) => {
      const { signingInput, signature } = parsed(await mint(alg))
      for (const at of [0, signature.length >> 1, signature.length - 1]) {
        const flipped = Buffer.from(signature)
        flipped[at] = flipped[at]! ^ 1
        expect(verifySignature(alg, KEYS[alg].verifyWith, signingInput, flipped)).toBe(false)
      }
    })

    it.each(ALGORITHMS)('refuses a %s signature cut short or empty', async (alg) => {
      const { signingInput, signature } = parsed(await mint(alg))
      const key = KEYS[alg].verifyWith
      expect(verifySignature(alg, key, signingInput, signature.subarray(1))).toBe(false)
      expect(verifySignature(alg, key, signingInput, Buffer.alloc(0))).toBe(false)
    })

    it('accepts the Uint8Array a verify thread receives', async () => {
      const { signingInput, signature } = parsed(await mint('ES256'))
      const plain = new Uint8Array(signature)
      expect(verifySignature('ES256', P256.publicKey, signingInput, plain)).toBe(true)
    })
  })

  describe('with EdDSA', () => {
    it('verifies Ed448 signatures when the key is Ed448 (RFC 8037)', () => {
      const token = handMade({ alg: 'EdDSA' }, (input) => sign(null, input, ED448.privateKey))
      expect(check('EdDSA', ED448.publicKey, token)).toBe(true)
      expect(check('EdDSA', ED25519.publicKey, token)).toBe(false)
    })

    it('refuses an Ed25519 signature against an Ed448 key', async () => {
      expect(check('EdDSA', ED448.publicKey, await mint('EdDSA'))).toBe(false)
    })
  })

  describe('against algorithm confusion (RFC 8725 §2.1)', () => {
    it('refuses HS256 signed with the RSA public key PEM as the secret', () => {
      const pem = RSA.publicKey.export({ type: 'spki', format: 'pem' })
      const token = handMade({ alg: 'HS256' }, (input) =>
        createHmac('sha256', pem).update(input).digest(),
      )
      // The forgery is a valid HMAC under the PEM bytes…
      expect(check('HS256', createSecretKey(Buffer.from(pem)), token)).toBe(true)
      // …but the issuer's key is a public key, which never verifies an HMAC.
      expect(check('HS256', RSA.publicKey, token)).toBe(false)
    })

    it('refuses an RS256 token against an EC key', async () => {
      expect(check('RS256', P256.publicKey, await mint('RS256'))).toBe(false)
    })

    it('refuses an ES384 token against a P-256 key', async () => {
      expect(check('ES384', P256.publicKey, await mint('ES384'))).toBe(false)
    })

    it('refuses an ES256 token checked as ES384 against its own key', async () => {
      expect(check('ES384', P256.publicKey, await mint('ES256'))).toBe(false)
    })

    it('refuses ES256 signatures that are not exactly 64 bytes', () => {
      const der = handMade({ alg: 'ES256' }, (input) => sign('sha256', input, P256.privateKey))
      expect(parsed(der).signature.length).not.toBe(64)
      expect(check('ES256', P256.publicKey, der)).toBe(false)
      const { signingInput } = parsed(der)
      const p1363 = sign('sha256', Buffer.from(signingInput), {
        key: P256.privateKey,
        dsaEncoding: 'ieee-p1363',
      })
      expect(verifySignature('ES256', P256.publicKey, signingInput, p1363)).toBe(true)
      const padded = Buffer.concat([p1363, Buffer.alloc(1)])
      expect(verifySignature('ES256', P256.publicKey, signingInput, padded)).toBe(false)
    })

    it('refuses a PS256 token checked as RS256 and the reverse', async () => {
      expect(check('RS256', RSA.publicKey, await mint('PS256'))).toBe(false)
      expect(check('PS256', RSA.publicKey, await mint('RS256'))).toBe(false)
    })

    it('refuses EdDSA against an RSA key and RS256 against an Ed25519 key', async () => {
      expect(check('EdDSA', RSA.publicKey, await mint('EdDSA'))).toBe(false)
      expect(check('RS256', ED25519.publicKey, await mint('RS256'))).toBe(false)
    })

    it('refuses every asymmetric algorithm with a secret key', async () => {
      for (const alg of ALGORITHMS.filter((a) => !a.startsWith('HS'))) {
        expect(check(alg, SECRET, await mint(alg))).toBe(false)
      }
    })

    it('refuses an HMAC with a private key used as the secret', () => {
      const token = handMade({ alg: 'HS256' }, (input) =>
        createHmac('sha256', RSA.privateKey.export({ type: 'pkcs8', format: 'der' }))
          .update(input)
          .digest(),
      )
      expect(check('HS256', RSA.privateKey, token)).toBe(false)
    })
  })

  describe('with keys RFC 7518 forbids', () => {
    it('refuses RSA keys under 2048 bits', () => {
      const small = generateKeyPairSync('rsa', { modulusLength: 1024 })
      const token = handMade({ alg: 'RS256' }, (input) => sign('sha256', input, small.privateKey))
      expect(check('RS256', small.publicKey, token)).toBe(false)
    })

    it('refuses an HMAC key shorter than the hash (HS512 with 32 bytes)', async () => {
      const short = createSecretKey(randomBytes(32))
      expect(check('HS256', short, await mint('HS256', short))).toBe(true)
      expect(check('HS512', short, await mint('HS512', short))).toBe(false)
    })

    it('refuses a private key where a public key belongs', async () => {
      expect(check('RS256', RSA.privateKey, await mint('RS256'))).toBe(false)
      expect(check('ES256', P256.privateKey, await mint('ES256'))).toBe(false)
    })

    it('verifies PS256 but not RS256 with an RSA-PSS (id-RSASSA-PSS) key', () => {
      const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 })
      const token = handMade({ alg: 'PS256' }, (input) =>
        sign('sha256', input, { key: pss.privateKey, saltLength: 32 }),
      )
      expect(check('PS256', pss.publicKey, token)).toBe(true)
      expect(check('RS256', pss.publicKey, token)).toBe(false)
    })

    it('refuses a PS256 signature whose salt is not the hash length (RFC 7518 §3.5)', () => {
      const token = handMade({ alg: 'PS256' }, (input) =>
        sign('sha256', input, {
          key: RSA.privateKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: 20,
        }),
      )
      expect(check('PS256', RSA.publicKey, token)).toBe(false)
    })
  })

  describe('with nonsense', () => {
    it('answers false, never throws, for an unknown algorithm or a non-key', async () => {
      const { signingInput, signature } = parsed(await mint('RS256'))
      const none = 'none' as JwsAlgorithm
      expect(verifySignature(none, RSA.publicKey, signingInput, signature)).toBe(false)
      const notAKey = { type: 'public' } as unknown as KeyObject
      expect(verifySignature('RS256', notAKey, signingInput, signature)).toBe(false)
      const garbage = null as unknown as KeyObject
      expect(verifySignature('HS256', garbage, signingInput, signature)).toBe(false)
    })
  })
})
