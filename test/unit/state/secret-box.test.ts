import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { StoredHmacCredential } from '../../../src/keys/records.js'
import { checkEncryptionKeys, SecretKeyring } from '../../../src/state/secret-box.js'
import { openStoredHmac } from '../../../src/state/stored-hmac.js'

const K1 = { id: 'k1', key: randomBytes(32).toString('base64') }
const K2 = { id: 'k2', key: randomBytes(32).toString('base64url') }
const SECRET = Buffer.from('a shared secret of thirty-two bytes or more')
const ACME = { consumer: 'acme', keyId: 'hk_1' }

describe('secret box (AES-256-GCM under redis.encryption_keys)', () => {
  it('opens what it sealed, and the sealed form holds no byte run of the secret', () => {
    const keyring = new SecretKeyring([K1])
    const sealed = keyring.seal(SECRET, ACME)
    expect(sealed.key).toBe('k1')
    const raw = JSON.stringify(sealed)
    for (const form of ['utf8', 'base64', 'base64url', 'hex'] as const) {
      expect(raw).not.toContain(SECRET.toString(form).slice(0, 16))
    }
    expect(Buffer.from(sealed.data, 'base64').includes(SECRET.subarray(0, 8))).toBe(false)
    expect(keyring.open(sealed, ACME)).toEqual(SECRET)
  })

  it('uses a fresh IV per seal: the same secret seals to different ciphertexts', () => {
    const keyring = new SecretKeyring([K1])
    expect(keyring.seal(SECRET, ACME).data).not.toBe(keyring.seal(SECRET, ACME).data)
  })

  it('refuses a ciphertext moved to another consumer or key id (AAD binding)', () => {
    const keyring = new SecretKeyring([K1])
    const sealed = keyring.seal(SECRET, ACME)
    expect(keyring.open(sealed, { consumer: 'globex', keyId: 'hk_1' })).toBe('mismatch')
    expect(keyring.open(sealed, { consumer: 'acme', keyId: 'hk_2' })).toBe('mismatch')
  })

  it('refuses a ciphertext relabelled with another encryption key id', () => {
    const both = new SecretKeyring([K1, { id: 'k1b', key: K1.key }])
    const sealed = both.seal(SECRET, ACME)
    expect(both.open({ ...sealed, key: 'k1b' }, ACME)).toBe('mismatch')
  })

  it('refuses a tampered ciphertext or tag', () => {
    const keyring = new SecretKeyring([K1])
    const sealed = keyring.seal(SECRET, ACME)
    const data = Buffer.from(sealed.data, 'base64')
    data[0] = data[0]! ^ 1
    expect(keyring.open({ ...sealed, data: data.toString('base64') }, ACME)).toBe('mismatch')
    const short = Buffer.from(sealed.data, 'base64').subarray(0, 20).toString('base64')
    expect(keyring.open({ ...sealed, data: short }, ACME)).toBe('mismatch')
  })

  it('after a master-key rotation ([k2, k1]) seals with k2 and still opens k1 ciphertexts', () => {
    const before = new SecretKeyring([K1]).seal(SECRET, ACME)
    const rotated = new SecretKeyring([K2, K1])
    expect(rotated.sealingKey).toBe('k2')
    expect(rotated.open(before, ACME)).toEqual(SECRET)
    expect(rotated.seal(SECRET, ACME).key).toBe('k2')
  })

  it('tells why a secret does not open: no keys, an unlisted key id, another key under the id', () => {
    const sealed = new SecretKeyring([K1]).seal(SECRET, ACME)
    expect(new SecretKeyring([]).open(sealed, ACME)).toBe('no_keys')
    expect(new SecretKeyring([K2]).open(sealed, ACME)).toBe('unknown_key')
    expect(new SecretKeyring([{ id: 'k1', key: K2.key }]).open(sealed, ACME)).toBe('mismatch')
    expect(new SecretKeyring([]).canSeal).toBe(false)
  })
})

describe('redis.encryption_keys checks', () => {
  it('accepts 32-byte keys in base64 or base64url with unique ids', () => {
    expect(checkEncryptionKeys([K1, K2])).toEqual([])
  })

  it('refuses a key of another length, or not base64, naming the path and never the key', () => {
    const short = randomBytes(16).toString('base64')
    const problems = checkEncryptionKeys([K1, { id: 'k2', key: short }, { id: 'k3', key: 'n*t' }])
    expect(problems.map((p) => p.path)).toEqual([
      'redis.encryption_keys[1].key',
      'redis.encryption_keys[2].key',
    ])
    expect(problems[0]!.reason).toContain('decodes to 16')
    expect(problems[1]!.reason).toContain('not base64')
    expect(JSON.stringify(problems)).not.toContain(short)
  })

  it('refuses a repeated id', () => {
    expect(checkEncryptionKeys([K1, { ...K2, id: 'k1' }])).toEqual([
      {
        path: 'redis.encryption_keys[1].id',
        reason: '"k1" is already the id of redis.encryption_keys[0]: ids must be unique',
      },
    ])
  })
})

describe('a stored HMAC credential as workers compile it', () => {
  const keyring = new SecretKeyring([K1])
  const record = (change: Partial<StoredHmacCredential> = {}): StoredHmacCredential => ({
    key_id: 'hk_1',
    consumer: 'acme',
    algorithm: 'hmac-sha256',
    scopes: ['hooks:write'],
    label: null,
    secret: keyring.seal(SECRET, ACME),
    state: 'active',
    expires_at: null,
    created_at: '2026-01-01T00:00:00Z',
    revoked_at: null,
    rotated_from: null,
    rotated_to: null,
    ...change,
  })

  it('decrypts the secret into the key, with its scopes and no expiry', () => {
    const key = openStoredHmac(record(), keyring)
    expect(typeof key).toBe('object')
    const k = key as Exclude<typeof key, string | null>
    expect(k.id).toBe('hk_1')
    expect(k.consumer).toBe('acme')
    expect(k.secret.export()).toEqual(SECRET)
    expect([...k.scopes]).toEqual(['hooks:write'])
    expect(k.expiresAt).toBe(Infinity)
  })

  it('carries expires_at as unix seconds (a rotated credential)', () => {
    const key = openStoredHmac(record({ expires_at: '2026-01-01T00:00:10Z' }), keyring)
    expect((key as { expiresAt: number }).expiresAt).toBe(Date.parse('2026-01-01T00:00:10Z') / 1000)
  })

  it('compiles a revoked credential to nothing', () => {
    expect(openStoredHmac(record({ state: 'revoked' }), keyring)).toBeNull()
  })

  it('refuses a record whose consumer was changed in the store', () => {
    expect(openStoredHmac(record({ consumer: 'globex' }), keyring)).toBe('mismatch')
  })
})
