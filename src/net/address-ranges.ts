/**
 * A set of address blocks compiled for lookup: the blocks of a list (consumers/address-list.ts
 * parses and canonicalizes them) become sorted, merged ranges per family, IPv4 as unsigned 32-bit
 * numbers and IPv6 as four 32-bit words compared most significant first. A lookup is a binary
 * search over the ranges: no scan of the entries, no allocation once the address is read.
 *
 * Families stay apart: an IPv4 client (IPv4-mapped included) is matched against IPv4 blocks
 * (`::ffff:10.0.0.0/104` is one, parseAddressBlock says so), an IPv6 client against IPv6 blocks;
 * `::/0` is every IPv6 address, `0.0.0.0/0` every IPv4 one.
 *
 * @example
 *   const ranges = createAddressRanges(blocks)
 *   const reader = new AddressReader()
 *   reader.read('::ffff:10.1.2.3')
 *   ranges.includes(reader) // true when 10.0.0.0/8 is among the blocks
 */
import type { AddressBlock } from '../consumers/address-list.js'
import { AddressReader } from './address-reader.js'

const WORDS = 4

export class AddressRanges {
  /** Range i is [starts[i], ends[i]], both inclusive; sorted, disjoint and not adjacent. */
  readonly #ipv4Starts: Uint32Array
  readonly #ipv4Ends: Uint32Array
  /** Range i is words [4i, 4i + 4) of each. */
  readonly #ipv6Starts: Uint32Array
  readonly #ipv6Ends: Uint32Array

  constructor(ipv4: readonly Range[], ipv6: readonly Range[]) {
    this.#ipv4Starts = Uint32Array.from(ipv4, (range) => range.start[0]!)
    this.#ipv4Ends = Uint32Array.from(ipv4, (range) => range.end[0]!)
    this.#ipv6Starts = new Uint32Array(ipv6.length * WORDS)
    this.#ipv6Ends = new Uint32Array(ipv6.length * WORDS)
    ipv6.forEach((range, i) => {
      this.#ipv6Starts.set(range.start, i * WORDS)
      this.#ipv6Ends.set(range.end, i * WORDS)
    })
  }

  /** How many merged ranges the blocks made, both families. */
  get rangeCount(): number {
    return this.#ipv4Starts.length + this.#ipv6Starts.length / WORDS
  }

  /** Whether the address `reader` last read lies in a range; an unread address lies in none. */
  includes(reader: AddressReader): boolean {
    if (reader.family === 4) return this.#includesIpv4(reader.ipv4)
    if (reader.family === 6) return this.#includesIpv6(reader.ipv6)
    return false
  }

  #includesIpv4(address: number): boolean {
    const starts = this.#ipv4Starts
    // The last range starting at or below the address is the only one that can hold it.
    let low = 0
    let high = starts.length - 1
    let found = -1
    while (low <= high) {
      const middle = (low + high) >>> 1
      if (starts[middle]! <= address) {
        found = middle
        low = middle + 1
      } else {
        high = middle - 1
      }
    }
    return found >= 0 && address <= this.#ipv4Ends[found]!
  }

  #includesIpv6(address: Uint32Array): boolean {
    const starts = this.#ipv6Starts
    let low = 0
    let high = starts.length / WORDS - 1
    let found = -1
    while (low <= high) {
      const middle = (low + high) >>> 1
      if (compareWords(starts, middle * WORDS, address, 0) <= 0) {
        found = middle
        low = middle + 1
      } else {
        high = middle - 1
      }
    }
    return found >= 0 && compareWords(address, 0, this.#ipv6Ends, found * WORDS) <= 0
  }
}

/** Compiles `blocks` (parsed by parseAddressBlock) into ranges; once per config. */
export function createAddressRanges(blocks: readonly AddressBlock[]): AddressRanges {
  const reader = new AddressReader()
  const ipv4: Range[] = []
  const ipv6: Range[] = []
  for (const block of blocks) {
    const family = reader.read(block.network)
    if (family === 4) ipv4.push(blockRange(Uint32Array.of(reader.ipv4), block.prefix))
    else if (family === 6) ipv6.push(blockRange(Uint32Array.from(reader.ipv6), block.prefix))
    else throw new Error(`not a parsed address block: ${block.network}/${block.prefix}`)
  }
  return new AddressRanges(mergeRanges(ipv4), mergeRanges(ipv6))
}

/** An inclusive range of addresses, each as its 32-bit words (one for IPv4, four for IPv6). */
interface Range {
  readonly start: Uint32Array
  readonly end: Uint32Array
}

/** The block `network/prefix` as a range: its end is the network with every host bit set. */
function blockRange(network: Uint32Array, prefix: number): Range {
  const end = Uint32Array.from(network)
  for (let i = 0; i < end.length; i++) {
    const kept = Math.min(32, Math.max(0, prefix - 32 * i))
    // `>>> 32` would shift by 0, so a fully kept word is handled apart.
    const hostBits = kept === 32 ? 0 : 0xffffffff >>> kept
    end[i] = (end[i]! | hostBits) >>> 0
  }
  return { start: network, end }
}

/** Sorted by start, overlapping and adjacent ranges joined. */
function mergeRanges(ranges: Range[]): Range[] {
  ranges.sort((a, b) => compareWords(a.start, 0, b.start, 0))
  const merged: Range[] = []
  for (const range of ranges) {
    const last = merged[merged.length - 1]
    if (last !== undefined && touches(last.end, range.start)) {
      if (compareWords(range.end, 0, last.end, 0) > 0)
        merged[merged.length - 1] = { start: last.start, end: range.end }
    } else {
      merged.push(range)
    }
  }
  return merged
}

/** Whether `start` is at or before the address right after `end` (so the ranges join). */
function touches(end: Uint32Array, start: Uint32Array): boolean {
  if (compareWords(start, 0, end, 0) <= 0) return true
  const next = Uint32Array.from(end)
  for (let i = next.length - 1; i >= 0; i--) {
    next[i] = (next[i]! + 1) >>> 0
    if (next[i] !== 0) break
    // A carry past the first word: `end` is the family's last address, nothing comes after.
    if (i === 0) return true
  }
  return compareWords(start, 0, next, 0) <= 0
}

/** Compares the words of `a` from `at` with those of `b` from `bt`, most significant first. */
function compareWords(a: Uint32Array, at: number, b: Uint32Array, bt: number): number {
  const length = Math.min(a.length - at, b.length - bt, WORDS)
  for (let i = 0; i < length; i++) {
    const difference = a[at + i]! - b[bt + i]!
    if (difference !== 0) return difference
  }
  return 0
}
