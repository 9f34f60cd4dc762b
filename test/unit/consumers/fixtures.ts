import type { StoredConsumer, StoredKey } from '../../../src/keys/records.js'

const AT = '2026-03-01T12:00:00Z'

/** A base64url string of hash length, distinct per `seed`. */
export function hashOf(seed: string): string {
  return Buffer.from(seed.padEnd(32, '.')).toString('base64url')
}

export function storedConsumer(name: string, change: Partial<StoredConsumer> = {}): StoredConsumer {
  return {
    name,
    groups: [],
    tier: null,
    metadata: {},
    disabled: false,
    created_at: AT,
    updated_at: AT,
    ...change,
  }
}

export function storedKey(
  id: string,
  consumer: string,
  change: Partial<StoredKey> = {},
): StoredKey {
  return {
    id,
    hash: hashOf(id),
    consumer,
    prefix: 'pc_live',
    last4: 'abcd',
    label: null,
    scopes: [],
    not_before: null,
    expires_at: null,
    allow_ips: [],
    state: 'active',
    created_at: AT,
    revoked_at: null,
    rotated_from: null,
    rotated_to: null,
    ...change,
  }
}
