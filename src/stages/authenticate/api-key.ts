/**
 * Checks an API key (keys/format.ts) for a route, synchronously and without the network: its
 * form and checksum first (a typo or a truncated key costs no hash and no lookup), then its hash
 * (keys/hash.ts) in the worker's credential directory, then the state of what it finds: the
 * consumer known and enabled, the key not revoked, inside not_before/expires_at, and the client
 * address in the key's allow-list. These are read on every request, so a revocation, an expiry
 * or a disabled consumer holds from the next request on; only the identity object is built once
 * per key entry and reused.
 *
 * Usage (admitted and refused) is counted for every key the directory knows (keys/usage.ts):
 * in memory, flushed to Redis by a timer, never on the request path.
 */
import type { Consumer } from '../../consumers/consumer.js'
import type { CredentialDirectory } from '../../consumers/directory.js'
import type { KeyEntry } from '../../consumers/key-entry.js'
import type { Identity } from '../../identity.js'
import { isWellFormedApiKey } from '../../keys/format.js'
import type { KeyHasher } from '../../keys/hash.js'
import type { KeyUsage } from '../../keys/usage.js'

/** Why a present key was refused: for the audit line only, never the client. */
export type KeyRefusal =
  | 'malformed'
  | 'unknown_key'
  | 'unknown_consumer'
  | 'consumer_disabled'
  | 'revoked'
  | 'not_yet_valid'
  | 'expired'
  | 'address_not_allowed'

/** What the API key check needs from the worker. */
export interface KeyServices {
  readonly credentials: CredentialDirectory
  readonly keyHasher: KeyHasher
  readonly keyUsage: KeyUsage
  /** `api_keys.prefixes`: a key of another prefix is malformed. */
  readonly apiKeyPrefixes: readonly string[]
}

export class ApiKeyAuthenticator {
  readonly #services: KeyServices
  /** The key entry and consumer of the last check (null when not found): read right after it. */
  entry: KeyEntry | null = null
  consumer: Consumer | null = null

  constructor(services: KeyServices) {
    this.#services = services
  }

  /** null: admitted (entry and consumer are set); else why not. */
  check(key: string, address: string, now: number): KeyRefusal | null {
    this.entry = null
    this.consumer = null
    const services = this.#services
    if (!isWellFormedApiKey(key, services.apiKeyPrefixes)) return 'malformed'
    const entry = services.credentials.keyByHash(services.keyHasher.hash(key))
    if (entry === undefined) return 'unknown_key'
    this.entry = entry
    const consumer = services.credentials.consumer(entry.consumer)
    const refusal = refusalOf(entry, consumer, address, now)
    services.keyUsage.record(entry.id, refusal === null, address)
    if (refusal === null) this.consumer = consumer!
    return refusal
  }
}

function refusalOf(
  entry: KeyEntry,
  consumer: Consumer | undefined,
  address: string,
  now: number,
): KeyRefusal | null {
  if (consumer === undefined) return 'unknown_consumer'
  if (consumer.disabled) return 'consumer_disabled'
  if (entry.revoked) return 'revoked'
  if (now < entry.notBeforeMs) return 'not_yet_valid'
  if (now >= entry.expiresAtMs) return 'expired'
  if (entry.addresses !== null && !entry.addresses.admits(address)) return 'address_not_allowed'
  return null
}

/** The identity of an admitted key: built on its first use, shared by every request with it. */
export function keyIdentity(entry: KeyEntry): Identity {
  let identity = entry.identity
  if (identity === null) {
    identity = {
      method: 'api_key',
      issuer: 'api_key',
      subject: entry.consumer,
      consumer: entry.consumer,
      credentialId: entry.id,
      scopes: entry.scopes,
      claims: NO_CLAIMS,
      forwarded: null,
    }
    entry.identity = identity
  }
  return identity
}

const NO_CLAIMS: Readonly<Record<string, unknown>> = Object.freeze({})
