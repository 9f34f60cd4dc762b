/**
 * Key material → `VerificationKey`: a JWK, a JWK Set, a PEM or JWK file, an HMAC secret. Each key
 * is checked before use (RFC 7517, RFC 7518, RFC 8037, RFC 8725) and imported once with
 * node:crypto; what cannot be used becomes a `KeyProblem` that says why, never an exception.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7517 JSON Web Key
 * @see https://www.rfc-editor.org/rfc/rfc7638 JWK Thumbprint (the key's `id`)
 * @see https://www.rfc-editor.org/rfc/rfc8725 JWT Best Current Practices
 */
import {
  X509Certificate,
  createHash,
  createPublicKey,
  createSecretKey,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import {
  ASYMMETRIC_ALGORITHMS,
  HMAC_ALGORITHMS,
  isJwsAlgorithm,
  type JwsAlgorithm,
  type VerificationKey,
} from './types.js'

/** Why one key (or a whole file or set) was not taken. `kid` when the key named one. */
export interface KeyProblem {
  readonly reason: string
  readonly kid: string | null
}

/** The usable keys of a file, set or secret, and what was skipped. */
export interface KeyLoad {
  readonly keys: VerificationKey[]
  readonly problems: KeyProblem[]
}

/** Keys read from one JWK Set: providers publish a handful; more is a mistake or an attack. */
export const MAX_JWKS_KEYS = 100
/** A key file is a few KiB (a JWKS of 100 RSA-4096 keys is under 100 KiB). */
export const MAX_KEY_FILE_BYTES = 1024 * 1024

// RFC 7518 §3.3 and §3.5: "A key of size 2048 bits or larger MUST be used".
const MIN_RSA_BITS = 2048
// RFC 7518 §3.2: a key at least as long as the hash output (RFC 8725 §3.5: never a password).
const MIN_SECRET_BYTES: Readonly<Record<HmacAlgorithm, number>> = {
  HS256: 32,
  HS384: 48,
  HS512: 64,
}

type HmacAlgorithm = (typeof HMAC_ALGORITHMS)[number]

const RSA_ALGORITHMS: readonly JwsAlgorithm[] = ASYMMETRIC_ALGORITHMS.filter(
  (alg) => alg.startsWith('RS') || alg.startsWith('PS'),
)
const PSS_ALGORITHMS: readonly JwsAlgorithm[] = ['PS256', 'PS384', 'PS512']
const PSS_BY_HASH: Readonly<Record<string, JwsAlgorithm>> = {
  sha256: 'PS256',
  'sha-256': 'PS256',
  sha384: 'PS384',
  'sha-384': 'PS384',
  sha512: 'PS512',
  'sha-512': 'PS512',
}
// JWK crv (RFC 7518 §6.2.1.1) and OpenSSL names (KeyObject.asymmetricKeyDetails.namedCurve).
const EC_JWK_CURVES: ReadonlySet<string> = new Set(['P-256', 'P-384', 'P-521'])
const EC_ALGORITHM_BY_CURVE: Readonly<Record<string, JwsAlgorithm>> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
}
// RFC 8037 §3.1: Ed25519 and Ed448 sign (EdDSA); X25519 and X448 only agree on keys.
const OKP_JWK_CURVES: ReadonlySet<string> = new Set(['Ed25519', 'Ed448'])
const REQUIRED_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  RSA: ['n', 'e'],
  EC: ['x', 'y'],
  OKP: ['x'],
}
// RFC 7518 §6.3.2 (RSA) and §6.2.2 / RFC 8037 §2 (EC, OKP): members of a private key.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth']
// RFC 7515 §2: base64url without padding. node:crypto decodes more than that, so check first.
const BASE64URL = /^[A-Za-z0-9_-]+$/
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g

export function isKeyProblem(value: VerificationKey | KeyProblem): value is KeyProblem {
  return 'reason' in value
}

/** `key "abc": reason` or `reason`: one line for a config problem or a log. */
export function formatKeyProblem(problem: KeyProblem): string {
  return problem.kid === null ? problem.reason : `key ${describe(problem.kid)}: ${problem.reason}`
}

/**
 * Checks and imports one public JWK for signature verification. Refused: symmetric (`oct`) and
 * unknown key types, private keys, `use` other than `sig`, `key_ops` without `verify`, an `alg`
 * that is not among `allowed` or does not fit the key, curves other than P-256/384/521 and
 * Ed25519/Ed448, RSA moduli under 2048 bits.
 *
 * @example
 * const key = importJwk(jwks.keys[0], ['RS256', 'ES256'])
 * if (isKeyProblem(key)) log(formatKeyProblem(key))
 */
