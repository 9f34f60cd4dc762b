/**
 * Signing keys and tokens for the bench and the demo.
 *
 * ```sh
 * node dist/scripts/issue-token.js keys --alg RS256|ES256|EdDSA --out DIR [--kid K]
 * node dist/scripts/issue-token.js token --key DIR/private.pem --alg RS256 [--kid K]
 *   [--iss URL] [--aud A]… [--sub S] [--scope "a b"] [--ttl 1h] [--claim k=v]… [--count N]
 * ```
 *
 * `keys` writes `private.pem` (PKCS#8), `public.pem` (SPKI) and `jwks.json` (the public JWK with
 * `kid`, `alg` and `use`), and prints them as one JSON line. `token` prints tokens one per line;
 * with `--count N` above 1 each token's `sub` gets the suffix `-1` … `-N`, so no two are alike.
 * The kid defaults to the key's RFC 7638 thumbprint in both, so tokens and JWKS agree unasked.
 *
 * The bench imports `createKeys` and `issueTokens` rather than running this file. Signing goes
 * through jose (WebCrypto). Measured on the 2-core bench machine, 10 000 RS256 tokens take about
 * 6.5 s with jose and 6 s with node:crypto's asynchronous `sign` (12 s with one core busy
 * elsewhere): the RSA private-key operation is the whole cost, and both run it on libuv's thread
 * pool, on every core. node:crypto's synchronous `sign` takes twice as long. ES256 and EdDSA
 * tokens cost a few tens of µs each.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  SignJWT,
  calculateJwkThumbprint,
  exportJWK,
  exportPKCS8,
  exportSPKI,
  generateKeyPair,
  importPKCS8,
  type JWK,
} from 'jose'
import { isMain } from './is-main.js'

/** The algorithms the bench measures: one each of RSA, ECDSA and EdDSA (Ed25519). */
export const TOKEN_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const
export type TokenAlgorithm = (typeof TOKEN_ALGORITHMS)[number]

/** Tokens signed at once: enough to keep the thread pool busy, few enough to bound memory. */
const SIGN_BATCH = 256
/** Default lifetime of a token: long enough for a bench run, short enough to be obviously a test. */
const DEFAULT_TTL = '1h'

export function isTokenAlgorithm(value: unknown): value is TokenAlgorithm {
  return typeof value === 'string' && (TOKEN_ALGORITHMS as readonly string[]).includes(value)
}

export interface KeyFiles {
  readonly alg: TokenAlgorithm
  readonly kid: string
  /** Absolute paths. */
  readonly privateKey: string
  readonly publicKey: string
  readonly jwks: string
}

/** The public members of a JWK: what may be published, and what RFC 7638 hashes. */
function publicJwk(jwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, ...rest } = jwk
  return rest
}

/**
 * A new key pair for `alg` in `dir`: RSA 2048, P-256 or Ed25519.
 *
 * @example
 * const keys = await createKeys('ES256', '/tmp/keys')
 * const [token] = await issueTokens({ privateKeyPem: await readFile(keys.privateKey, 'utf8'), alg: 'ES256' })
 */
export async function createKeys(
  alg: TokenAlgorithm,
  dir: string,
  kid?: string,
): Promise<KeyFiles> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = publicJwk(await exportJWK(publicKey))
  const keyId = kid ?? (await calculateJwkThumbprint(jwk))
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
  const published = { ...jwk, kid: keyId, alg, use: 'sig' }
  await writeFile(files.jwks, `${JSON.stringify({ keys: [published] }, null, 2)}\n`)
  return { alg, kid: keyId, ...files }
}

export interface TokenOptions {
  /** PKCS#8 PEM, as `createKeys` writes it. */
  readonly privateKeyPem: string
  readonly alg: TokenAlgorithm
  /** Default: the RFC 7638 thumbprint of the key, as `createKeys` publishes it. */
  readonly kid?: string
  readonly issuer?: string
  readonly audience?: string | readonly string[]
  /** With `count` above 1, `-1` … `-N` is appended, so every token differs. */
  readonly subject?: string
  /** Space-delimited, as RFC 8693 §4.2 and RFC 9068 put it in `scope`. */
  readonly scope?: string
  /** Lifetime in seconds from now (`exp` − `iat`). Default 1 h. */
  readonly ttlSeconds?: number
  /** Further claims, set last (they may override the ones above). */
  readonly claims?: Readonly<Record<string, unknown>>
  /** How many tokens (default 1). */
  readonly count?: number
  /** `iat`, seconds since the epoch (default now). */
  readonly now?: number
}

