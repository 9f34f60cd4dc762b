/**
 * Checks a request signed per RFC 9421 with a consumer's shared secret, synchronously and
 * without the network: the Signature-Input member whose `keyid` names a known HMAC credential,
 * its consumer known and enabled, its `alg` (when given) the key's, the route's required
 * components covered (and `content-digest` when the request has a body and the route asks for
 * it), `created` within the route's window and not in the future beyond the clock skew,
 * `expires` not past, the MAC equal in constant time, and the signature not seen before within
 * its window (replay.ts). The digest of the body itself is checked once the body is in
 * (hmac-method.ts onBody); here only that the signature covers the field.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9421#section-3.2 Verifying a Signature
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Consumer } from '../../consumers/consumer.js'
import type { CredentialDirectory } from '../../consumers/directory.js'
import { HMAC_DIGESTS, type HmacKey } from '../../hmac/keys.js'
import type { SignatureMemory } from '../../hmac/replay.js'
import { BaseProblem, signatureBase, type SignedMessage } from '../../hmac/signature-base.js'
import {
  isInnerList,
  parseDictionary,
  type InnerList,
  type Member,
} from '../../hmac/structured-fields.js'
import type { Identity } from '../../identity.js'

/** Why a signed request was refused: for the audit line only, never the client. */
export type SignatureRefusal =
  | 'malformed'
  | 'unknown_key'
  | 'key_expired'
  | 'unknown_consumer'
  | 'consumer_disabled'
  | 'algorithm_mismatch'
  | 'missing_component'
  | 'unsupported_component'
  | 'absent_component'
  | 'missing_created'
  | 'stale'
  | 'future'
  | 'expired'
  | 'bad_signature'
  | 'replay'
  | 'replay_memory_full'

/** What a route requires of a signature (route `hmac:`, compiled). */
export interface SignaturePolicy {
  /** Component identifiers the signature must cover. */
  readonly components: readonly string[]
  /** A request with a body must cover content-digest, and the body must match the field. */
  readonly contentDigest: boolean
  readonly maxAgeSeconds: number
  /** Remember accepted signatures and refuse them again. */
  readonly replay: boolean
  readonly clockSkewSeconds: number
}

/** The request as the check reads it: the exchange's slots. */
export interface SignedRequest extends SignedMessage {
  /** Declared body length: -1 chunked, 0 none. */
  readonly contentLength: number
}

export class SignatureVerifier {
  readonly #credentials: CredentialDirectory
  readonly #memory: SignatureMemory
  readonly #policy: SignaturePolicy
  /** The key and consumer of the last check (null when not found): read right after it. */
  key: HmacKey | null = null
  consumer: Consumer | null = null
  /** The key id the request named, known or not (the audit line's). */
  keyId: string | null = null
  label: string | null = null

  constructor(credentials: CredentialDirectory, memory: SignatureMemory, policy: SignaturePolicy) {
    this.#credentials = credentials
    this.#memory = memory
    this.#policy = policy
  }

  /** null: admitted (key and consumer are set); else why not. */
  check(
    request: SignedRequest,
    signatureInput: string,
    signatureField: string | null,
    now: number,
  ): SignatureRefusal | null {
    this.key = null
    this.consumer = null
    this.keyId = null
    this.label = null
    const inputs = parseDictionary(signatureInput)
    if (inputs === null || signatureField === null) return 'malformed'
    const chosen = this.#choose(inputs)
    if (chosen === null) return this.keyId === null ? 'malformed' : 'unknown_key'
    const key = this.key!
    // A store credential replaced by a rotation verifies until its grace period ends.
    if (now >= key.expiresAt) return 'key_expired'
    const consumer = this.#credentials.consumer(key.consumer)
    if (consumer === undefined) return 'unknown_consumer'
    if (consumer.disabled) return 'consumer_disabled'
    const params = chosen.params
    const alg = params.get('alg')
    if (alg !== undefined && alg !== key.algorithm) return 'algorithm_mismatch'
    const refusal = this.#checkCoverage(chosen, request) ?? this.#checkTimes(chosen, now)
    if (refusal !== null) return refusal
    const signatures = parseDictionary(signatureField)
    const signature = signatures?.get(this.label!)
    if (signature === undefined || isInnerList(signature) || !Buffer.isBuffer(signature.value)) {
      return 'malformed'
    }
    const base = signatureBase(chosen, request)
    if (typeof base !== 'string') {
      return base === BaseProblem.Absent
        ? 'absent_component'
        : base === BaseProblem.Unsupported
          ? 'unsupported_component'
          : 'malformed'
    }
    const digest = HMAC_DIGESTS[key.algorithm]
    const presented = signature.value
    const expected = createHmac(digest.hash, key.secret).update(base).digest()
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      return 'bad_signature'
    }
    if (this.#policy.replay) {
      const created = params.get('created') as number
      // Remembered until `created` leaves the window: from then on the window refuses it anyway.
      const forgetAt = created + this.#policy.maxAgeSeconds + 1
      const seen = this.#memory.remember(presented.toString('base64'), forgetAt, now)
      if (seen !== 'new') return seen === 'replay' ? 'replay' : 'replay_memory_full'
    }
    this.consumer = consumer
    return null
  }

  /**
   * The first signature whose keyid names a known credential (RFC 9421 §3.2: the verifier
   * chooses which to verify; others may be an intermediary's). Sets key, keyId and label.
   */
  #choose(inputs: Map<string, Member>): InnerList | null {
    for (const [label, member] of inputs) {
      if (!isInnerList(member)) continue
      const keyId = member.params.get('keyid')
      if (typeof keyId !== 'string') continue
      this.keyId ??= keyId
      const key = this.#credentials.hmacKey(keyId)
      if (key === undefined) continue
      this.key = key
      this.keyId = keyId
      this.label = label
      return member
    }
    return null
  }

  #checkCoverage(list: InnerList, request: SignedRequest): SignatureRefusal | null {
    const policy = this.#policy
    const required = policy.components
    for (let i = 0; i < required.length; i++) {
      if (!covers(list, required[i]!)) return 'missing_component'
    }
    // The head says whether a body follows: the digest must be covered before it is read.
    if (policy.contentDigest && request.contentLength !== 0 && !covers(list, 'content-digest')) {
      return 'missing_component'
    }
    return null
  }

  #checkTimes(list: InnerList, now: number): SignatureRefusal | null {
    const policy = this.#policy
    const created = list.params.get('created')
    if (typeof created !== 'number') return 'missing_created'
    if (now - created > policy.maxAgeSeconds) return 'stale'
    if (created - now > policy.clockSkewSeconds) return 'future'
    const expires = list.params.get('expires')
    if (expires !== undefined) {
      if (typeof expires !== 'number') return 'malformed'
      if (now - policy.clockSkewSeconds >= expires) return 'expired'
    }
    return null
  }
}

/** Whether the signature covers the component `name` (without parameters). */
function covers(list: InnerList, name: string): boolean {
  const items = list.items
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!
    if (item.value === name && item.params.size === 0) return true
  }
  return false
}

/** The identity of an admitted key: built on its first use, shared by every request with it. */
export function hmacIdentity(key: HmacKey): Identity {
  let identity = key.identity
  if (identity === null) {
    identity = {
      method: 'hmac',
      issuer: 'hmac',
      subject: key.consumer,
      consumer: key.consumer,
      credentialId: key.id,
      scopes: key.scopes,
      claims: NO_CLAIMS,
      forwarded: null,
    }
    key.identity = identity
  }
  return identity
}

const NO_CLAIMS: Readonly<Record<string, unknown>> = Object.freeze({})
