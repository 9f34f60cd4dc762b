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
import {
  ANSWER_NEEDS_KEY,
  ANSWER_THREAD_SHIFT,
  ANSWER_VALID,
  MAX_HELD_KEYS,
  type VerifyAnswer,
  type VerifyTask,
} from '../src/jwt/verify-protocol.js'

const THREAD = threadId << ANSWER_THREAD_SHIFT

const keys = new Map<string, KeyObject>()

export function verify(task: VerifyTask): VerifyAnswer {
  let key = task.key
  if (key === null) {
    key = keys.get(task.keyId) ?? null
    if (key === null) return THREAD | ANSWER_NEEDS_KEY
  } else if (!keys.has(task.keyId)) {
    if (keys.size >= MAX_HELD_KEYS) keys.clear()
    keys.set(task.keyId, key)
  } else {
    // Already held: verify with the held KeyObject, whose facts signature.ts has prepared.
    key = keys.get(task.keyId)!
  }
  return verifySignature(task.alg, key, task.signingInput, task.signature)
    ? THREAD | ANSWER_VALID
    : THREAD
}
