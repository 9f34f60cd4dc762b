/**
 * Key pairs for the JWT scenarios: one per algorithm and run, written where the gateways read
 * them. Tokens are signed with `portcullis token`'s own signer (src/cli/token.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import {
  calculateJwkThumbprint,
  exportJWK,
  exportPKCS8,
  exportSPKI,
  generateKeyPair,
  type JWK,
} from 'jose'

/** The algorithms the bench measures: one each of RSA, ECDSA and EdDSA (Ed25519). */
export type TokenAlgorithm = 'RS256' | 'ES256' | 'EdDSA'

export interface KeyFiles {
  readonly alg: TokenAlgorithm
  /** The RFC 7638 thumbprint of the public key, as `portcullis token` defaults its kid. */
  readonly kid: string
  /** Absolute paths. */
  readonly privateKey: string
  readonly publicKey: string
  readonly jwks: string
}

/**
 * A new key pair for `alg` in `dir`: RSA 2048, P-256 or Ed25519, as `private.pem` (PKCS#8),
 * `public.pem` (SPKI) and `jwks.json` (the public JWK with kid, alg and use).
 */
export async function createKeys(alg: TokenAlgorithm, dir: string): Promise<KeyFiles> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk: JWK = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(jwk)
  const out = resolve(dir)
  await mkdir(out, { recursive: true })
  const files = {
    privateKey: join(out, 'private.pem'),
    publicKey: join(out, 'public.pem'),
    jwks: join(out, 'jwks.json'),
  }
  // The private key is readable by its owner only, like any key file an IdP would keep.
  await writeFile(files.privateKey, await exportPKCS8(privateKey), { mode: 0o600 })
  await writeFile(files.publicKey, await exportSPKI(publicKey))
  const published = { ...jwk, kid, alg, use: 'sig' }
  await writeFile(files.jwks, `${JSON.stringify({ keys: [published] }, null, 2)}\n`)
  return { alg, kid, ...files }
}
