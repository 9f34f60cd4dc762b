/**
 * HMAC secrets of the credential store, encrypted at rest: unlike an API key (kept as a hash), a
 * shared secret must be read back to verify a signature. AES-256-GCM (NIST SP 800-38D) with a
 * random 96-bit IV per secret, under the keys of `redis.encryption_keys`: the first seals, any
 * opens, chosen by the key id stored beside the ciphertext, so the master key rotates without
 * re-encrypting at once. The additional authenticated data names the consumer, the credential's
 * key id and the encryption key's id: a ciphertext copied into another record, or relabelled
 * with another encryption key id, fails to open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import type { ConfigProblem } from '../errors.js'
import { decodeSecret } from '../hmac/keys.js'
import type { SealedSecret } from '../keys/records.js'
import type { EncryptionKeyConfig } from './schema.js'

const CIPHER = 'aes-256-gcm'
/** AES-256. */
export const ENCRYPTION_KEY_BYTES = 32
/** SP 800-38D §8.2.2: a random IV of 96 bits. */
const IV_BYTES = 12
/** The full 128-bit tag; a shorter one would be accepted by node unless the length is pinned. */
const TAG_BYTES = 16
/** Versions the AAD's layout, so a later layout never opens an older ciphertext by accident. */
const AAD_LABEL = 'portcullis/hmac-secret/v1'

/** The record a secret belongs to: bound into the AAD. */
export interface SecretOwner {
  readonly consumer: string
  readonly keyId: string
}

/**
 * Why a sealed secret did not open: no key configured, its key id is not configured, or the key
 * of that id is not the one that sealed it (or the record was tampered with).
 */
export type OpenProblem = 'no_keys' | 'unknown_key' | 'mismatch'

export class SecretKeyring {
  readonly #keys: ReadonlyMap<string, Buffer>
  readonly #sealWith: string | null

  /** `keys` as checked by {@link checkEncryptionKeys}; a key that does not decode is left out. */
  constructor(keys: readonly EncryptionKeyConfig[]) {
    const decoded = new Map<string, Buffer>()
    for (const { id, key } of keys) {
      const bytes = decodeEncryptionKey(key)
      if (bytes !== null && !decoded.has(id)) decoded.set(id, bytes)
    }
    this.#keys = decoded
    this.#sealWith = keys.length > 0 && decoded.has(keys[0]!.id) ? keys[0]!.id : null
  }

  /** Whether a secret can be sealed: at least one key is configured. */
  get canSeal(): boolean {
    return this.#sealWith !== null
  }

  /** The id new secrets are sealed with; null without keys. */
  get sealingKey(): string | null {
    return this.#sealWith
  }

  seal(secret: Buffer, owner: SecretOwner): SealedSecret {
    const id = this.#sealWith
    if (id === null) throw new Error('no encryption key is configured (redis.encryption_keys)')
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv(CIPHER, this.#keys.get(id)!, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(aad(owner, id))
    const data = Buffer.concat([cipher.update(secret), cipher.final(), cipher.getAuthTag()])
    return { key: id, iv: iv.toString('base64'), data: data.toString('base64') }
  }

  open(sealed: SealedSecret, owner: SecretOwner): Buffer | OpenProblem {
    if (this.#keys.size === 0) return 'no_keys'
    const key = this.#keys.get(sealed.key)
    if (key === undefined) return 'unknown_key'
    const iv = Buffer.from(sealed.iv, 'base64')
    const data = Buffer.from(sealed.data, 'base64')
    if (iv.length !== IV_BYTES || data.length < TAG_BYTES) return 'mismatch'
    const decipher = createDecipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES })
    decipher.setAAD(aad(owner, sealed.key))
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES))
    try {
      return Buffer.concat([
        decipher.update(data.subarray(0, data.length - TAG_BYTES)),
        decipher.final(),
      ])
    } catch {
      // GCM's tag check: another key under the same id, or bytes changed in the store.
      return 'mismatch'
    }
  }
}

/** Unambiguous: JSON of the parts (no part can end another's string early). */
function aad(owner: SecretOwner, encryptionKeyId: string): Buffer {
  return Buffer.from(JSON.stringify([AAD_LABEL, owner.consumer, owner.keyId, encryptionKeyId]))
}

/** The 32 bytes of a key written in base64 or base64url; null when it is not exactly that. */
export function decodeEncryptionKey(text: string): Buffer | null {
  const bytes = decodeSecret(text, 'base64') ?? decodeSecret(text, 'base64url')
  return bytes !== null && bytes.length === ENCRYPTION_KEY_BYTES ? bytes : null
}

/** `redis.encryption_keys` beyond the schema: unique ids, keys of 32 bytes (never echoed). */
export function checkEncryptionKeys(
  keys: readonly EncryptionKeyConfig[],
  at = 'redis.encryption_keys',
): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  const seen = new Map<string, number>()
  keys.forEach(({ id, key }, i) => {
    const earlier = seen.get(id)
    if (earlier !== undefined) {
      problems.push({
        path: `${at}[${i}].id`,
        reason: `"${id}" is already the id of ${at}[${earlier}]: ids must be unique`,
      })
    } else seen.set(id, i)
    if (decodeEncryptionKey(key) === null) {
      const bytes = decodeSecret(key, 'base64') ?? decodeSecret(key, 'base64url')
      problems.push({
        path: `${at}[${i}].key`,
        reason:
          bytes === null
            ? `must be ${ENCRYPTION_KEY_BYTES} bytes in base64 or base64url (openssl rand -base64 32); it is not base64`
            : `must be ${ENCRYPTION_KEY_BYTES} bytes in base64 or base64url (openssl rand -base64 32); it decodes to ${bytes.length}`,
      })
    }
  })
  return problems
}
