/**
 * The signatures a worker accepted, remembered until they could no longer be accepted anyway
 * (their `created` falls out of the route's window): a second request with one of them is a
 * replay (RFC 9421 §7.2.2). The same signature always carries the same `created`, so it always
 * lands in the same bucket: one set probe per request, and a whole bucket is dropped once its
 * time is past. Memory is bounded: when the memory is full, no new signature is accepted until
 * buckets expire (refusing is the only answer that keeps the replay guarantee).
 *
 * Per worker: a replay sent to another worker of the same gateway is not seen (docs/configuration.md
 * says so); the signature's short window bounds what that allows.
 */

/** Entries one worker remembers at most; a signature is a 44-character string, about 100 bytes held. */
export const REPLAY_CAPACITY = 1_000_000
/** Seconds of `forget` time one bucket spans. */
const BUCKET_SECONDS = 10

export type Remembered = 'new' | 'replay' | 'full'

export class SignatureMemory {
  readonly #buckets = new Map<number, Set<string>>()
  readonly #capacity: number
  #size = 0
  /** The second of the last sweep: expired buckets are looked for at most once a second. */
  #sweptAt = 0

  constructor(capacity = REPLAY_CAPACITY) {
    this.#capacity = capacity
  }

  get size(): number {
    return this.#size
  }

  /**
   * Remembers `signature` until `forgetAt` (seconds) unless it is already known: 'replay'
   * then, 'full' when there is no room, 'new' when remembered now.
   */
  remember(signature: string, forgetAt: number, now: number): Remembered {
    if (now !== this.#sweptAt) this.#sweep(now)
    const slot = Math.floor(forgetAt / BUCKET_SECONDS)
    let bucket = this.#buckets.get(slot)
    if (bucket !== undefined && bucket.has(signature)) return 'replay'
    if (this.#size >= this.#capacity) return 'full'
    if (bucket === undefined) {
      bucket = new Set()
      this.#buckets.set(slot, bucket)
    }
    bucket.add(signature)
    this.#size++
    return 'new'
  }

  /** Drops the buckets whose every entry's time is past. */
  #sweep(now: number): void {
    this.#sweptAt = now
    for (const [slot, bucket] of this.#buckets) {
      if ((slot + 1) * BUCKET_SECONDS <= now) {
        this.#size -= bucket.size
        this.#buckets.delete(slot)
      }
    }
  }
}
