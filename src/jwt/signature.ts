/**
 * JWS signature verification (RFC 7518 §3, RFC 8037 §3.1), synchronous, on prepared KeyObjects:
 * the hot path of a token not seen before, inline or on a verify thread. RS* and ES* go to the
 * native verifier when it runs (native-verify.ts: the same OpenSSL without node:crypto's per-call
 * setup); the rest, and everything without it, to node:crypto.
 *
 * The key decides as much as the algorithm: each algorithm family accepts only its own kind of
 * key, so a token cannot pick a family its key was not made for (RFC 8725 §2.1, §3.1). An HMAC
 * "secret" made of an RSA public key's PEM cannot verify HS256 against that key, since the key is
 * a public KeyObject; an RS256 token cannot be checked against an EC key, nor ES384 against a
 * P-256 key.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-3.1
 */
import {
  KeyObject,
  constants,
  createHmac,
  timingSafeEqual,
  verify,
  type VerifyKeyObjectInput,
} from 'node:crypto'

import {
  NATIVE_SHA256,
  NATIVE_SHA384,
  NATIVE_SHA512,
  nativeVerifier,
  type NativeKey,
  type NativeVerifier,
} from './native-verify.js'
import type { JwsAlgorithm } from './types.js'

type Family = 'rsa' | 'pss' | 'ecdsa' | 'eddsa' | 'hmac'
type Hash = 'sha256' | 'sha384' | 'sha512'

interface AlgorithmSpec {
  readonly family: Family
  readonly hash: Hash | null
  /** Output size of the hash: the PSS salt length, the HMAC length, the least HMAC key size. */
  readonly hashBytes: number
  /** ECDSA: the curve as node names it (asymmetricKeyDetails.namedCurve). */
  readonly curve: string | null
  /** ECDSA: R || S, each the size of the curve order (RFC 7518 §3.4). */
  readonly signatureBytes: number
  /** The hash as the native verifier names it. */
  readonly nativeHash: number
}

function spec(family: Family, hash: Hash | null, curve: string | null = null): AlgorithmSpec {
  const hashBytes = hash === 'sha256' ? 32 : hash === 'sha384' ? 48 : hash === 'sha512' ? 64 : 0
  const signatureBytes =
    curve === 'prime256v1' ? 64 : curve === 'secp384r1' ? 96 : curve === 'secp521r1' ? 132 : 0
  const nativeHash =
    hash === 'sha384' ? NATIVE_SHA384 : hash === 'sha512' ? NATIVE_SHA512 : NATIVE_SHA256
  return { family, hash, hashBytes, curve, signatureBytes, nativeHash }
}

const ALGORITHMS: ReadonlyMap<string, AlgorithmSpec> = new Map<JwsAlgorithm, AlgorithmSpec>([
  ['RS256', spec('rsa', 'sha256')],
  ['RS384', spec('rsa', 'sha384')],
  ['RS512', spec('rsa', 'sha512')],
  ['PS256', spec('pss', 'sha256')],
  ['PS384', spec('pss', 'sha384')],
  ['PS512', spec('pss', 'sha512')],
  ['ES256', spec('ecdsa', 'sha256', 'prime256v1')],
  ['ES384', spec('ecdsa', 'sha384', 'secp384r1')],
  ['ES512', spec('ecdsa', 'sha512', 'secp521r1')],
  ['EdDSA', spec('eddsa', null)],
  ['HS256', spec('hmac', 'sha256')],
  ['HS384', spec('hmac', 'sha384')],
  ['HS512', spec('hmac', 'sha512')],
])

/** RFC 7518 §3.3 and §3.5: "A key of size 2048 bits or larger MUST be used". */
const MIN_RSA_MODULUS_BITS = 2048
const ED25519_SIGNATURE_BYTES = 64
const ED448_SIGNATURE_BYTES = 114

type KeyKind = 'rsa' | 'rsa-pss' | 'ec' | 'ed25519' | 'ed448' | 'secret' | 'unusable'

/** What verification needs to know of a key, read once per KeyObject. */
interface KeyFacts {
  readonly kind: KeyKind
  /** RSA: the signature length, which must equal the modulus length (RFC 8017 §8.1.2, §8.2.2). */
  readonly modulusBytes: number
  readonly curve: string | null
  readonly secretBytes: number
  /** RSA: verify() options per PSS hash, salt length = hash length (RFC 7518 §3.5). */
  readonly pss: Readonly<Record<Hash, VerifyKeyObjectInput>> | null
  /** ECDSA: verify() options; JWS carries R || S, not DER (RFC 7518 §3.4). */
  readonly ecdsa: VerifyKeyObjectInput | null
  /** RSA (not RSA-PSS) and EC keys, decoded by the native verifier when it runs. */
  readonly native: NativeKey | null
}

const UNUSABLE: KeyFacts = {
  kind: 'unusable',
  modulusBytes: 0,
  curve: null,
  secretBytes: 0,
  pss: null,
  ecdsa: null,
  native: null,
}

/**
 * The native verifier, looked up with the first key: the CLI chooses it (--verifier) after this
 * module is imported. A key has native facts only once this is set.
 */
