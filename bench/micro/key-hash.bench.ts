/**
 * What hashing an API key costs per request (src/keys/hash.ts): node's one-shot crypto.hash with
 * the pepper as a prefix, against a Hash object and an Hmac object per call, which the first
 * version used. Run with `npx vitest bench --run bench/micro/key-hash.bench.ts`.
 */
import { createHash, createHmac, hash } from 'node:crypto'
import { bench, describe } from 'vitest'
import { generateApiKey } from '../../src/keys/format.js'

const KEYS = Array.from({ length: 100 }, () => generateApiKey('pc_live'))
const PEPPER = 'p'.repeat(40)
let next = 0

function key(): string {
  next = (next + 1) % KEYS.length
  return KEYS[next]!
}

describe('hash of an API key', () => {
  bench('crypto.hash, pepper prefixed (keys/hash.ts)', () => {
    hash('sha256', PEPPER + key(), 'base64url')
  })
  bench('createHash per call', () => {
    createHash('sha256').update(key()).digest('base64url')
  })
  bench('createHmac per call', () => {
    createHmac('sha256', PEPPER).update(key()).digest('base64url')
  })
})