/** Signed JWS compact tokens, in order: `sub` of token i ends in `-i` when `count` > 1. */
export async function issueTokens(options: TokenOptions): Promise<string[]> {
  const key = await importPKCS8(options.privateKeyPem, options.alg, { extractable: true })
  const kid = options.kid ?? (await calculateJwkThumbprint(publicJwk(await exportJWK(key))))
  const count = options.count ?? 1
  const iat = options.now ?? Math.floor(Date.now() / 1000)
  const exp = iat + (options.ttlSeconds ?? parseDuration(DEFAULT_TTL))
  const header = { alg: options.alg, kid, typ: 'JWT' }
  const base: Record<string, unknown> = { iat, exp }
  if (options.issuer !== undefined) base['iss'] = options.issuer
  if (options.audience !== undefined) {
    base['aud'] = typeof options.audience === 'string' ? options.audience : [...options.audience]
  }
  if (options.scope !== undefined) base['scope'] = options.scope
  const sign = (index: number): Promise<string> => {
    const payload = { ...base }
    if (options.subject !== undefined) {
      payload['sub'] = count > 1 ? `${options.subject}-${index + 1}` : options.subject
    }
    Object.assign(payload, options.claims)
    return new SignJWT(payload).setProtectedHeader(header).sign(key)
  }
  const tokens: string[] = []
  for (let from = 0; from < count; from += SIGN_BATCH) {
    const batch: Promise<string>[] = []
    for (let index = from; index < Math.min(count, from + SIGN_BATCH); index++)
      batch.push(sign(index))
    tokens.push(...(await Promise.all(batch)))
  }
  return tokens
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 }

/** `90`, `90s`, `15m`, `1h`, `7d` → seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim())
  if (match === null) throw new Error(`not a duration: ${text} (use 90, 90s, 15m, 1h or 7d)`)
  return Number(match[1]) * UNIT_SECONDS[match[2] === '' ? 's' : match[2]!]!
}

/** `k=v`: v as JSON when it parses (`n=3`, `admin=true`, `tags=["a"]`), else as a string. */
function parseClaim(text: string): [string, unknown] {
  const at = text.indexOf('=')
  if (at <= 0) throw new Error(`--claim wants k=v, got ${text}`)
  const value = text.slice(at + 1)
  try {
    return [text.slice(0, at), JSON.parse(value) as unknown]
  } catch {
    return [text.slice(0, at), value]
  }
}

const USAGE = `usage:
  issue-token keys  --alg RS256|ES256|EdDSA --out DIR [--kid K]
  issue-token token --key DIR/private.pem --alg RS256|ES256|EdDSA [--kid K] [--iss URL]
                    [--aud A]… [--sub S] [--scope "a b"] [--ttl 1h] [--claim k=v]… [--count N]
`

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      alg: { type: 'string' },
      out: { type: 'string' },
      kid: { type: 'string' },
      key: { type: 'string' },
      iss: { type: 'string' },
      aud: { type: 'string', multiple: true },
      sub: { type: 'string' },
      scope: { type: 'string' },
      ttl: { type: 'string', default: DEFAULT_TTL },
      claim: { type: 'string', multiple: true },
      count: { type: 'string', default: '1' },
    },
  })
  if (!isTokenAlgorithm(values.alg)) {
    throw new Error(`--alg must be one of ${TOKEN_ALGORITHMS.join(', ')}`)
  }
  if (command === 'keys') {
    if (values.out === undefined) throw new Error('keys needs --out DIR')
    const files = await createKeys(values.alg, values.out, values.kid)
    process.stdout.write(`${JSON.stringify(files)}\n`)
    return
  }
  if (command !== 'token') throw new Error(`unknown command ${String(command)}`)
  if (values.key === undefined) throw new Error('token needs --key PRIVATE.pem')
  const count = Number(values.count)
  if (!Number.isInteger(count) || count < 1) throw new Error('--count must be a whole number >= 1')
  const aud = values.aud ?? []
  const tokens = await issueTokens({
    privateKeyPem: await readFile(values.key, 'utf8'),
    alg: values.alg,
    ...(values.kid === undefined ? {} : { kid: values.kid }),
    ...(values.iss === undefined ? {} : { issuer: values.iss }),
    ...(aud.length === 0 ? {} : { audience: aud.length === 1 ? aud[0]! : aud }),
    ...(values.sub === undefined ? {} : { subject: values.sub }),
    ...(values.scope === undefined ? {} : { scope: values.scope }),
    ttlSeconds: parseDuration(values.ttl),
    claims: Object.fromEntries((values.claim ?? []).map(parseClaim)),
    count,
  })
  process.stdout.write(`${tokens.join('\n')}\n`)
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(
      `issue-token: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`,
    )
    process.exit(2)
  })
}