export function importJwk(
  jwk: unknown,
  allowed: readonly JwsAlgorithm[],
): VerificationKey | KeyProblem {
  if (!isObject(jwk)) return { reason: 'a JWK must be a JSON object', kid: null }
  const kid = typeof jwk.kid === 'string' ? jwk.kid : null
  const problem = (reason: string): KeyProblem => ({ reason, kid })
  if (jwk.kid !== undefined && kid === null) return problem('kid must be a string')
  const kty = jwk.kty
  if (kty === 'oct') {
    // RFC 8725 §2.1: a symmetric key next to public ones invites algorithm confusion.
    return problem('symmetric key (kty oct) refused: an HMAC secret belongs in the issuer secret')
  }
  if (typeof kty !== 'string' || REQUIRED_MEMBERS[kty] === undefined) {
    return problem(`key type ${describe(kty)} is not supported: RSA, EC or OKP expected`)
  }
  const exposed = PRIVATE_MEMBERS.filter((name) => jwk[name] !== undefined)
  if (exposed.length > 0) {
    return problem(
      `private key refused (it has ${exposed.join(', ')}): a key set must publish public keys ` +
        'only; this private key is exposed and should be rotated',
    )
  }
  if (jwk.use !== undefined && jwk.use !== 'sig') {
    return problem(`use ${describe(jwk.use)} is not sig`)
  }
  if (jwk.key_ops !== undefined) {
    if (!Array.isArray(jwk.key_ops) || !jwk.key_ops.every((op) => typeof op === 'string')) {
      return problem('key_ops must be an array of strings')
    }
    if (!jwk.key_ops.includes('verify')) return problem('key_ops does not include verify')
  }
  let alg: JwsAlgorithm | null = null
  if (jwk.alg !== undefined) {
    if (!isJwsAlgorithm(jwk.alg)) {
      return problem(`alg ${describe(jwk.alg)} is not a JWS signature algorithm`)
    }
    alg = jwk.alg
  }
  const crv = jwk.crv
  if (kty === 'EC' && !(typeof crv === 'string' && EC_JWK_CURVES.has(crv))) {
    return problem(`EC curve ${describe(crv)} is not supported: P-256, P-384 or P-521 expected`)
  }
  if (kty === 'OKP' && !(typeof crv === 'string' && OKP_JWK_CURVES.has(crv))) {
    return problem(`OKP curve ${describe(crv)} does not sign: Ed25519 or Ed448 expected`)
  }
  for (const name of REQUIRED_MEMBERS[kty]!) {
    const value = jwk[name]
    if (typeof value !== 'string' || !BASE64URL.test(value)) {
      return problem(`${name} must be a base64url string`)
    }
  }
  let key: KeyObject
  try {
    // Only the public members reach node:crypto (the others were checked above).
    const members: JsonWebKey =
      kty === 'RSA'
        ? { kty, n: jwk.n as string, e: jwk.e as string }
        : { kty, crv: crv as string, x: jwk.x as string, y: jwk.y as string | undefined }
    key = createPublicKey({ key: members, format: 'jwk' })
  } catch (error) {
    return problem(`cannot be imported: ${errorMessage(error)}`)
  }
  return toVerificationKey(key, kid, alg, allowed)
}

/**
 * Imports a JWK Set (`{ "keys": [...] }`, RFC 7517 §5): every usable key, a problem for each
 * other one. Only the first MAX_JWKS_KEYS keys are read. A kid naming two different keys is
 * ambiguous, so every key with that kid is dropped (fail closed); identical copies count once.
 */
