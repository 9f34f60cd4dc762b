/**
 * `portcullis token`: signs a test token from a key file, so an operator can try a route of their
 * own config before an identity provider is wired in. Signing goes through jose, an
 * implementation independent of the gateway's verifier.
 *
 * The key file is a PEM private key (PKCS#8, PKCS#1 or SEC1), a private JWK, or, with an HS*
 * algorithm, the HMAC secret itself. The algorithm defaults to the one the key implies, and the
 * kid to the JWK's own or the RFC 7638 thumbprint of the public key, as `jwks.json` files
 * commonly publish it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7519 JSON Web Token
 * @see https://www.rfc-editor.org/rfc/rfc7638 JWK Thumbprint
 */
import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { SignJWT, calculateJwkThumbprint, type JWK } from 'jose'
import { DURATION_PATTERN } from '../config/units.js'
import { parseDuration } from '../config/units.js'
import { PortcullisError } from '../errors.js'
import { HMAC_ALGORITHMS, isJwsAlgorithm, type JwsAlgorithm } from '../jwt/types.js'
import type { TokenArgs } from './args.js'

/** Long enough to try a few requests, short enough to be obviously a test token. */
const DEFAULT_TTL = '1h'

/** RFC 7518 §3.2: an HMAC key at least as long as the hash output (the gateway refuses less). */
const MIN_SECRET_BYTES: Readonly<Record<HmacAlgorithm, number>> = {
  HS256: 32,
  HS384: 48,
  HS512: 64,
}

type HmacAlgorithm = (typeof HMAC_ALGORITHMS)[number]

const EC_ALGORITHM_BY_CURVE: Readonly<Record<string, JwsAlgorithm>> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
}

/** A key ready to sign: its algorithm and kid resolved. */
export interface SigningKey {
  readonly key: KeyObject
  readonly alg: JwsAlgorithm
  readonly kid: string | null
}

export interface TokenClaims {
  readonly issuer: string
  readonly audiences: readonly string[]
  readonly subject?: string | null
  /** Joined with spaces into `scope` (RFC 8693 §4.2, RFC 9068 §2.2.3). */
  readonly scopes?: readonly string[]
  readonly ttlSeconds: number
  /** Set last: they may override the claims above. */
  readonly claims?: Readonly<Record<string, unknown>>
  /** `iat`, seconds since the epoch; default now. */
  readonly now?: number
  /** `typ` header; default JWT. */
  readonly typ?: string | null
}

/** `portcullis token`: the token for `args`, without a trailing newline. */
export async function runToken(args: TokenArgs, ttl: string | null): Promise<string> {
  const lifetime = ttl ?? DEFAULT_TTL
  if (!new RegExp(DURATION_PATTERN).test(lifetime)) {
    throw new PortcullisError(
      'PCL_ERR_CLI_USAGE',
      `--ttl takes a duration like 1h (got "${lifetime}")`,
    )
  }
  const alg = args.alg
  if (alg !== null && !isJwsAlgorithm(alg)) {
    throw new PortcullisError(
      'PCL_ERR_CLI_USAGE',
      `--alg takes a JWS algorithm such as RS256, ES256, EdDSA or HS256 (got "${alg}")`,
    )
  }
  const key = await readSigningKey(args.key!, alg, args.kid)
  return signToken(key, {
    issuer: args.issuer!,
    audiences: args.audiences,
    subject: args.subject,
    scopes: args.scopes,
    ttlSeconds: Math.max(1, Math.round(parseDuration(lifetime) / 1000)),
    claims: Object.fromEntries(args.claims.map(parseClaim)),
    typ: args.typ,
  })
}

/** Signs one JWS compact token. */
export function signToken(key: SigningKey, claims: TokenClaims): Promise<string> {
  const iat = claims.now ?? Math.floor(Date.now() / 1000)
  const payload: Record<string, unknown> = {
    iss: claims.issuer,
    aud: claims.audiences.length === 1 ? claims.audiences[0] : [...claims.audiences],
    iat,
    exp: iat + claims.ttlSeconds,
  }
  if (claims.subject != null) payload['sub'] = claims.subject
  if (claims.scopes !== undefined && claims.scopes.length > 0) {
    payload['scope'] = claims.scopes.join(' ')
  }
  Object.assign(payload, claims.claims)
  const header = {
    alg: key.alg,
    typ: claims.typ ?? 'JWT',
    ...(key.kid === null ? {} : { kid: key.kid }),
  }
  return new SignJWT(payload).setProtectedHeader(header).sign(key.key)
}

/**
 * Reads a private key or HMAC secret from `file`. `alg` null takes the one the key implies; `kid`
 * null takes the JWK's kid, else the thumbprint of the public key (none for a secret).
 */
