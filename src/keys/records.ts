/**
 * The records the credential store keeps in Redis (state/credential-layout.ts): the admin API
 * writes them, workers read them. JSON, times as RFC 3339 strings. A key record never holds the
 * key itself: only its hash and what is needed to recognise it on a screen. An HMAC credential
 * holds its secret encrypted (state/secret-box.ts): the gateway must read it back to verify.
 */
import type { HmacAlgorithm } from '../hmac/keys.js'

export interface StoredConsumer {
  readonly name: string
  readonly groups: readonly string[]
  readonly tier: string | null
  /** Free fields forwarded to upstreams by headers.consumer.metadata (tenant…). */
  readonly metadata: Readonly<Record<string, string>>
  readonly disabled: boolean
  /** Client address rules; absent in older records (any address). */
  readonly ip?: { readonly allow?: readonly string[]; readonly deny?: readonly string[] } | null
  readonly created_at: string
  readonly updated_at: string
}

export type StoredKeyState = 'active' | 'revoked'

export interface StoredKey {
  /** `key_` and 16 base62 characters: names the key in the admin API, logs and usage. */
  readonly id: string
  /** keys/hash.ts of the full key. */
  readonly hash: string
  readonly consumer: string
  readonly prefix: string
  readonly last4: string
  readonly label: string | null
  readonly scopes: readonly string[]
  readonly not_before: string | null
  readonly expires_at: string | null
  /** CIDR blocks or addresses, IPv4 and IPv6; empty: any address. */
  readonly allow_ips: readonly string[]
  /** CIDR blocks or addresses refused even when allow_ips admits them; absent in older records. */
  readonly deny_ips?: readonly string[]
  readonly state: StoredKeyState
  readonly created_at: string
  readonly revoked_at: string | null
  /** Rotation: the key this one replaced, and the key that replaced this one. */
  readonly rotated_from: string | null
  readonly rotated_to: string | null
}

/** A secret as the store keeps it (state/secret-box.ts): never in clear. */
export interface SealedSecret {
  /** Id of the `redis.encryption_keys` entry that sealed it. */
  readonly key: string
  /** The 96-bit IV, base64. */
  readonly iv: string
  /** Ciphertext followed by the 16-byte GCM tag, base64. */
  readonly data: string
}

export interface StoredHmacCredential {
  /** The RFC 9421 `keyid` a signed request names; the record's id in the admin API. */
  readonly key_id: string
  readonly consumer: string
  readonly algorithm: HmacAlgorithm
  readonly scopes: readonly string[]
  readonly label: string | null
  readonly secret: SealedSecret
  readonly state: StoredKeyState
  /** Refused from then on; set on the replaced credential by a rotation. */
  readonly expires_at: string | null
  readonly created_at: string
  readonly revoked_at: string | null
  readonly rotated_from: string | null
  readonly rotated_to: string | null
}
