import { createSecretKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { parseToken, type ParsedToken } from '../../../src/jwt/compact.js'
import type { JwsAlgorithm, VerificationKey } from '../../../src/jwt/types.js'
import { shouldOffload, VerifyPool } from '../../../src/jwt/verify-pool.js'
import { buildWorker } from '../../helpers/verify-worker.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

interface Fixture {
  readonly alg: JwsAlgorithm
  readonly key: VerificationKey
  readonly good: ParsedToken
  readonly forged: ParsedToken
}

async function fixture(alg: JwsAlgorithm, signWith: KeyObject, verifyWith: KeyObject) {
  const key: VerificationKey = {
    kid: `${alg}-key`,
    algorithms: new Set([alg]),
    key: verifyWith,
    id: `id-${alg}-${randomBytes(4).toString('hex')}`,
  }
  const jwt = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg }).sign(signWith)
  const [header, , signature] = jwt.split('.')
  const other = Buffer.from('{"sub":"mallory"}').toString('base64url')
  return {
    alg,
    key,
    good: parse(jwt),
    forged: parse(`${header}.${other}.${signature}`),
  } satisfies Fixture
}

function parse(token: string): ParsedToken {
  const result = parseToken(token, 8192)
  if (typeof result === 'string') throw new Error(result)
  return result
}