export async function readSigningKey(
  file: string,
  alg: JwsAlgorithm | null,
  kid: string | null,
): Promise<SigningKey> {
  let bytes: Buffer
  try {
    bytes = readFileSync(file)
  } catch (error) {
    throw keyError(file, `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  const text = bytes.toString('utf8').trim()
  const jwk = text.startsWith('{') ? parseJwk(file, text) : null
  const isSecret = jwk === null ? alg !== null && isHmac(alg) : jwk.kty === 'oct'
  if (isSecret) {
    const secret = jwk === null ? withoutFinalNewline(bytes) : Buffer.from(jwk.k ?? '', 'base64url')
    const hmac = alg ?? jwk?.alg ?? null
    if (hmac === null || !isHmac(hmac)) {
      throw keyError(file, 'is an HMAC secret: give --alg HS256, HS384 or HS512')
    }
    const min = MIN_SECRET_BYTES[hmac]
    if (secret.length < min) {
      throw keyError(
        file,
        `holds ${secret.length} bytes; ${hmac} needs at least ${min} (RFC 7518 §3.2)`,
      )
    }
    return { key: createSecretKey(secret), alg: hmac, kid: kid ?? jwk?.kid ?? null }
  }
  if (jwk === null && !text.includes('-----BEGIN')) {
    throw keyError(
      file,
      'is neither a PEM private key nor a JWK (for an HMAC secret, give --alg HS256, HS384 or HS512)',
    )
  }
  if (jwk === null && /-----BEGIN (PUBLIC KEY|CERTIFICATE|RSA PUBLIC KEY)-----/.test(text)) {
    throw keyError(file, 'holds a public key or certificate: signing needs the private key')
  }
  if (jwk !== null && jwk.d === undefined) {
    throw keyError(file, 'is a public JWK: signing needs the private key (with "d")')
  }
  let key: KeyObject
  try {
    key = jwk === null ? createPrivateKey(text) : createPrivateKey({ key: jwk, format: 'jwk' })
  } catch (error) {
    throw keyError(file, `is not a usable private key: ${(error as Error).message}`)
  }
  const implied = impliedAlgorithm(key, jwk)
  if (implied === null && alg === null) {
    throw keyError(file, `holds a ${key.asymmetricKeyType ?? 'key'} key: give --alg`)
  }
  const publicJwk = createPublicKey(key).export({ format: 'jwk' }) as JWK
  return {
    key,
    alg: alg ?? implied!,
    kid: kid ?? jwk?.kid ?? (await calculateJwkThumbprint(publicJwk)),
  }
}

/** The algorithm a key implies: its JWK `alg`, else RS256 for RSA, by curve for EC, EdDSA for OKP. */
function impliedAlgorithm(key: KeyObject, jwk: JWK | null): JwsAlgorithm | null {
  if (jwk !== null && typeof jwk.alg === 'string' && isJwsAlgorithm(jwk.alg)) return jwk.alg
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256'
    case 'rsa-pss':
      return 'PS256'
    case 'ec':
      return EC_ALGORITHM_BY_CURVE[key.asymmetricKeyDetails?.namedCurve ?? ''] ?? null
    case 'ed25519':
    case 'ed448':
      return 'EdDSA'
    default:
      return null
  }
}

function parseJwk(file: string, text: string): JWK {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw keyError(file, `is not valid JSON: ${(error as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw keyError(file, 'must hold one JWK (a JSON object)')
  }
  if ('keys' in value) {
    throw keyError(file, 'is a JWK Set: give a file with the one private JWK to sign with')
  }
  return value as JWK
}

/** `name=value`: the value as JSON when it parses (`n=3`, `admin=true`, `tags=["a"]`), else as text. */
function parseClaim(text: string): [string, unknown] {
  const at = text.indexOf('=')
  if (at <= 0) {
    throw new PortcullisError('PCL_ERR_CLI_USAGE', `--claim takes NAME=VALUE (got "${text}")`)
  }
  const value = text.slice(at + 1)
  try {
    return [text.slice(0, at), JSON.parse(value) as unknown]
  } catch {
    return [text.slice(0, at), value]
  }
}

function isHmac(alg: string): alg is HmacAlgorithm {
  return (HMAC_ALGORITHMS as readonly string[]).includes(alg)
}

// `echo secret > file` adds a newline that is not part of the secret.
function withoutFinalNewline(bytes: Buffer): Buffer {
  let end = bytes.length
  if (end > 0 && bytes[end - 1] === 0x0a) end--
  if (end > 0 && bytes[end - 1] === 0x0d) end--
  return bytes.subarray(0, end)
}

function keyError(file: string, reason: string): PortcullisError {
  return new PortcullisError('PCL_ERR_TOKEN_KEY', `--key ${JSON.stringify(file)} ${reason}`)
}
