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
import { timingSafeEqual } from 'node:crypto'
import type { Consumer } from '../../consumers/consumer.js'
import type { CredentialDirectory } from '../../consumers/directory.js'
import type { HmacAlgorithm, HmacKey } from '../../hmac/keys.js'
import { macBytes, SignatureMac } from '../../hmac/mac.js'
import type { SignatureMemory } from '../../hmac/replay.js'
import {
  BaseProblem,
  commonSignatureBase,
  signatureBase,
  type SignedMessage,
} from '../../hmac/signature-base.js'
import { CommonSignatureInput, readSignature } from '../../hmac/signature-input.js'
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
  readonly #mac = new SignatureMac()
  /** Reads the common shape of Signature-Input in one pass; null: every field is parsed. */
  readonly #common: CommonSignatureInput | null
  /** A MAC's bytes as the Signature field presents them, decoded here (by algorithm). */
  readonly #presented: Record<HmacAlgorithm, Buffer> = {
    'hmac-sha256': Buffer.alloc(macBytes('hmac-sha256')),
  }
  #lastKeyId = ''
  #lastLabel = ''
  /** The key and consumer of the last check (null when not found): read right after it. */
  key: HmacKey | null = null
  consumer: Consumer | null = null
  /** The key id the request named, known or not (the audit line's). */
  keyId: string | null = null
  label: string | null = null

  /** `commonShape` false sends every field to the full parser (tests compare the two). */
  constructor(
    credentials: CredentialDirectory,
    memory: SignatureMemory,
    policy: SignaturePolicy,
    commonShape = true,
  ) {
    this.#credentials = credentials
    this.#memory = memory
    this.#policy = policy
    this.#common = commonShape ? new CommonSignatureInput() : null
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
    const common = this.#common
    if (common !== null && common.read(signatureInput)) {
      return this.#checkCommon(common, request, signatureField, now)
    }
    return this.#checkParsed(request, signatureInput, signatureField, now)
  }

  /** The steps of #checkParsed, in the same order, over a field in the common shape. */
  #checkCommon(
    input: CommonSignatureInput,
    request: SignedRequest,
    signatureField: string | null,
    now: number,
  ): SignatureRefusal | null {
    if (signatureField === null || input.keyIdStart < 0) return 'malformed'
    const keyId = this.#keyIdOf(input)
    this.keyId = keyId
    const key = this.#credentials.hmacKey(keyId)
    if (key === undefined) return 'unknown_key'
    this.key = key
    const label = this.#labelOf(input)
    this.label = label
    if (now >= key.expiresAt) return 'key_expired'
    const consumer = this.#credentials.consumer(key.consumer)
    if (consumer === undefined) return 'unknown_consumer'
    if (consumer.disabled) return 'consumer_disabled'
    if (input.algStart >= 0 && !input.holds(key.algorithm, input.algStart, input.algEnd)) {
      return 'algorithm_mismatch'
    }
    const policy = this.#policy
    const required = policy.components
    for (let i = 0; i < required.length; i++) {
      if (!input.covers(required[i]!)) return 'missing_component'
    }
    if (policy.contentDigest && request.contentLength !== 0 && !input.covers('content-digest')) {
      return 'missing_component'
    }
    const created = input.created
    if (created === null) return 'missing_created'
    const refusal = this.#checkWindow(created, input.expires, now)
    if (refusal !== null) return refusal
    let presented = this.#presented[key.algorithm]
    const at = readSignature(signatureField, label, presented)
    if (at < 0) {
      const parsed = presentedSignature(signatureField, label)
      if (parsed === null) return 'malformed'
      presented = parsed
    }
    const base = commonSignatureBase(input, request)
    if (typeof base !== 'string') return baseRefusal(base)
    const expected = this.#mac.sign(key, base)
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      return 'bad_signature'
    }
    if (this.#policy.replay) {
      // The canonical base64 the reader checked is the text itself.
      const text = at < 0 ? presented.toString('base64') : signatureField.slice(at, -1)
      const seen = this.#remember(text, created, now)
      if (seen !== null) return seen
    }
    this.consumer = consumer
    return null
  }

  /** The general path: both fields parsed as RFC 8941 Dictionaries. */
  #checkParsed(
    request: SignedRequest,
    signatureInput: string,
    signatureField: string | null,
    now: number,
  ): SignatureRefusal | null {
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
    const presented = presentedSignature(signatureField, this.label!)
    if (presented === null) return 'malformed'
    const base = signatureBase(chosen, request)
    if (typeof base !== 'string') return baseRefusal(base)
    const expected = this.#mac.sign(key, base)
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      return 'bad_signature'
    }
    if (this.#policy.replay) {
      const seen = this.#remember(
        presented.toString('base64'),
        params.get('created') as number,
        now,
      )
      if (seen !== null) return seen
    }
    this.consumer = consumer
    return null
  }

  /** Remembered until `created` leaves the window: from then on the window refuses it anyway. */
  #remember(signature: string, created: number, now: number): SignatureRefusal | null {
    const forgetAt = created + this.#policy.maxAgeSeconds + 1
    const seen = this.#memory.remember(signature, forgetAt, now)
    return seen === 'new' ? null : seen === 'replay' ? 'replay' : 'replay_memory_full'
  }

  /** The keyid's text, the previous request's string when it is the same (no new string). */
  #keyIdOf(input: CommonSignatureInput): string {
    const last = this.#lastKeyId
    if (input.holds(last, input.keyIdStart, input.keyIdEnd)) return last
    return (this.#lastKeyId = input.text.slice(input.keyIdStart, input.keyIdEnd))
  }

  #labelOf(input: CommonSignatureInput): string {
    const last = this.#lastLabel
    if (input.holds(last, 0, input.labelEnd)) return last
    return (this.#lastLabel = input.text.slice(0, input.labelEnd))
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
    const created = list.params.get('created')
    if (typeof created !== 'number') return 'missing_created'
    const expires = list.params.get('expires')
    if (expires !== undefined && typeof expires !== 'number') {
      return this.#checkWindow(created, null, now) ?? 'malformed'
    }
    return this.#checkWindow(created, expires ?? null, now)
  }

  /** `created` within the window and not in the future, `expires` (when given) not past. */
  #checkWindow(created: number, expires: number | null, now: number): SignatureRefusal | null {
    const policy = this.#policy
    if (now - created > policy.maxAgeSeconds) return 'stale'
    if (created - now > policy.clockSkewSeconds) return 'future'
    if (expires !== null && now - policy.clockSkewSeconds >= expires) return 'expired'
    return null
  }
}

/** The MAC a Signature field holds under `label`, or null when it holds none. */
function presentedSignature(field: string, label: string): Buffer | null {
  const member = parseDictionary(field)?.get(label)
  if (member === undefined || isInnerList(member) || !Buffer.isBuffer(member.value)) return null
  return member.value
}

function baseRefusal(problem: BaseProblem): SignatureRefusal {
  return problem === BaseProblem.Absent
    ? 'absent_component'
    : problem === BaseProblem.Unsupported
      ? 'unsupported_component'
      : 'malformed'
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
