/**
 * Verify thread (piscina): checks one JWS signature with the same code as inline verification.
 *
 * Keys are kept by VerificationKey.id, the identity of the key material: a task carries the key
 * only until every thread has confirmed holding it, and a thread asked to use a key it lacks
 * answers NEEDS_KEY. Ids name the material, never a `kid`, so a rotated key published under an
 * old kid cannot be served from here. The protocol is described in src/jwt/verify-pool.ts.
 */
import type { KeyObject } from 'node:crypto'
import { threadId } from 'node:worker_threads'

import { verifySignature } from '../src/jwt/signature.js'
import type { VerifyAnswer, VerifyTask } from '../src/jwt/verify-pool.js'

// The answer bits of src/jwt/verify-pool.ts (a worker must not load the pool and piscina).
const VALID = 1
const NEEDS_KEY = 2
const THREAD = threadId << 2

/**
 * Keys held per thread. Issuers hold a handful of keys and rotate them slowly; the bound only
 * stops a thread from growing without end over months of rotations. Overflow forgets every key,
 * and each is sent again on its next use.
 */
const MAX_KEYS = 1024

const keys = new Map<string, KeyObject>()

export function verify(task: VerifyTask): VerifyAnswer {
  let key = task.key
  if (key === null) {
    key = keys.get(task.keyId) ?? null
    if (key === null) return THREAD | NEEDS_KEY
  } else if (!keys.has(task.keyId)) {
    if (keys.size >= MAX_KEYS) keys.clear()
    keys.set(task.keyId, key)
  } else {
    // Already held: verify with the held KeyObject, whose facts signature.ts has prepared.
    key = keys.get(task.keyId)!
  }
  return verifySignature(task.alg, key, task.signingInput, task.signature) ? THREAD | VALID : THREAD
}