describe('VerifyPool', () => {
  let scratch: string
  let filename: string
  let fixtures: Fixture[]

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'portcullis-verify-'))
    filename = buildWorker(scratch)
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const ed = generateKeyPairSync('ed25519')
    const secret = createSecretKey(randomBytes(32))
    fixtures = [
      await fixture('RS256', rsa.privateKey, rsa.publicKey),
      await fixture('PS256', rsa.privateKey, rsa.publicKey),
      await fixture('ES256', ec.privateKey, ec.publicKey),
      await fixture('EdDSA', ed.privateKey, ed.publicKey),
      await fixture('HS256', secret, secret),
    ]
  })

  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true })
  })

  it('verifies valid and forged tokens of every family across threads', async () => {
    const pool = new VerifyPool(2, { filename })
    try {
      const checks = []
      for (let round = 0; round < 20; round++) {
        for (const { alg, key, good, forged } of fixtures) {
          checks.push(
            pool.verify(alg, key, good.signingInput, good.signature).then((ok) => [alg, ok, true]),
            pool
              .verify(alg, key, forged.signingInput, forged.signature)
              .then((ok) => [alg, ok, false]),
          )
        }
      }
      for (const [alg, ok, expected] of await Promise.all(checks)) {
        expect({ alg, ok }).toEqual({ alg, ok: expected })
      }
    } finally {
      await pool.close()
    }
  })

  it('stops sending a key once every thread has confirmed holding it', async () => {
    const pool = new VerifyPool(2, { filename, maxQueue: 10_000 })
    try {
      const { alg, key, good } = fixtures.find((f) => f.alg === 'ES256')!
      const check = () => pool.verify(alg, key, good.signingInput, good.signature)
      // Bursts until one goes out without the key: threads start asynchronously, and each must
      // first answer a task that carried it.
      let before = -1
      const deadline = Date.now() + 20_000
      while (pool.keyTransfers !== before && Date.now() < deadline) {
        before = pool.keyTransfers
        const all = await Promise.all(Array.from({ length: 20 }, check))
        expect(all).toEqual(all.map(() => true))
      }
      expect(pool.keyTransfers).toBeGreaterThanOrEqual(2)
      const warm = pool.keyTransfers
      const all = await Promise.all(Array.from({ length: 50 }, check))
      expect(all).toEqual(all.map(() => true))
      expect(pool.keyTransfers).toBe(warm)
    } finally {
      await pool.close()
    }
  })

  it('sends the key with each task until then, so no task waits for it', async () => {
    const pool = new VerifyPool(2, { filename })
    try {
      const { alg, key, good, forged } = fixtures.find((f) => f.alg === 'HS256')!
      expect(await pool.verify(alg, key, good.signingInput, good.signature)).toBe(true)
      expect(await pool.verify(alg, key, forged.signingInput, forged.signature)).toBe(false)
      expect(pool.keyTransfers).toBe(2)
    } finally {
      await pool.close()
    }
  })

  it('sends a key with another id again, even under the same kid', async () => {
    const pool = new VerifyPool(1, { filename })
    try {
      const { alg, key, good } = fixtures.find((f) => f.alg === 'EdDSA')!
      expect(await pool.verify(alg, key, good.signingInput, good.signature)).toBe(true)
      expect(await pool.verify(alg, key, good.signingInput, good.signature)).toBe(true)
      expect(pool.keyTransfers).toBe(1)
      const rotated = generateKeyPairSync('ed25519').publicKey
      const sameKid: VerificationKey = { ...key, key: rotated, id: `${key.id}-rotated` }
      expect(await pool.verify(alg, sameKid, good.signingInput, good.signature)).toBe(false)
      expect(pool.keyTransfers).toBe(2)
    } finally {
      await pool.close()
    }
  })

  it('verifies inline, with the same answers, when the queue is full', async () => {
    const pool = new VerifyPool(1, { filename, maxQueue: 0 })
    try {
      for (const { alg, key, good, forged } of fixtures) {
        expect(await pool.verify(alg, key, good.signingInput, good.signature)).toBe(true)
        expect(await pool.verify(alg, key, forged.signingInput, forged.signature)).toBe(false)
      }
      expect(pool.keyTransfers).toBe(0)
    } finally {
      await pool.close()
    }
  })

  it('closes cleanly, and still answers (inline) once closed', async () => {
    const pool = new VerifyPool(2, { filename })
    const { alg, key, good } = fixtures[0]!
    const inFlight = pool.verify(alg, key, good.signingInput, good.signature)
    await pool.close()
    expect(await inFlight).toBe(true)
    expect(await pool.verify(alg, key, good.signingInput, good.signature)).toBe(true)
  })

  it('refuses zero threads and a worker file that does not exist', () => {
    expect(() => new VerifyPool(0, { filename })).toThrow(RangeError)
    expect(() => new VerifyPool(1, { filename: join(scratch, 'missing.js') })).toThrow(/npx tsc/)
  })

  it.skipIf(!existsSync(join(ROOT, 'dist/workers/verify.js')))(
    'finds the built worker under dist/ by default when run from the sources',
    async () => {
      const pool = new VerifyPool(1)
      try {
        const { alg, key, good } = fixtures[0]!
        expect(await pool.verify(alg, key, good.signingInput, good.signature)).toBe(true)
      } finally {
        await pool.close()
      }
    },
  )
})

describe('shouldOffload', () => {
  const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey

  it('never offloads without a pool', () => {
    expect(shouldOffload('ES256', 0)).toBe(false)
    expect(shouldOffload('EdDSA', 0)).toBe(false)
  })

  it('offloads ECDSA and EdDSA, whose checks cost more than a round trip', () => {
    for (const alg of ['ES256', 'ES384', 'ES512', 'EdDSA'] as const) {
      expect(shouldOffload(alg, 2)).toBe(true)
    }
  })

  it('keeps HMAC and 2048-bit RSA inline, cheaper than a round trip', () => {
    for (const alg of ['HS256', 'HS384', 'HS512', 'RS256', 'PS256'] as const) {
      expect(shouldOffload(alg, 2)).toBe(false)
      expect(shouldOffload(alg, 2, rsa2048)).toBe(false)
    }
  })

  it('offloads RSA with keys of 4096 bits', () => {
    const rsa4096 = generateKeyPairSync('rsa', { modulusLength: 4096 }).publicKey
    expect(shouldOffload('RS256', 2, rsa4096)).toBe(true)
    expect(shouldOffload('PS512', 2, rsa4096)).toBe(true)
    expect(shouldOffload('RS256', 0, rsa4096)).toBe(false)
  })
})
