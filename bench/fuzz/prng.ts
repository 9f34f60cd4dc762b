/**
 * A small seeded PRNG (mulberry32) so that every fuzz case can be regenerated from the run's seed
 * and its index alone: `--seed S --only i` replays case i without the cases before it.
 */

export class Prng {
  #state: number

  constructor(seed: number) {
    this.#state = seed >>> 0
  }

  /** The generator of case `index` of the run seeded with `seed`. */
  static forCase(seed: number, index: number): Prng {
    // Mix the index so neighbouring cases do not start from neighbouring states.
    return new Prng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35))
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0
    let t = this.#state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!
  }

  /** Picks by weight: `[[weight, value], …]`. */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    let total = 0
    for (const [weight] of items) total += weight
    let at = this.next() * total
    for (const [weight, value] of items) {
      at -= weight
      if (at < 0) return value
    }
    return items[items.length - 1]![1]
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length)
    for (let i = 0; i < length; i++) out[i] = Math.floor(this.next() * 256)
    return out
  }
}

/** Bytes as a one-line JSON-style string: printable ASCII as is, the rest escaped. */
export function escapeBytes(bytes: Buffer, max = 4096): string {
  let out = ''
  const end = Math.min(bytes.length, max)
  for (let i = 0; i < end; i++) {
    const b = bytes[i]!
    if (b === 0x0d) out += '\\r'
    else if (b === 0x0a) out += '\\n'
    else if (b === 0x5c) out += '\\\\'
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b)
    else out += `\\x${b.toString(16).padStart(2, '0')}`
  }
  if (bytes.length > max) out += `… (${bytes.length - max} more bytes)`
  return out
}
