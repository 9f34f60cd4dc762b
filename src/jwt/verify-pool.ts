/**
 * Signature verification on a piscina pool (workers/verify.ts), for the algorithms whose inline
 * cost is larger than what handing them to a thread costs the event loop.
 *
 * Handing a check to a thread costs the event loop a round trip, almost all of it piscina's own
 * per-task work (its options, atomics and recordTiming, do not change it). That round trip costs
 * more than an HMAC or a 2048-bit RSA check and less than an ES256, EdDSA or 3072-bit RSA one, so
 * 2048-bit RSA and HMAC stay inline, and the pool pays from ES256, EdDSA and 3072-bit RSA on
 * (shouldOffload). The cost of each check and of the round trip, with the command:
 * bench/RESULTS.md, "Figures behind the code".
 */
import type { KeyObject } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import type { Piscina } from 'piscina'

import { verifySignature } from './signature.js'
import type { JwsAlgorithm, VerificationKey } from './types.js'
import {
  ANSWER_NEEDS_KEY,
  ANSWER_THREAD_SHIFT,
  ANSWER_VALID,
  MAX_HELD_KEYS,
  type VerifyAnswer,
  type VerifyTask,
} from './verify-protocol.js'

export interface VerifyPoolOptions {
  /**
   * The built worker (dist/workers/verify.js). Default: next to this module once compiled; when
   * this module runs from its TypeScript source (vitest, tsx), the build under dist/.
   */
  readonly filename?: string
  /**
   * Tasks waiting for a thread, beyond which verify() checks inline instead: an overloaded pool
   * then slows the event loop down (back-pressure) rather than queueing latency without bound.
   */
  readonly maxQueue?: number
}

/** 64 waiting tasks per thread: a few milliseconds of ECDSA work each. */
const QUEUE_PER_THREAD = 64

/** piscina, loaded by the first pool: with `verify_threads: 0` (the default) a worker never needs it. */
let PiscinaClass: typeof Piscina | null = null

export class VerifyPool {
  readonly threads: number
  readonly #piscina: Piscina<VerifyTask, VerifyAnswer>
  readonly #maxQueue: number
  /** Key id → ids of the threads known to hold that key. */
  readonly #holders = new Map<string, Set<number>>()
  #keyTransfers = 0

  /** @param threads at least 1; with 0 verification threads, verify inline instead. */
  constructor(threads: number, options: VerifyPoolOptions = {}) {
    if (!Number.isInteger(threads) || threads < 1) {
      throw new RangeError(`VerifyPool needs at least one thread, got ${threads}`)
    }
    const filename = options.filename ?? defaultWorkerFilename()
    if (!existsSync(filename)) {
      throw new Error(
        `verify worker ${filename} not found: build with \`npx tsc -p tsconfig.json\``,
      )
    }
    this.threads = threads
    this.#maxQueue = options.maxQueue ?? threads * QUEUE_PER_THREAD
    PiscinaClass ??= (createRequire(import.meta.url)('piscina') as typeof import('piscina')).Piscina
    this.#piscina = new PiscinaClass<VerifyTask, VerifyAnswer>({
      filename,
      name: 'verify',
      // Fixed size: threads are never retired, so the keys they hold stay warm.
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Number.POSITIVE_INFINITY,
    })
  }

  /**
   * Checks a signature on a thread. Never rejects: when the queue is full, the pool is closed or
   * a thread fails, the check runs inline, with the same result.
   */
  async verify(
    alg: JwsAlgorithm,
    key: VerificationKey,
    signingInput: string,
    signature: Buffer,
  ): Promise<boolean> {
    if (this.#piscina.queueSize >= this.#maxQueue) {
      return verifySignature(alg, key.key, signingInput, signature)
    }
    const holders = this.#holders.get(key.id)
    const task: VerifyTask = {
      alg,
      keyId: key.id,
      key: holders !== undefined && holders.size >= this.threads ? null : key.key,
      signingInput,
      signature: ownBytes(signature),
    }
    let sent = task.key !== null
    if (sent) this.#keyTransfers++
    try {
      let answer = await this.#piscina.run(task)
      if ((answer & ANSWER_NEEDS_KEY) !== 0) {
        // A thread replaced since: send the key along again until every thread confirms.
        this.#holders.delete(key.id)
        this.#keyTransfers++
        sent = true
        answer = await this.#piscina.run({ ...task, key: key.key })
        if ((answer & ANSWER_NEEDS_KEY) !== 0) throw new Error('verify thread refused a key')
      }
      if (sent) this.#confirm(key.id, answer >>> ANSWER_THREAD_SHIFT)
      return (answer & ANSWER_VALID) !== 0
    } catch {
      return verifySignature(alg, key.key, signingInput, signature)
    }
  }

  /** Tasks that carried their key to a thread, since the start. */
  get keyTransfers(): number {
    return this.#keyTransfers
  }

  #confirm(keyId: string, threadId: number): void {
    let holders = this.#holders.get(keyId)
    if (holders === undefined) {
      // Bounded like the threads' own key maps: forgetting only means sending keys again.
      if (this.#holders.size >= MAX_HELD_KEYS) this.#holders.clear()
      holders = new Set()
      this.#holders.set(keyId, holders)
    }
    holders.add(threadId)
  }

  /** Waits for the tasks in flight, then ends the threads. */
  close(): Promise<void> {
    return this.#piscina.close()
  }
}

/**
 * RSA moduli from which a public-key operation costs about a round trip or more (bench/RESULTS.md,
 * "Figures behind the code"). At break-even the pool still wins, since the event loop's core is
 * the scarce one.
 */
const OFFLOAD_RSA_BITS = 3072

/**
 * Whether a check with `alg` should go to the pool: only when a pool exists and the inline check
 * costs the event loop more than a round trip does (see the top of this file). Decide once
 * per key and algorithm, at key load.
 *
 * @param key the verification key, for RSA: its modulus decides
 */
export function shouldOffload(alg: JwsAlgorithm, poolThreads: number, key?: KeyObject): boolean {
  if (poolThreads <= 0) return false
  if (alg === 'EdDSA' || alg.startsWith('ES')) return true
  if (alg.startsWith('RS') || alg.startsWith('PS')) {
    return (key?.asymmetricKeyDetails?.modulusLength ?? 0) >= OFFLOAD_RSA_BITS
  }
  return false
}

/**
 * Node's small Buffers are views of a shared 8 KiB pool, and structured clone copies a view's
 * whole ArrayBuffer: a 256-byte signature would carry 8 KiB across. Copy it to its own bytes.
 */
function ownBytes(bytes: Buffer): Uint8Array {
  return bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes)
}

function defaultWorkerFilename(): string {
  // Compiled, dist/src/jwt/verify-pool.js sits two levels below dist/, next to dist/workers/.
  const here = import.meta.url
  const relative = here.endsWith('.ts') ? '../../dist/workers/verify.js' : '../../workers/verify.js'
  return fileURLToPath(new URL(relative, here))
}
