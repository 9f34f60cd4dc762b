/**
 * Loads the native signature checks (src/native/jwt_verify.c, built by `npm install`) and says
 * which verifier runs. RS* and ES* tokens are checked there when it loads; everything else, and
 * everything when it does not, goes through node:crypto (signature.ts).
 *
 * The choice is made once per process and thread, from PORTCULLIS_VERIFIER, which
 * `portcullis start --verifier` sets before workers and verify threads start so that all of them
 * agree: `native` (refuse to start without the build), `node` (node:crypto only), or unset for
 * native when built, node:crypto otherwise, named with its reason in the startup line.
 * `--native off` (PORTCULLIS_NATIVE, src/native/load.ts) means node:crypto as well.
 */
import { PortcullisError } from '../errors.js'
import { loadNativeAddon, nativeOff, NATIVE_OFF_REASON } from '../native/load.js'

/** A public key decoded once by OpenSSL; opaque to JavaScript. */
export type NativeKey = { readonly __nativeKey: unique symbol }

/** Hash ids the native module takes. */
export const NATIVE_SHA256 = 0
export const NATIVE_SHA384 = 1
export const NATIVE_SHA512 = 2

export interface NativeVerifier {
  /** An RSA or EC public key from its SPKI DER, or undefined for any other key. */
  importKey(spkiDer: Uint8Array): NativeKey | undefined
  /** RSASSA-PKCS1-v1_5 (RS256/384/512) over the UTF-8 bytes of `signingInput`, as node:crypto. */
  verifyRsa(key: NativeKey, hash: number, signingInput: string, signature: Uint8Array): boolean
  /** ECDSA with R || S (ES256/384/512). */
  verifyEcdsa(key: NativeKey, hash: number, signingInput: string, signature: Uint8Array): boolean
  /**
   * SHA-256 of the UTF-8 bytes of `token`, base64url: `crypto.hash('sha256', token, 'base64url')`
   * without OpenSSL 3's algorithm fetch per call, which costs more than hashing a token. The
   * verified-token cache's key.
   */
  tokenKey(token: string): string
  /** OpenSSL's version string, as the module sees it. */
  readonly openssl: string
}

export type VerifierChoice = 'native' | 'node'

export const VERIFIER_ENV = 'PORTCULLIS_VERIFIER'

interface Loaded {
  readonly verifier: NativeVerifier | null
  readonly description: string
  /** Why the native verifier did not load, when it did not. */
  readonly failure: string | null
}

let loaded: Loaded | undefined

/** The native verifier this process uses, or null for node:crypto. */
export function nativeVerifier(): NativeVerifier | null {
  return chosen().verifier
}

/** For the startup line: which verifier runs, and why node:crypto when it does. */
export function describeVerifier(): string {
  return chosen().description
}

/** Loaded once per process and thread, as PORTCULLIS_VERIFIER says. */
function chosen(): Loaded {
  return (loaded ??= load(process.env[VERIFIER_ENV]))
}

/**
 * Checks a --verifier choice before anything forks: `native` must load here.
 * @throws PortcullisError PCL_ERR_VERIFIER_UNAVAILABLE when `native` is asked for and not built
 */
export function requireVerifier(choice: VerifierChoice): void {
  const outcome = load(choice)
  if (choice === 'native' && outcome.verifier === null) {
    throw new PortcullisError(
      'PCL_ERR_VERIFIER_UNAVAILABLE',
      `--verifier native: the native JWT verifier (src/native) did not load: ${outcome.failure}. ` +
        'Build it with `npm run build:native` (python3, make and a C compiler), or start with ' +
        '--verifier node.',
    )
  }
}

function load(choice: string | undefined): Loaded {
  if (choice === 'node') {
    return {
      verifier: null,
      description: 'node:crypto (chosen with --verifier node)',
      failure: null,
    }
  }
  if (nativeOff()) {
    return {
      verifier: null,
      description: `node:crypto (${NATIVE_OFF_REASON})`,
      failure: NATIVE_OFF_REASON,
    }
  }
  const { addon: verifier, failure } = loadNativeAddon<NativeVerifier>('jwt_verify')
  if (verifier !== null) {
    return { verifier, description: `native (${verifier.openssl}, src/native)`, failure: null }
  }
  const why = failure
  return {
    verifier: null,
    failure: why,
    description:
      `node:crypto (the native verifier did not load: ${why}; ` +
      'build it with `npm run build:native`)',
  }
}
