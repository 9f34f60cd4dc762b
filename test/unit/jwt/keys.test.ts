import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { calculateJwkThumbprint } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  MAX_JWKS_KEYS,
  formatKeyProblem,
  importJwk,
  importJwks,
  importKeyFile,
  importSecret,
  isKeyProblem,
  type KeyProblem,
} from '../../../src/jwt/keys.js'
import {
  ASYMMETRIC_ALGORITHMS,
  type JwsAlgorithm,
  type VerificationKey,
} from '../../../src/jwt/types.js'

const ALL: readonly JwsAlgorithm[] = ASYMMETRIC_ALGORITHMS

// A self-signed certificate (EC P-256) and its public key as SPKI, made with openssl.
const CERTIFICATE = `-----BEGIN CERTIFICATE-----
MIIBmDCCAT+gAwIBAgIUZJV2xFq92fBiJUYaVsMul/QLYEMwCgYIKoZIzj0EAwIw
ITEfMB0GA1UEAwwWcG9ydGN1bGxpcyB0ZXN0IGlzc3VlcjAgFw0yNjExMjMwNjE3
MzZaGA8yMTI2MTAzMDA2MTczNlowITEfMB0GA1UEAwwWcG9ydGN1bGxpcyB0ZXN0
IGlzc3VlcjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHWs/9tZwdLoP9xhK09h
SVji0ZHgF2vjXLt3nEGDpx58VLFljIliBDwhShgSxy96QMk/mQVf7axCSwn2k1Dm
0DWjUzBRMB0GA1UdDgQWBBSsTa9Xsw5SChxyLeDgeRZg0JCYFTAfBgNVHSMEGDAW
gBSsTa9Xsw5SChxyLeDgeRZg0JCYFTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49
BAMCA0cAMEQCIFH7cMrCVPr51fjgNJ1ZBLzJTPJU0rITSaQ800Utu46SAiA5uzXQ
VCutIDS9YjLBVbjRBn0fct+N/J5/7ByG+7sEgw==
-----END CERTIFICATE-----
`
const CERTIFICATE_KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEdaz/21nB0ug/3GErT2FJWOLRkeAX
a+Ncu3ecQYOnHnxUsWWMiWIEPCFKGBLHL3pAyT+ZBV/trEJLCfaTUObQNQ==
-----END PUBLIC KEY-----
`

type Pair = { publicKey: KeyObject; privateKey: KeyObject }

let rsa: Pair
let p256: Pair
let dir: string

beforeAll(() => {
  rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  dir = mkdtempSync(join(tmpdir(), 'portcullis-keys-'))
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

function jwkOf(key: KeyObject, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...key.export({ format: 'jwk' }), ...extra }
}

function accepted(result: VerificationKey | KeyProblem): VerificationKey {
  if (isKeyProblem(result)) throw new Error(`refused: ${result.reason}`)
  return result
}

function refusal(result: VerificationKey | KeyProblem): string {
  if (!isKeyProblem(result)) throw new Error('accepted')
  return result.reason
}

let counter = 0

function file(content: string | Buffer): string {
  const path = join(dir, `key-${++counter}`)
  writeFileSync(path, content)
  return path
}

function pem(key: KeyObject): string {
  return key.export({ format: 'pem', type: key.type === 'private' ? 'pkcs8' : 'spki' }).toString()
}

describe('importJwk', () => {
  describe('when the key is a usable public key', () => {
    it('gives an RSA key without alg every allowed RS and PS algorithm', () => {
      const key = accepted(importJwk(jwkOf(rsa.publicKey, { kid: 'r1' }), ALL))
      expect(key.kid).toBe('r1')
      expect([...key.algorithms]).toEqual(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'])
      expect(key.key.asymmetricKeyType).toBe('rsa')
    })

    it('gives an RSA key without alg only the allowed algorithms', () => {
      const key = accepted(importJwk(jwkOf(rsa.publicKey), ['RS256', 'ES256']))
      expect([...key.algorithms]).toEqual(['RS256'])
    })

    it('gives a key that names its alg that algorithm alone', () => {
      const key = accepted(importJwk(jwkOf(rsa.publicKey, { alg: 'PS384' }), ALL))
      expect([...key.algorithms]).toEqual(['PS384'])
    })

    it.each([
      ['P-256', 'ES256'],
      ['P-384', 'ES384'],
      ['P-521', 'ES512'],
    ] as const)('maps an EC %s key to %s', (curve, alg) => {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: curve })
      expect([...accepted(importJwk(jwkOf(publicKey), ALL)).algorithms]).toEqual([alg])
    })

    it.each(['ed25519', 'ed448'] as const)('maps an OKP %s key to EdDSA', (type) => {
      const { publicKey } = generateKeyPairSync(type as 'ed25519')
      const key = accepted(importJwk(jwkOf(publicKey), ALL))
      expect([...key.algorithms]).toEqual(['EdDSA'])
      expect(key.key.asymmetricKeyType).toBe(type)
    })

    it('accepts use sig, key_ops with verify and members it does not use', () => {
      const jwk = jwkOf(p256.publicKey, { use: 'sig', key_ops: ['verify'], x5t: 'abc', ext: true })
      expect(accepted(importJwk(jwk, ALL)).algorithms.has('ES256')).toBe(true)
    })

    it('uses the RFC 7638 thumbprint as id', async () => {
      for (const publicKey of [
        rsa.publicKey,
        p256.publicKey,
        generateKeyPairSync('ed25519').publicKey,
      ]) {
        const jwk = jwkOf(publicKey, { kid: 'k', alg: undefined })
        const expected = await calculateJwkThumbprint(
          jwk as Parameters<typeof calculateJwkThumbprint>[0],
        )
        expect(accepted(importJwk(jwk, ALL)).id).toBe(expected)
      }
    })
  })

  describe('when the key must not verify', () => {
    it('refuses a symmetric oct key and says where a secret belongs', () => {
      const reason = refusal(importJwk({ kty: 'oct', k: 'c2VjcmV0', kid: 's' }, ['HS256']))
      expect(reason).toMatch(/symmetric key \(kty oct\) refused.*issuer secret/)
    })

    it('refuses an unknown key type', () => {
      expect(refusal(importJwk({ kty: 'DSA', kid: 'd' }, ALL))).toMatch(
        /key type "DSA" is not supported/,
      )
    })

    it('refuses a key for encryption', () => {
      expect(refusal(importJwk(jwkOf(rsa.publicKey, { use: 'enc' }), ALL))).toBe(
        'use "enc" is not sig',
      )
    })

    it('refuses key_ops without verify', () => {
      const jwk = jwkOf(rsa.publicKey, { key_ops: ['encrypt', 'wrapKey'] })
      expect(refusal(importJwk(jwk, ALL))).toBe('key_ops does not include verify')
    })

    it('refuses key_ops that is not an array of strings', () => {
      expect(refusal(importJwk(jwkOf(rsa.publicKey, { key_ops: 'verify' }), ALL))).toMatch(
        /key_ops must be/,
      )
    })

    it('refuses an alg the issuer does not allow', () => {
      const jwk = jwkOf(rsa.publicKey, { alg: 'RS512' })
      expect(refusal(importJwk(jwk, ['RS256']))).toMatch(
        /alg RS512 is not among the issuer's algorithms/,
      )
    })

    it('refuses an alg that does not fit the key type', () => {
      expect(refusal(importJwk(jwkOf(rsa.publicKey, { alg: 'ES256' }), ALL))).toMatch(
        /alg ES256 does not fit this rsa key/,
      )
      expect(refusal(importJwk(jwkOf(p256.publicKey, { alg: 'ES384' }), ALL))).toMatch(
        /alg ES384 does not fit this ec key \(ES256\)/,
      )
      expect(refusal(importJwk(jwkOf(rsa.publicKey, { alg: 'HS256' }), [...ALL, 'HS256']))).toMatch(
        /alg HS256 does not fit/,
      )
    })

    it('refuses an alg that is not a JWS signature algorithm', () => {
      expect(refusal(importJwk(jwkOf(rsa.publicKey, { alg: 'RSA-OAEP' }), ALL))).toMatch(
        /alg "RSA-OAEP" is not a JWS signature algorithm/,
      )
      expect(refusal(importJwk(jwkOf(rsa.publicKey, { alg: 'none' }), ALL))).toMatch(
        /"none" is not/,
      )
    })

    it('refuses a key none of whose algorithms the issuer allows', () => {
      expect(refusal(importJwk(jwkOf(p256.publicKey), ['RS256', 'EdDSA']))).toMatch(
        /none of the issuer's algorithms \(RS256, EdDSA\) fits this ec key \(ES256\)/,
      )
    })

    it('refuses an RSA key of 1024 bits', () => {
      const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
      expect(refusal(importJwk(jwkOf(publicKey), ALL))).toMatch(
        /RSA key of 1024 bits: at least 2048 are required/,
      )
    })

    it('refuses an RSA public exponent of 1', () => {
      expect(refusal(importJwk(jwkOf(rsa.publicKey, { e: 'AQ' }), ALL))).toMatch(/exponent/)
    })

    it('refuses a private JWK and says its private half is exposed', () => {
      const reason = refusal(importJwk(jwkOf(rsa.privateKey, { kid: 'leak' }), ALL))
      expect(reason).toMatch(/private key refused \(it has d, p, q, dp, dq, qi\)/)
      expect(reason).toMatch(/public keys only/)
      expect(refusal(importJwk(jwkOf(p256.privateKey), ALL))).toMatch(
        /private key refused \(it has d\)/,
      )
    })

    it.each([
      [{ kty: 'EC', crv: 'secp256k1', x: 'AA', y: 'AA' }, /EC curve "secp256k1" is not supported/],
      [{ kty: 'OKP', crv: 'X25519', x: 'AA' }, /OKP curve "X25519" does not sign/],
      [{ kty: 'OKP', x: 'AA' }, /OKP curve missing does not sign/],
    ])('refuses an unsupported curve: %j', (jwk, reason) => {
      expect(refusal(importJwk(jwk, ALL))).toMatch(reason)
    })

    it('refuses members that are not base64url', () => {
      const jwk = jwkOf(p256.publicKey)
      expect(refusal(importJwk({ ...jwk, x: `${jwk.x as string}!!` }, ALL))).toBe(
        'x must be a base64url string',
      )
      expect(refusal(importJwk({ ...jwkOf(rsa.publicKey), n: 42 }, ALL))).toBe(
        'n must be a base64url string',
      )
    })

    it('refuses an EC point that is not on its curve', () => {
      const jwk = jwkOf(p256.publicKey)
      expect(refusal(importJwk({ ...jwk, y: jwk.x }, ALL))).toMatch(/cannot be imported/)
    })

    it('refuses what is not a JWK object, and a kid that is not a string', () => {
      expect(refusal(importJwk('key', ALL))).toBe('a JWK must be a JSON object')
      expect(refusal(importJwk([], ALL))).toBe('a JWK must be a JSON object')
      expect(refusal(importJwk(jwkOf(rsa.publicKey, { kid: 7 }), ALL))).toBe('kid must be a string')
    })

    it('names the kid of the refused key and cuts long values short', () => {
      const problem = importJwk({ kty: 'x'.repeat(500), kid: 'k1' }, ALL) as KeyProblem
      expect(problem.kid).toBe('k1')
      expect(formatKeyProblem(problem).length).toBeLessThan(120)
      expect(formatKeyProblem(problem)).toMatch(/^key "k1": key type "x+… is not supported/)
    })
  })
})

describe('importJwks', () => {
  it('keeps the usable keys and gives a problem for each other one', () => {
    const { keys, problems } = importJwks(
      {
        keys: [
          jwkOf(rsa.publicKey, { kid: 'rsa', use: 'sig' }),
          jwkOf(rsa.publicKey, { kid: 'rsa-enc', use: 'enc' }),
          { kty: 'oct', kid: 'hmac', k: 'c2VjcmV0' },
          jwkOf(p256.publicKey, { kid: 'ec' }),
        ],
      },
      ALL,
    )
    expect(keys.map((key) => key.kid)).toEqual(['rsa', 'ec'])
    expect(problems.map((problem) => problem.kid)).toEqual(['rsa-enc', 'hmac'])
  })

  it('refuses what is not a JWK Set', () => {
    for (const json of [null, [], { keys: {} }, { key: [] }, 'keys']) {
      const { keys, problems } = importJwks(json, ALL)
      expect(keys).toEqual([])
      expect(problems[0]?.reason).toMatch(/not a JWK Set/)
    }
  })

  it(`reads only the first ${MAX_JWKS_KEYS} keys of a bigger set`, () => {
    const jwk = jwkOf(p256.publicKey)
    const many = Array.from({ length: 150 }, (_, i) => ({ ...jwk, kid: `k${i}` }))
    const { keys, problems } = importJwks({ keys: many }, ALL)
    expect(keys).toHaveLength(MAX_JWKS_KEYS)
    expect(problems).toEqual([
      { reason: 'the set has 150 keys: only the first 100 are read', kid: null },
    ])
  })

  it('drops every key of a kid that names different keys', () => {
    const { keys, problems } = importJwks(
      {
        keys: [
          jwkOf(rsa.publicKey, { kid: 'same' }),
          jwkOf(p256.publicKey, { kid: 'same' }),
          jwkOf(p256.publicKey, { kid: 'other' }),
        ],
      },
      ALL,
    )
    expect(keys.map((key) => key.kid)).toEqual(['other'])
    expect(problems).toHaveLength(1)
    expect(formatKeyProblem(problems[0]!)).toMatch(
      /^key "same": 2 different keys have this kid: all are dropped/,
    )
  })

  it('keeps one key when a kid repeats the same key, with the algorithms of both entries', () => {
    const { keys, problems } = importJwks(
      {
        keys: [
          jwkOf(rsa.publicKey, { kid: 'k', alg: 'RS256' }),
          jwkOf(rsa.publicKey, { kid: 'k', alg: 'PS256' }),
        ],
      },
      ALL,
    )
    expect(problems).toEqual([])
    expect(keys).toHaveLength(1)
    expect([...keys[0]!.algorithms].sort()).toEqual(['PS256', 'RS256'])
  })
})

describe('importKeyFile', () => {
  describe('when the file holds public keys', () => {
    it('reads an SPKI PEM', () => {
      const { keys, problems } = importKeyFile(file(pem(rsa.publicKey)), ['RS256'])
      expect(problems).toEqual([])
      expect(keys).toHaveLength(1)
      expect(keys[0]!.kid).toBeNull()
      expect([...keys[0]!.algorithms]).toEqual(['RS256'])
    })

    it('reads a PKCS#1 RSA PUBLIC KEY', () => {
      const pkcs1 = rsa.publicKey.export({ format: 'pem', type: 'pkcs1' }).toString()
      expect(pkcs1).toMatch(/BEGIN RSA PUBLIC KEY/)
      const { keys } = importKeyFile(file(pkcs1), ALL)
      expect(keys[0]!.id).toBe(accepted(importJwk(jwkOf(rsa.publicKey), ALL)).id)
    })

    it('reads the public key of a certificate', () => {
      const fromCertificate = importKeyFile(file(CERTIFICATE), ALL)
      const fromKey = importKeyFile(file(CERTIFICATE_KEY), ALL)
      expect(fromCertificate.problems).toEqual([])
      expect([...fromCertificate.keys[0]!.algorithms]).toEqual(['ES256'])
      expect(fromCertificate.keys[0]!.id).toBe(fromKey.keys[0]!.id)
    })

    it('reads several PEM blocks, with text around them', () => {
      const ed = generateKeyPairSync('ed25519').publicKey
      const text = `issuer keys\n${pem(rsa.publicKey)}\nsubject=CN test\n${CERTIFICATE}${pem(ed)}`
      const { keys, problems } = importKeyFile(file(text), ALL)
      expect(problems).toEqual([])
      expect(keys.map((key) => key.key.asymmetricKeyType)).toEqual(['rsa', 'ec', 'ed25519'])
    })

    it('gives an RSA-PSS key only the PS algorithm of its hash', () => {
      const { publicKey } = generateKeyPairSync('rsa-pss', {
        modulusLength: 2048,
        hashAlgorithm: 'sha384',
        mgf1HashAlgorithm: 'sha384',
      })
      const { keys } = importKeyFile(file(pem(publicKey)), ALL)
      expect([...keys[0]!.algorithms]).toEqual(['PS384'])
    })

    it('reads a single JWK', () => {
      const { keys } = importKeyFile(
        file(JSON.stringify(jwkOf(p256.publicKey, { kid: 'one' }))),
        ALL,
      )
      expect(keys.map((key) => key.kid)).toEqual(['one'])
    })

    it('reads a JWK Set', () => {
      const jwks = {
        keys: [jwkOf(p256.publicKey, { kid: 'a' }), jwkOf(rsa.publicKey, { kid: 'b' })],
      }
      const { keys } = importKeyFile(file(`\n  ${JSON.stringify(jwks)}`), ALL)
      expect(keys.map((key) => key.kid)).toEqual(['a', 'b'])
    })
  })

  describe('when the file must not be used', () => {
    it.each([
      ['PKCS#8', () => pem(rsa.privateKey), /BEGIN PRIVATE KEY/],
      [
        'SEC1',
        () => p256.privateKey.export({ format: 'pem', type: 'sec1' }).toString(),
        /BEGIN EC PRIVATE KEY/,
      ],
      [
        'PKCS#1',
        () => rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }).toString(),
        /BEGIN RSA PRIVATE KEY/,
      ],
    ])('refuses a %s private key and says to give the public key', (_name, text, label) => {
      const { keys, problems } = importKeyFile(file(text()), ALL)
      expect(keys).toEqual([])
      expect(problems[0]!.reason).toMatch(label)
      expect(problems[0]!.reason).toMatch(
        /refused: the gateway only verifies.*openssl pkey -pubout/,
      )
    })

    it('refuses a private key next to a public one but keeps the public one', () => {
      const { keys, problems } = importKeyFile(file(pem(rsa.publicKey) + pem(p256.privateKey)), ALL)
      expect(keys).toHaveLength(1)
      expect(problems).toHaveLength(1)
    })

    it('refuses a private JWK file', () => {
      const { keys, problems } = importKeyFile(file(JSON.stringify(jwkOf(p256.privateKey))), ALL)
      expect(keys).toEqual([])
      expect(problems[0]!.reason).toMatch(/private key refused/)
    })

    it('refuses a key of an unsupported type', () => {
      const { problems } = importKeyFile(file(pem(generateKeyPairSync('x25519').publicKey)), ALL)
      expect(problems[0]!.reason).toBe('x25519 keys do not verify JWS signatures')
    })

    it('refuses a 1024-bit RSA PEM', () => {
      const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
      expect(importKeyFile(file(pem(publicKey)), ALL).problems[0]!.reason).toMatch(/1024 bits/)
    })

    it.each([
      ['garbage', 'not a key at all\n', /holds no PEM block/],
      ['an empty file', '', /holds no PEM block/],
      ['binary bytes', Buffer.from([0, 159, 146, 150, 255]), /holds no PEM block/],
      ['broken JSON', '{"keys": [', /is not valid JSON/],
      ['a JSON object that is no key', '{"hello": "world"}', /key type missing is not supported/],
      [
        'a corrupt PEM body',
        '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n',
        /cannot be read/,
      ],
      [
        'an unknown PEM block',
        '-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----\n',
        /DH PARAMETERS is not supported/,
      ],
    ])('refuses %s', (_name, content, reason) => {
      const { keys, problems } = importKeyFile(file(content), ALL)
      expect(keys).toEqual([])
      expect(problems).toHaveLength(1)
      expect(problems[0]!.reason).toMatch(reason)
    })

    it('refuses a missing file and a file over 1 MiB', () => {
      expect(importKeyFile(join(dir, 'missing.pem'), ALL).problems[0]!.reason).toMatch(
        /cannot read .*ENOENT/,
      )
      const big = file(Buffer.alloc(1024 * 1024 + 1, 0x20))
      expect(importKeyFile(big, ALL).problems[0]!.reason).toMatch(/a key file is at most 1048576/)
    })
  })
})

describe('importSecret', () => {
  it('gives a 32-byte secret HS256', () => {
    const { keys, problems } = importSecret('s'.repeat(32), ['HS256'])
    expect(problems).toEqual([])
    expect(keys[0]!.kid).toBeNull()
    expect([...keys[0]!.algorithms]).toEqual(['HS256'])
    expect(keys[0]!.key.type).toBe('secret')
    expect(keys[0]!.key.symmetricKeySize).toBe(32)
    expect(keys[0]!.id).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('gives a 64-byte secret every allowed HS algorithm, and no other', () => {
    const { keys } = importSecret('s'.repeat(64), ['HS256', 'HS384', 'HS512', 'RS256'])
    expect([...keys[0]!.algorithms]).toEqual(['HS256', 'HS384', 'HS512'])
  })

  it('refuses a secret under 32 bytes', () => {
    const { keys, problems } = importSecret('s'.repeat(31), ['HS256'])
    expect(keys).toEqual([])
    expect(problems[0]!.reason).toBe(
      'the secret has 31 bytes: at least 32 are required (RFC 7518 §3.2)',
    )
  })

  it('counts the bytes of the UTF-8 encoding', () => {
    expect(importSecret('é'.repeat(16), ['HS256']).keys).toHaveLength(1) // 32 bytes, 16 characters
    expect(importSecret('s'.repeat(31) + 'é', ['HS256']).keys).toHaveLength(1)
  })

  it('leaves out an algorithm whose hash is longer than the secret, with a problem', () => {
    const { keys, problems } = importSecret('s'.repeat(40), ['HS256', 'HS384', 'HS512'])
    expect([...keys[0]!.algorithms]).toEqual(['HS256'])
    expect(problems.map((problem) => problem.reason)).toEqual([
      'HS384 needs a secret of at least 48 bytes (RFC 7518 §3.2); this one has 40',
      'HS512 needs a secret of at least 64 bytes (RFC 7518 §3.2); this one has 40',
    ])
  })

  it('refuses a secret for an issuer that allows no HS algorithm', () => {
    expect(importSecret('s'.repeat(64), ['RS256']).problems[0]!.reason).toMatch(/allows no HS256/)
  })

  it('gives the same secret the same id, and another secret another id', () => {
    const id = (secret: string) => importSecret(secret, ['HS256']).keys[0]!.id
    expect(id('a'.repeat(32))).toBe(id('a'.repeat(32)))
    expect(id('a'.repeat(32))).not.toBe(id('b'.repeat(32)))
  })
})
