/**
 * Micro bench of JWT verification, step by step: parsing, the signature check per algorithm
 * (inline, synchronous: the native verifier for RS256/ES256 beside node:crypto's verify()), the claims, a cache lookup, and a
 * round trip through the verify pool; and the candidates the cache was chosen from. Run with
 * `npx tsc -p tsconfig.json && npx vitest bench --run bench/micro/jwt-verify.bench.ts`
 * (the pool runs the built worker, dist/workers/verify.js).
 *
 * Each iteration is BATCH calls: µs/op = mean (ms) × 1000 / BATCH. For the pool, the wall time
 * is bounded by the threads; what the event loop pays per verify (main-thread CPU, from
 * /proc/thread-self/schedstat) is printed when the pool bench ends.
 */
import {
  createHash,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  verify,
  type KeyObject,
} from 'node:crypto'
import { readFileSync } from 'node:fs'
import { SignJWT } from 'jose'
import { bench, describe } from 'vitest'

import { TokenCache } from '../../src/jwt/cache.js'
import { checkClaims, type ClaimPolicy } from '../../src/jwt/claims.js'
import { parseToken, type ParsedToken } from '../../src/jwt/compact.js'
import { describeVerifier } from '../../src/jwt/native-verify.js'
import { verifySignature } from '../../src/jwt/signature.js'
import type { JwsAlgorithm, VerificationKey } from '../../src/jwt/types.js'
import { VerifyPool } from '../../src/jwt/verify-pool.js'

const NOW = Math.floor(Date.now() / 1000)
/** Claims of a typical access token (717 characters once signed with RS256). */
const CLAIMS = {
  iss: 'https://login.example.com/tenant/v2.0',
  sub: '8f14e45f-ceea-467f-a8d5-2b1c3a4d5e6f',
  aud: 'api://orders',
  azp: 'web-frontend',
  scope: 'orders.read orders.write profile',
  jti: randomBytes(12).toString('base64url'),
  iat: NOW,
  nbf: NOW,
  exp: NOW + 3600,
}

const RSA = generateKeyPairSync('rsa', { modulusLength: 2048 })
const P256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const ED25519 = generateKeyPairSync('ed25519')
const SECRET = createSecretKey(randomBytes(32))

interface Case {
  readonly alg: JwsAlgorithm
  readonly verifyWith: KeyObject
  readonly token: string
  readonly parsed: ParsedToken
}

async function makeCase(alg: JwsAlgorithm, signWith: KeyObject, verifyWith: KeyObject) {
  const token = await new SignJWT(CLAIMS).setProtectedHeader({ alg, kid: 'k1' }).sign(signWith)
  const parsed = parseToken(token, 8192)
  if (typeof parsed === 'string') throw new Error(`bench token refused: ${parsed}`)
  return { alg, verifyWith, token, parsed } satisfies Case
}

const CASES = [
  await makeCase('RS256', RSA.privateKey, RSA.publicKey),
  await makeCase('PS256', RSA.privateKey, RSA.publicKey),
  await makeCase('ES256', P256.privateKey, P256.publicKey),
  await makeCase('EdDSA', ED25519.privateKey, ED25519.publicKey),
  await makeCase('HS256', SECRET, SECRET),
]
const RS256 = CASES[0]!
const ES256 = CASES[2]!

const POLICY: ClaimPolicy = {
  issuer: CLAIMS.iss,
  audiences: new Set(['api://orders']),
  clockSkewS: 60,
  maxTokenAgeS: null,
  requiredClaims: ['exp'],
}

const KEYS = Array.from({ length: 20_000 }, () => randomBytes(32).toString('base64url'))
const HASHER = new TokenCache<number>(0)
const LRU_CANDIDATES: readonly [string, (capacity: number) => Lru][] = [
  ['TokenCache (linked list on typed arrays)', (capacity) => new TokenCache<number>(capacity)],
  ['Map, delete + set', (capacity) => new MapLru(capacity)],
  ['two generations of Maps', (capacity) => new GenerationsLru(capacity)],
]