let NATIVE: NativeVerifier | null | undefined

/** KeyObjects are immutable, so what is read of one stays true for as long as it lives. */
const FACTS = new WeakMap<KeyObject, KeyFacts>()

/**
 * Checks a JWS signature over `signingInput` (the first two segments, as sent). Synchronous and
 * never throws: a key that does not fit the algorithm, a signature of the wrong length or an
 * error from OpenSSL all mean false.
 *
 * @param signature the decoded signature (a Buffer, or the Uint8Array a verify thread receives)
 * @example
 *   if (!verifySignature('RS256', key.key, parsed.signingInput, parsed.signature)) reject()
 */
export function verifySignature(
  alg: JwsAlgorithm,
  key: KeyObject,
  signingInput: string,
  signature: Uint8Array,
): boolean {
  const algorithm = ALGORITHMS.get(alg)
  if (algorithm === undefined) return false
  try {
    const facts = factsOf(key)
    switch (algorithm.family) {
      case 'rsa':
        // A key restricted to PSS (id-RSASSA-PSS) cannot make PKCS#1 v1.5 signatures.
        if (facts.kind !== 'rsa' || signature.length !== facts.modulusBytes) return false
        if (facts.native !== null) {
          return NATIVE!.verifyRsa(facts.native, algorithm.nativeHash, signingInput, signature)
        }
        return verify(algorithm.hash, Buffer.from(signingInput), key, signature)
      case 'pss':
        if (facts.kind !== 'rsa' && facts.kind !== 'rsa-pss') return false
        if (signature.length !== facts.modulusBytes) return false
        return verify(
          algorithm.hash,
          Buffer.from(signingInput),
          facts.pss![algorithm.hash!],
          signature,
        )
      case 'ecdsa':
        if (facts.kind !== 'ec' || facts.curve !== algorithm.curve) return false
        if (signature.length !== algorithm.signatureBytes) return false
        if (facts.native !== null) {
          return NATIVE!.verifyEcdsa(facts.native, algorithm.nativeHash, signingInput, signature)
        }
        return verify(algorithm.hash, Buffer.from(signingInput), facts.ecdsa!, signature)
      case 'eddsa':
        if (facts.kind === 'ed25519') {
          if (signature.length !== ED25519_SIGNATURE_BYTES) return false
        } else if (facts.kind !== 'ed448' || signature.length !== ED448_SIGNATURE_BYTES) {
          return false
        }
        return verify(null, Buffer.from(signingInput), key, signature)
      case 'hmac': {
        // RFC 7518 §3.2: the key is at least as long as the hash output.
        if (facts.kind !== 'secret' || facts.secretBytes < algorithm.hashBytes) return false
        if (signature.length !== algorithm.hashBytes) return false
        const mac = createHmac(algorithm.hash!, key).update(signingInput).digest()
        return timingSafeEqual(mac, signature)
      }
    }
  } catch {
    return false
  }
}

function factsOf(key: KeyObject): KeyFacts {
  let facts = FACTS.get(key)
  if (facts === undefined) {
    facts = readFacts(key)
    FACTS.set(key, facts)
  }
  return facts
}

function readFacts(key: KeyObject): KeyFacts {
  if (!(key instanceof KeyObject)) return UNUSABLE
  if (key.type === 'secret') {
    return { ...UNUSABLE, kind: 'secret', secretBytes: key.symmetricKeySize ?? 0 }
  }
  // Verification takes a public key; a private one here is a configuration mistake.
  if (key.type !== 'public') return UNUSABLE
  const type = key.asymmetricKeyType
  const details = key.asymmetricKeyDetails
  switch (type) {
    case 'rsa':
    case 'rsa-pss': {
      const bits = details?.modulusLength ?? 0
      if (bits < MIN_RSA_MODULUS_BITS) return UNUSABLE
      const pss = {
        sha256: pssOption(key, 32),
        sha384: pssOption(key, 48),
        sha512: pssOption(key, 64),
      }
      const native = type === 'rsa' ? nativeKey(key) : null
      return { ...UNUSABLE, kind: type, modulusBytes: (bits + 7) >>> 3, pss, native }
    }
    case 'ec': {
      const curve = details?.namedCurve ?? null
      const ecdsa: VerifyKeyObjectInput = { key, dsaEncoding: 'ieee-p1363' }
      return { ...UNUSABLE, kind: 'ec', curve, ecdsa, native: nativeKey(key) }
    }
    case 'ed25519':
    case 'ed448':
      return { ...UNUSABLE, kind: type }
    default:
      return UNUSABLE
  }
}

function nativeKey(key: KeyObject): NativeKey | null {
  NATIVE ??= nativeVerifier()
  if (NATIVE === null) return null
  return NATIVE.importKey(key.export({ type: 'spki', format: 'der' })) ?? null
}

function pssOption(key: KeyObject, saltLength: number): VerifyKeyObjectInput {
  // MGF1 uses the signature's hash unless told otherwise, as RFC 7518 §3.5 requires.
  return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }
}
