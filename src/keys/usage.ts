/**
 * Per-key usage counted in memory: requests admitted and refused, last use and last client
 * address. The authenticate stage records synchronously; state/key-usage-flush.ts drains the
 * counts on a timer (`api_keys.usage_flush`) and writes them to Redis in one pipeline, so the
 * request path never waits on Redis.
 */

export interface KeyUsageCount {
  admitted: number
  refused: number
  /** Milliseconds since the epoch. */
  lastUsedMs: number
  lastAddress: string
}

export class KeyUsage {
  #counts = new Map<string, KeyUsageCount>()
  readonly #now: () => number

  constructor(now: () => number = Date.now) {
    this.#now = now
  }

  /** Counts one request presenting key `id`; allocates only for a key first seen since the last drain. */
  record(id: string, admitted: boolean, address: string): void {
    let count = this.#counts.get(id)
    if (count === undefined) {
      count = { admitted: 0, refused: 0, lastUsedMs: 0, lastAddress: '' }
      this.#counts.set(id, count)
    }
    if (admitted) count.admitted++
    else count.refused++
    count.lastUsedMs = this.#now()
    count.lastAddress = address
  }

  /** The counts since the last drain, by key id; counting starts again from zero. */
  drain(): Map<string, KeyUsageCount> {
    const counts = this.#counts
    this.#counts = new Map()
    return counts
  }

  /** Keys counted since the last drain. */
  get size(): number {
    return this.#counts.size
  }
}
