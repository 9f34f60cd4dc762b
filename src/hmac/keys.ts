/**
 * HMAC credentials of consumers (`consumers[].hmac_credentials`, and the credential store's): a
 * key id the client names in `keyid` (RFC 9421 §2.3) and the shared secret, decoded (or
 * decrypted) and held as a KeyObject once at load or sync.
 * The credential directory keeps them by key id, so finding the key of a request is one map probe.
 */
import { createSecretKey, type KeyObject } from 'node:crypto'
import type { Identity } from '../identity.js'

/** The HMAC algorithms of the RFC 9421 §6.2 registry. */
export const HMAC_ALGORITHMS = ['hmac-sha256'] as const
export type HmacAlgorithm = (typeof HMAC_ALGORITHMS)[number]

/** node:crypto's digest of each algorithm, and its MAC length in bytes. */
export const HMAC_DIGESTS: Readonly<Record<HmacAlgorithm, { hash: string; bytes: number }>> = {
  'hmac-sha256': { hash: 'sha256', bytes: 32 },
}

export const SECRET_ENCODINGS = ['utf8', 'base64', 'base64url', 'hex'] as const
export type SecretEncoding = (typeof SECRET_ENCODINGS)[number]

/**
 * RFC 2104 §3: a key shorter than the hash's output length weakens the MAC; SHA-256's is 32
 * bytes.
 */
export const MIN_SECRET_BYTES = 32

export interface HmacKey {
  readonly id: string
  readonly consumer: string
  readonly algorithm: HmacAlgorithm
  readonly secret: KeyObject
  readonly scopes: ReadonlySet<string>
  /** Unix seconds from which the key is refused (a rotated store credential); Infinity: never. */
  readonly expiresAt: number
  /** Built on first use, shared by every request signed with this key. */
  identity: Identity | null
}

/** The fields a key is compiled from. */
export interface HmacKeyFields {
  readonly key_id: string
  readonly secret: string
  readonly secret_encoding: SecretEncoding
  readonly algorithm: HmacAlgorithm
  readonly scopes: readonly string[]
}

/** The secret's bytes, or null when the text is not of its encoding. */
export function decodeSecret(secret: string, encoding: SecretEncoding): Buffer | null {
  if (encoding === 'utf8') return Buffer.from(secret, 'utf8')
  const bytes = Buffer.from(secret, encoding)
  // Buffer.from skips what it cannot decode: a round trip tells a typo from a secret.
  const again = bytes.toString(encoding)
  const hex = encoding === 'hex'
  const canonical = hex ? secret.toLowerCase() : secret.replace(/=+$/, '')
  const decoded = hex ? again.toLowerCase() : again.replace(/=+$/, '')
  return canonical === decoded ? bytes : null
}

export function createHmacKey(
  consumer: string,
  fields: Pick<HmacKeyFields, 'key_id' | 'algorithm' | 'scopes'>,
  secret: Buffer,
  expiresAt = Infinity,
): HmacKey {
  return {
    id: fields.key_id,
    consumer,
    algorithm: fields.algorithm,
    secret: createSecretKey(secret),
    scopes: new Set(fields.scopes),
    expiresAt,
    identity: null,
  }
}
