/**
 * A bounded LRU of token verdicts, so a repeated token costs a hash and a lookup instead of a
 * signature check. Entries are keyed by the SHA-256 of the token: the cache never holds a raw
 * bearer token, and a collision (which would hand one token the verdict of another) is as hard
 * as a SHA-256 collision. A non-cryptographic hash would not do here.
 *
 * Exact LRU on a doubly linked list over typed arrays, with a Map from key to slot: every
 * operation is O(1) in the worst case and allocates nothing once the slots exist. It beat a Map
 * with delete + set on a hit and two generations of Maps (quick-lru) on both a hit and a miss
 * into a full cache (bench/RESULTS.md, "Figures behind the code").
 *
 * Evicting a Map's oldest entry through `keys().next()` is O(n) in V8: deleted entries stay as
 * holes at the front of the table until the next rehash, and each new iterator walks them. A
 * second-chance bit on a Map in insertion order has the same flaw.
 *
 * Hashing dominates a lookup. Most of what `crypto.hash('sha256', token, 'base64url')` costs is
 * OpenSSL 3 fetching the algorithm again on every call; the native module's `tokenKey` gives the
 * same key without that fetch and is used whenever the native verifier runs. SHA-512, BLAKE2 and
 * SHA3 were all slower than SHA-256 here (the CPU has SHA extensions).
 */
import { hash } from 'node:crypto'
import { nativeVerifier } from './native-verify.js'

const nodeTokenKey = (token: string): string => hash('sha256', token, 'base64url')
/** Chosen on first use: the verifier choice (PORTCULLIS_VERIFIER) is made after imports. */
let tokenKey: ((token: string) => string) | null = null

/** The cache key of a token: its SHA-256, base64url (43 characters), natively when it can. */
export function tokenCacheKey(token: string): string {
  return (tokenKey ??= nativeVerifier()?.tokenKey ?? nodeTokenKey)(token)
}

/** Slot index meaning "none" in the linked list. */
const NIL = -1

export class TokenCache<V> {
  readonly capacity: number
  readonly #slots = new Map<string, number>()
  readonly #keys: (string | undefined)[]
  readonly #values: (V | undefined)[]
  readonly #expiresAtMs: Float64Array
  readonly #next: Int32Array
  readonly #prev: Int32Array
  /** Least recently used. */
  #head = NIL
  /** Most recently used. */
  #tail = NIL
  /** Slots handed out so far; all of them once the cache has been full. */
  #used = 0

  /** @param capacity entries kept; 0 disables the cache (every get misses, set does nothing). */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw new RangeError(`TokenCache capacity must be a non-negative integer, got ${capacity}`)
    }
    this.capacity = capacity
    this.#keys = new Array<string | undefined>(capacity).fill(undefined)
    this.#values = new Array<V | undefined>(capacity).fill(undefined)
    this.#expiresAtMs = new Float64Array(capacity)
    this.#next = new Int32Array(capacity)
    this.#prev = new Int32Array(capacity)
  }

  /** Entries held, expired ones not yet dropped included. */
  get size(): number {
    return this.#slots.size
  }

  /** The cache key of a token: its SHA-256, base64url (43 characters). */
  keyOf(token: string): string {
    return tokenCacheKey(token)
  }

  /** The value stored under `key`, unless it expired at or before `nowMs` (then it is dropped). */
  get(key: string, nowMs: number): V | undefined {
    const slot = this.#slots.get(key)
    if (slot === undefined) return undefined
    // Negated so that a NaN expiry counts as expired.
    if (!(this.#expiresAtMs[slot]! > nowMs)) {
      this.#drop(key, slot)
      return undefined
    }
    this.#moveToTail(slot)
    return this.#values[slot]
  }

  /**
   * Stores a value until `expiresAtMs` (the token's exp for a verdict that it is valid, a short
   * time for one that it is not), evicting the least recently used entry when full.
   */
  set(key: string, value: V, expiresAtMs: number): void {
    if (this.capacity === 0) return
    let slot = this.#slots.get(key)
    if (slot === undefined) {
      if (this.#used < this.capacity) {
        slot = this.#used++
        this.#append(slot)
      } else {
        // The head is the least recently used entry, or a slot freed by #drop.
        slot = this.#head
        const evicted = this.#keys[slot]
        if (evicted !== undefined) this.#slots.delete(evicted)
        this.#moveToTail(slot)
      }
      this.#keys[slot] = key
      this.#slots.set(key, slot)
    } else {
      this.#moveToTail(slot)
    }
    this.#values[slot] = value
    this.#expiresAtMs[slot] = expiresAtMs
  }

  clear(): void {
    this.#slots.clear()
    this.#keys.fill(undefined)
    this.#values.fill(undefined)
    this.#head = NIL
    this.#tail = NIL
    this.#used = 0
  }

  /** Forgets an entry and moves its slot to the head, so the next insertion reuses it. */
  #drop(key: string, slot: number): void {
    this.#slots.delete(key)
    this.#keys[slot] = undefined
    this.#values[slot] = undefined
    if (slot === this.#head) return
    this.#unlink(slot)
    this.#next[slot] = this.#head
    this.#prev[slot] = NIL
    this.#prev[this.#head] = slot
    this.#head = slot
  }

  #moveToTail(slot: number): void {
    if (slot === this.#tail) return
    this.#unlink(slot)
    this.#append(slot)
  }

  #append(slot: number): void {
    this.#prev[slot] = this.#tail
    this.#next[slot] = NIL
    if (this.#tail === NIL) this.#head = slot
    else this.#next[this.#tail] = slot
    this.#tail = slot
  }

  #unlink(slot: number): void {
    const prev = this.#prev[slot]!
    const next = this.#next[slot]!
    if (prev === NIL) this.#head = next
    else this.#next[prev] = next
    if (next === NIL) this.#tail = prev
    else this.#prev[next] = prev
  }
}