/** Calls per iteration for the cheap steps: tinybench times each iteration, not each call. */
const BATCH = 1000
/** Calls per iteration for signature checks (20–150 µs each). */
const SIGNATURE_BATCH = 50
/** Verifies in flight per iteration of the pool bench. */
const POOL_BATCH = 64

function repeat(times: number, call: () => unknown): () => void {
  let sink = 0
  return () => {
    for (let i = 0; i < times; i++) if (call()) sink++
    if (sink === -1) throw new Error('unreachable: keeps the results alive')
  }
}

describe(`parse, claims, cache (${BATCH} calls per iteration)`, () => {
  bench(
    'parseToken (RS256 access token, 717 characters)',
    repeat(BATCH, () => parseToken(RS256.token, 8192)),
  )
  bench(
    'checkClaims',
    repeat(BATCH, () => checkClaims(RS256.parsed.payload, POLICY, NOW)),
  )
  const cache = new TokenCache<boolean>(10_000)
  cache.set(cache.keyOf(RS256.token), true, Number.MAX_SAFE_INTEGER)
  bench(
    'TokenCache keyOf + get (hit)',
    repeat(BATCH, () => cache.get(cache.keyOf(RS256.token), 0)),
  )
})

/**
 * The cache's candidates (src/jwt/cache.ts): how to hash the token, and which LRU. "Churn" is a
 * miss and an insert into a full cache (20 000 keys cycling through 10 000 entries), the case of
 * a flood of new tokens; "hit" reads 8 000 live keys.
 */
describe(`TokenCache candidates (${BATCH} calls per iteration)`, () => {
  bench(
    'keyOf: crypto.hash (one shot)',
    repeat(BATCH, () => HASHER.keyOf(RS256.token)),
  )
  bench(
    'keyOf: createHash().update().digest()',
    repeat(BATCH, () => createHash('sha256').update(RS256.token).digest('base64url')),
  )
  for (const [name, make] of LRU_CANDIDATES) {
    const lru = make(10_000)
    for (let i = 0; i < 8_000; i++) lru.set(KEYS[i]!, i, Number.MAX_SAFE_INTEGER)
    let at = 0
    bench(
      `${name}: hit`,
      repeat(BATCH, () => lru.get(KEYS[(at = (at + 7_919) % 8_000)]!, 0)),
    )
    bench(
      `${name}: churn`,
      repeat(BATCH, () => {
        const key = KEYS[(at = (at + 7_919) % KEYS.length)]!
        if (lru.get(key, 0) === undefined) lru.set(key, 1, Number.MAX_SAFE_INTEGER)
      }),
    )
  }
})

describe(`verifySignature inline, ${describeVerifier()} (${SIGNATURE_BATCH} calls per iteration)`, () => {
  for (const { alg, verifyWith, parsed } of CASES) {
    bench(
      alg,
      repeat(SIGNATURE_BATCH, () =>
        verifySignature(alg, verifyWith, parsed.signingInput, parsed.signature),
      ),
    )
  }
  // What the native verifier replaces for RS* and ES*: node:crypto's one-shot verify.
  bench(
    'RS256, node:crypto verify()',
    repeat(SIGNATURE_BATCH, () =>
      verify(
        'sha256',
        Buffer.from(RS256.parsed.signingInput),
        RS256.verifyWith,
        RS256.parsed.signature,
      ),
    ),
  )
  const es256Key = { key: ES256.verifyWith, dsaEncoding: 'ieee-p1363' } as const
  bench(
    'ES256, node:crypto verify()',
    repeat(SIGNATURE_BATCH, () =>
      verify('sha256', Buffer.from(ES256.parsed.signingInput), es256Key, ES256.parsed.signature),
    ),
  )
})

