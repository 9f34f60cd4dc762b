/**
 * HMAC (RFC 2104) of a signature base, as two one-shot hashes over per-key padded blocks:
 * H((K ^ opad) || H((K ^ ipad) || base)). `createHmac` builds a stream object, a native context
 * and fetches the digest by name on every call, and hashes both padded keys again each time;
 * here the padded keys are made once per key and the base is written straight after the inner
 * one, in a buffer the signer owns, so a request allocates only the two digests.
 *
 * @see https://www.rfc-editor.org/rfc/rfc2104#section-2 Definition of HMAC
 */
import { hash } from 'node:crypto'
import type { HmacAlgorithm, HmacKey } from './keys.js'

/** The hash of each algorithm, its block length and its output length, in bytes. */
const HASHES: Readonly<Record<HmacAlgorithm, { name: string; block: number; bytes: number }>> = {
  'hmac-sha256': { name: 'sha256', block: 64, bytes: 32 },
}

/** Bytes of the algorithm's MAC. */
export function macBytes(algorithm: HmacAlgorithm): number {
  return HASHES[algorithm].bytes
}

/** Room for a base of usual size; a longer one grows the buffer once. */
const INITIAL_BASE_BYTES = 2048
/** Views are kept for bases up to this length only, so odd lengths cannot pile them up. */
const KEPT_VIEW_BYTES = 1024

/** A key's padded blocks: inner is (K ^ ipad) then room for the base, outer (K ^ opad) || H. */
interface PaddedKey {
  readonly algorithm: HmacAlgorithm
  inner: Buffer
  readonly outer: Buffer
  /** Views of `inner` by length: hash() takes whole views, and bases repeat their lengths. */
  views: (Buffer | undefined)[]
  /** The last MAC made with this key. */
  readonly mac: Buffer
}

export class SignatureMac {
  readonly #padded = new WeakMap<HmacKey, PaddedKey>()
  /** The key of the previous request: most requests of a route come from few keys. */
  #lastKey: HmacKey | null = null
  #lastPadded: PaddedKey | null = null

  /**
   * The MAC of the UTF-8 bytes of `base` under `key`, in a buffer this signer reuses: read it
   * before the next call.
   */
  sign(key: HmacKey, base: string): Buffer {
    const padded = this.#paddedKey(key)
    const spec = HASHES[padded.algorithm]
    const block = spec.block
    // UTF-8 takes at most 3 bytes per UTF-16 unit: grow before writing so nothing is cut.
    if (block + base.length * 3 > padded.inner.length) growInner(padded, base.length * 3)
    const length = block + padded.inner.write(base, block, 'utf8')
    const view =
      length <= KEPT_VIEW_BYTES
        ? (padded.views[length] ??= padded.inner.subarray(0, length))
        : padded.inner.subarray(0, length)
    // Digests as one-byte strings: a string costs less to make than a Buffer.
    padded.outer.write(hash(spec.name, view, 'binary'), block, 'latin1')
    padded.mac.write(hash(spec.name, padded.outer, 'binary'), 0, 'latin1')
    return padded.mac
  }

  #paddedKey(key: HmacKey): PaddedKey {
    if (key === this.#lastKey) return this.#lastPadded!
    let padded = this.#padded.get(key)
    if (padded === undefined) {
      padded = padKey(key)
      this.#padded.set(key, padded)
    }
    this.#lastKey = key
    this.#lastPadded = padded
    return padded
  }
}

function padKey(key: HmacKey): PaddedKey {
  const spec = HASHES[key.algorithm]
  let secret = key.secret.export()
  // RFC 2104 §2: a key longer than the block is hashed first.
  if (secret.length > spec.block) secret = hash(spec.name, secret, 'buffer')
  const inner = Buffer.alloc(spec.block + INITIAL_BASE_BYTES, 0)
  const outer = Buffer.alloc(spec.block + spec.bytes, 0)
  secret.copy(inner)
  secret.copy(outer)
  for (let i = 0; i < spec.block; i++) {
    inner[i]! ^= 0x36
    outer[i]! ^= 0x5c
  }
  secret.fill(0)
  return { algorithm: key.algorithm, inner, outer, views: [], mac: Buffer.alloc(spec.bytes) }
}

function growInner(padded: PaddedKey, baseBytes: number): void {
  const block = HASHES[padded.algorithm].block
  const inner = Buffer.alloc(block + Math.max(baseBytes, 2 * (padded.inner.length - block)), 0)
  padded.inner.copy(inner, 0, 0, block)
  padded.inner.fill(0)
  padded.inner = inner
  padded.views = []
}
