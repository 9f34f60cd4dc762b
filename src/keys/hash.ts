/**
 * What the store and the config keep instead of a key: base64url of SHA-256(pepper ‖ key), or of
 * SHA-256(key) without a pepper. Every request with a key pays one hash, so it is node's one-shot
 * crypto.hash rather than a Hash or Hmac object; the pepper is a prefix of fixed length, and a
 * stored hash is only ever compared whole, so length extension gives an attacker nothing. A pepper (`api_keys.pepper`, from `${ENV}`) keeps a leaked
 * store from being checked against guessed keys; keys carry 178 random bits, so neither needs a
 * slow hash.
 */
import { hash } from 'node:crypto'

/** The shape {@link KeyHasher.hash} produces: 32 bytes in unpadded base64url. */
export const KEY_HASH_PATTERN = '^[A-Za-z0-9_-]{43}$'
export const KEY_HASH_REASON =
  'must be the hash `portcullis keys hash` prints: 43 base64url characters (A-Z a-z 0-9 - _)'

const keyHashPattern = new RegExp(KEY_HASH_PATTERN)

export function isKeyHash(text: string): boolean {
  return keyHashPattern.test(text)
}

export class KeyHasher {
  readonly #pepper: string | null

  constructor(pepper: string | null) {
    this.#pepper = pepper === '' ? null : pepper
  }

  /** Whether a pepper is set: a key hashed without one matches no hash made with one. */
  get peppered(): boolean {
    return this.#pepper !== null
  }

  hash(key: string): string {
    const pepper = this.#pepper
    return hash('sha256', pepper === null ? key : pepper + key, 'base64url')
  }
}