describe(`verify pool, 1 thread, ES256 (${POOL_BATCH} in flight per iteration)`, () => {
  const key: VerificationKey = {
    kid: 'k1',
    algorithms: new Set(['ES256']),
    key: ES256.verifyWith,
    id: 'bench-es256',
  }
  const { signingInput, signature } = ES256.parsed
  let pool: VerifyPool | null = null
  let verifies = 0
  let cpuStart = 0

  const verifyBatch = async (target: VerifyPool) => {
    const answers = await Promise.all(
      Array.from({ length: POOL_BATCH }, () =>
        target.verify('ES256', key, signingInput, signature),
      ),
    )
    if (!answers.every(Boolean)) throw new Error('pool refused a valid signature')
  }

  // tinybench runs setup and teardown around its warm-up and around the measured run (vitest
  // runs no afterAll in bench mode): each gets a started pool, the teardown prints and closes it.
  bench(
    'round trip',
    async () => {
      await verifyBatch(pool!)
      verifies += POOL_BATCH
    },
    {
      setup: async () => {
        pool = new VerifyPool(1)
        await verifyBatch(pool) // the thread is up and holds the key
        verifies = 0
        cpuStart = mainThreadCpuMicros()
      },
      // Not awaited by tinybench: nothing here may touch the next cycle's pool after a wait.
      teardown: (_task, mode) => {
        const cpu = mainThreadCpuMicros() - cpuStart
        if (mode === 'run' && Number.isFinite(cpu) && verifies > 0) {
          const perVerify = (cpu / verifies).toFixed(1)
          process.stderr.write(
            `verify pool: event-loop CPU ${perVerify} µs per verify (${verifies})\n`,
          )
        }
        void pool?.close()
        pool = null
      },
    },
  )
})

interface Lru {
  get(key: string, nowMs: number): number | undefined
  set(key: string, value: number, expiresAtMs: number): void
}

/** Map in recency order: delete + set on a hit, evict the first key. */
class MapLru implements Lru {
  readonly #map = new Map<string, { value: number; expiresAtMs: number }>()
  constructor(readonly capacity: number) {}
  get(key: string, nowMs: number): number | undefined {
    const entry = this.#map.get(key)
    if (entry === undefined) return undefined
    this.#map.delete(key)
    if (entry.expiresAtMs <= nowMs) return undefined
    this.#map.set(key, entry)
    return entry.value
  }
  set(key: string, value: number, expiresAtMs: number): void {
    if (!this.#map.delete(key) && this.#map.size >= this.capacity) {
      this.#map.delete(this.#map.keys().next().value!)
    }
    this.#map.set(key, { value, expiresAtMs })
  }
}

/** Two generations of Maps (quick-lru): a hit in the old one moves to the new one. */
class GenerationsLru implements Lru {
  #current = new Map<string, { value: number; expiresAtMs: number }>()
  #old = new Map<string, { value: number; expiresAtMs: number }>()
  readonly #half: number
  constructor(capacity: number) {
    this.#half = Math.max(1, capacity >> 1)
  }
  get(key: string, nowMs: number): number | undefined {
    let entry = this.#current.get(key)
    if (entry === undefined) {
      entry = this.#old.get(key)
      if (entry === undefined) return undefined
      this.#old.delete(key)
      this.#put(key, entry)
    }
    return entry.expiresAtMs <= nowMs ? undefined : entry.value
  }
  set(key: string, value: number, expiresAtMs: number): void {
    this.#old.delete(key)
    this.#put(key, { value, expiresAtMs })
  }
  #put(key: string, entry: { value: number; expiresAtMs: number }): void {
    if (this.#current.size >= this.#half) {
      this.#old = this.#current
      this.#current = new Map()
    }
    this.#current.set(key, entry)
  }
}

/** CPU time of the calling thread, the event loop's (Linux), NaN elsewhere. */
function mainThreadCpuMicros(): number {
  try {
    const stat = readFileSync('/proc/thread-self/schedstat', 'latin1')
    return Number(stat.split(' ')[0]) / 1000
  } catch {
    return Number.NaN
  }
}
