/**
 * The thread boundary of the verify pool (verify-pool.ts ↔ workers/verify.ts), in a module of its
 * own so a verify thread loads neither piscina nor the pool.
 */
import type { KeyObject } from 'node:crypto'
import type { JwsAlgorithm } from './types.js'

/**
 * One signature to check. The main thread cannot choose the thread piscina picks, so the key
 * travels with the task until every thread has confirmed holding it (each answer names its
 * thread); from then on only its id does. A thread that lacks the key all the same (it replaced
 * one that died) answers NEEDS_KEY and receives the task again with the key. Sending the key is
 * never needed for correctness, only skipped to save its clone (figures above).
 */
export interface VerifyTask {
  readonly alg: JwsAlgorithm
  /** VerificationKey.id: the identity of the key material. */
  readonly keyId: string
  readonly key: KeyObject | null
  readonly signingInput: string
  /** A Buffer here, a Uint8Array on the thread (structured clone). */
  readonly signature: Uint8Array
}

/** `threadId << 2 | ANSWER_VALID | ANSWER_NEEDS_KEY`: one number, nothing to allocate. */
export type VerifyAnswer = number

/** The signature is valid. */
export const ANSWER_VALID = 1
/** The thread does not hold the key: send the task again with it. */
export const ANSWER_NEEDS_KEY = 2
export const ANSWER_THREAD_SHIFT = 2

/**
 * Keys held per thread (and key ids the pool tracks). Issuers hold a handful of keys and rotate
 * them slowly; the bound only stops growth over months of rotations. Overflow forgets every key,
 * and each is sent again on its next use.
 */
export const MAX_HELD_KEYS = 1024