export function importJwks(json: unknown, allowed: readonly JwsAlgorithm[]): KeyLoad {
  if (!isObject(json) || !Array.isArray(json.keys)) {
    return fail('not a JWK Set: an object with a "keys" array is expected (RFC 7517 §5)')
  }
  const problems: KeyProblem[] = []
  let entries: unknown[] = json.keys
  if (entries.length > MAX_JWKS_KEYS) {
    problems.push({
      reason: `the set has ${entries.length} keys: only the first ${MAX_JWKS_KEYS} are read`,
      kid: null,
    })
    entries = entries.slice(0, MAX_JWKS_KEYS)
  }
  const byKid = new Map<string, VerificationKey[]>()
  const keys: VerificationKey[] = []
  for (const entry of entries) {
    const result = importJwk(entry, allowed)
    if (isKeyProblem(result)) problems.push(result)
    else if (result.kid === null) keys.push(result)
    else byKid.set(result.kid, [...(byKid.get(result.kid) ?? []), result])
  }
  for (const [kid, same] of byKid) {
    const first = same[0]!
    if (same.every((key) => key.id === first.id)) {
      const algorithms = new Set(same.flatMap((key) => [...key.algorithms]))
      keys.push(same.length === 1 ? first : Object.freeze({ ...first, algorithms }))
    } else {
      problems.push({
        reason: `${same.length} different keys have this kid: all are dropped, since a token's kid could not choose between them`,
        kid,
      })
    }
  }
  return { keys, problems }
}

/**
 * Reads a key file: PEM blocks (`PUBLIC KEY`, `RSA PUBLIC KEY`, `CERTIFICATE`; several allowed),
 * one JWK, or a JWK Set. A private key is refused: the gateway only verifies. A certificate is a
 * container for its public key here: its dates and chain are not checked.
 */
export function importKeyFile(path: string, allowed: readonly JwsAlgorithm[]): KeyLoad {
  let text: string
  try {
    const size = statSync(path).size
    if (size > MAX_KEY_FILE_BYTES) {
      return fail(`${path} has ${size} bytes: a key file is at most ${MAX_KEY_FILE_BYTES}`)
    }
    text = readFileSync(path, 'utf8')
  } catch (error) {
    return fail(`cannot read ${path}: ${errorMessage(error)}`)
  }
  if (text.trimStart().startsWith('{')) {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (error) {
      return fail(`${path} is not valid JSON: ${errorMessage(error)}`)
    }
    if (isObject(json) && json.keys !== undefined) return importJwks(json, allowed)
    const result = importJwk(json, allowed)
    return isKeyProblem(result)
      ? { keys: [], problems: [result] }
      : { keys: [result], problems: [] }
  }
  const blocks = [...text.matchAll(PEM_BLOCK)]
  if (blocks.length === 0) {
    return fail(`${path} holds no PEM block (BEGIN PUBLIC KEY or CERTIFICATE), JWK or JWK Set`)
  }
  const keys: VerificationKey[] = []
  const problems: KeyProblem[] = []
  for (const [pem, label] of blocks) {
    const result = importPem(label!, pem, allowed)
    if (isKeyProblem(result)) problems.push(result)
    else keys.push(result)
  }
  return { keys, problems }
}

/**
 * An HMAC secret of the issuer's config, for the HS* algorithms of `allowed` whose minimum length
 * it meets (RFC 7518 §3.2: 32 bytes for HS256, 48 for HS384, 64 for HS512, counted in UTF-8).
 */
export function importSecret(secret: string, allowed: readonly JwsAlgorithm[]): KeyLoad {
  const bytes = Buffer.from(secret, 'utf8')
  const hmac = allowed.filter(isHmacAlgorithm)
  if (hmac.length === 0) {
    return fail('the issuer allows no HS256, HS384 or HS512, so a secret verifies nothing')
  }
  if (bytes.length < MIN_SECRET_BYTES.HS256) {
    return fail(`the secret has ${bytes.length} bytes: at least 32 are required (RFC 7518 §3.2)`)
  }
  const problems: KeyProblem[] = []
  const algorithms = hmac.filter((alg) => {
    const needed = MIN_SECRET_BYTES[alg]
    if (bytes.length >= needed) return true
    problems.push({
      reason: `${alg} needs a secret of at least ${needed} bytes (RFC 7518 §3.2); this one has ${bytes.length}`,
      kid: null,
    })
    return false
  })
  if (algorithms.length === 0) return { keys: [], problems }
  const id = createHash('sha256').update(bytes).digest('base64url')
  const key = Object.freeze({
    kid: null,
    algorithms: new Set(algorithms),
    key: createSecretKey(bytes),
    id,
  })
  return { keys: [key], problems }
}

function importPem(
  label: string,
  pem: string,
  allowed: readonly JwsAlgorithm[],
): VerificationKey | KeyProblem {
  if (label.includes('PRIVATE KEY')) {
    return {
      reason:
        `a private key (BEGIN ${label}) is refused: the gateway only verifies, give it the public ` +
        'key (openssl pkey -pubout) and keep the private key with the issuer',
      kid: null,
    }
  }
  let key: KeyObject
  try {
    if (label === 'CERTIFICATE') key = new X509Certificate(pem).publicKey
    else if (label === 'PUBLIC KEY' || label === 'RSA PUBLIC KEY') key = createPublicKey(pem)
    else {
      return {
        reason: `PEM block ${label} is not supported: PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE expected`,
        kid: null,
      }
    }
  } catch (error) {
    return { reason: `PEM block ${label} cannot be read: ${errorMessage(error)}`, kid: null }
  }
  return toVerificationKey(key, null, null, allowed)
}

/** The checks that depend on the key itself, whatever it was read from. */
function toVerificationKey(
  key: KeyObject,
  kid: string | null,
  alg: JwsAlgorithm | null,
  allowed: readonly JwsAlgorithm[],
): VerificationKey | KeyProblem {
  const problem = (reason: string): KeyProblem => ({ reason, kid })
  const type = key.asymmetricKeyType ?? 'unknown'
  const details = key.asymmetricKeyDetails ?? {}
  let fits: readonly JwsAlgorithm[]
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = details.modulusLength ?? 0
    if (bits < MIN_RSA_BITS) {
      return problem(
        `RSA key of ${bits} bits: at least ${MIN_RSA_BITS} are required (RFC 7518 §3.3)`,
      )
    }
    // An exponent of 1 makes every message its own signature.
    const exponent = details.publicExponent ?? 0n
    if (exponent < 3n || exponent % 2n === 0n)
      return problem('RSA public exponent must be odd and at least 3')
    // An RSA-PSS key (id-RSASSA-PSS) may be bound to one hash: only that PS algorithm fits.
    const pss = details.hashAlgorithm === undefined ? undefined : PSS_BY_HASH[details.hashAlgorithm]
    fits = type === 'rsa' ? RSA_ALGORITHMS : pss === undefined ? PSS_ALGORITHMS : [pss]
  } else if (type === 'ec') {
    const byCurve = EC_ALGORITHM_BY_CURVE[details.namedCurve ?? '']
    if (byCurve === undefined) {
      return problem(
        `EC curve ${details.namedCurve} is not supported: P-256, P-384 or P-521 expected`,
      )
    }
    fits = [byCurve]
  } else if (type === 'ed25519' || type === 'ed448') {
    fits = ['EdDSA']
  } else {
    return problem(`${type} keys do not verify JWS signatures`)
  }
  if (alg !== null) {
    if (!fits.includes(alg))
      return problem(`alg ${alg} does not fit this ${type} key (${fits.join(', ')})`)
    if (!allowed.includes(alg)) {
      return problem(`alg ${alg} is not among the issuer's algorithms (${allowed.join(', ')})`)
    }
  }
  const algorithms = alg !== null ? [alg] : fits.filter((fit) => allowed.includes(fit))
  if (algorithms.length === 0) {
    return problem(
      `none of the issuer's algorithms (${allowed.join(', ')}) fits this ${type} key (${fits.join(', ')})`,
    )
  }
  return Object.freeze({ kid, algorithms: new Set(algorithms), key, id: thumbprint(key) })
}

/**
 * RFC 7638 §3: sha-256 over the required members in lexicographic order, taken from the imported
 * key so that two spellings of one key (a PEM, a JWK) get the same id. RSA-PSS keys have no JWK
 * form in node:crypto: their id is the sha-256 of their SPKI DER.
 */
function thumbprint(key: KeyObject): string {
  let input: string
  try {
    const { kty, crv, e, n, x, y } = key.export({ format: 'jwk' })
    input =
      kty === 'RSA'
        ? JSON.stringify({ e, kty, n })
        : kty === 'EC'
          ? JSON.stringify({ crv, kty, x, y })
          : JSON.stringify({ crv, kty, x })
  } catch {
    return createHash('sha256')
      .update(key.export({ format: 'der', type: 'spki' }))
      .digest('base64url')
  }
  return createHash('sha256').update(input).digest('base64url')
}

function isHmacAlgorithm(alg: JwsAlgorithm): alg is HmacAlgorithm {
  return (HMAC_ALGORITHMS as readonly string[]).includes(alg)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function fail(reason: string): KeyLoad {
  return { keys: [], problems: [{ reason, kid: null }] }
}

/** A value from a key set, quoted and cut short: it goes to logs and config problems. */
function describe(value: unknown): string {
  if (value === undefined) return 'missing'
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 40 ? `${text.slice(0, 40)}…` : text
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
