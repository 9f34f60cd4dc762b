/**
 * Real keys, real tokens and a real JWKS endpoint for the JWT suites: keys from node:crypto,
 * tokens signed by jose (an implementation independent of the gateway's own verifier), and raw
 * compact serializations for the tokens no honest library would produce.
 */
import {
  createHmac,
  generateKeyPairSync,
  randomUUID,
  sign as cryptoSign,
  type KeyObject,
} from 'node:crypto'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT, type JWK, type JWTPayload } from 'jose'

export type TestAlgorithm =
  'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA'

export interface Signer {
  readonly alg: TestAlgorithm | 'HS256' | 'HS384' | 'HS512'
  readonly kid: string
  readonly privateKey: KeyObject
  /** The public half as a JWK with kid, alg and use; for HMAC signers, null. */
  readonly publicJwk: JWK | null
  readonly publicPem: string
}

const CURVES: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }

export function createSigner(alg: TestAlgorithm, kid: string = randomUUID()): Signer {
  const pair = alg.startsWith('ES')
    ? generateKeyPairSync('ec', { namedCurve: CURVES[alg]! })
    : alg === 'EdDSA'
      ? generateKeyPairSync('ed25519')
      : generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = pair.publicKey.export({ format: 'jwk' }) as JWK
  return {
    alg,
    kid,
    privateKey: pair.privateKey,
    publicJwk: { ...jwk, kid, alg, use: 'sig' },
    publicPem: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  }
}

export interface TokenOptions {
  readonly header?: Record<string, unknown>
  /** Omit the kid header. */
  readonly noKid?: boolean
}

/** Signs `claims` with jose. Times are unix seconds; pass them explicitly to test edges. */
export async function sign(
  signer: Signer,
  claims: JWTPayload & Record<string, unknown>,
  options: TokenOptions = {},
): Promise<string> {
  const header = {
    alg: signer.alg,
    ...(options.noKid ? {} : { kid: signer.kid }),
    ...options.header,
  }
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(signer.privateKey)
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}

export function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url')
}

/** A compact JWS from raw parts, for tokens jose refuses to make (alg none, crit…). */
export function compact(header: object, payload: object, signature = ''): string {
  return `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}.${signature}`
}

/**
 * An RS256 token with any header at all (jose refuses to sign a `crit` it does not know): the
 * signature is valid, so only the header rule can refuse it.
 */
export function signRawRs256(signer: Signer, header: object, payload: object): string {
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`
  return `${input}.${cryptoSign('sha256', Buffer.from(input), signer.privateKey).toString('base64url')}`
}

/** An HS256 token signed with arbitrary key bytes (the algorithm-confusion attack uses a PEM). */
export function hmacToken(header: object, payload: object, key: string | Buffer): string {
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`
  const digest = header && (header as { alg?: string }).alg === 'HS512' ? 'sha512' : 'sha256'
  return `${input}.${createHmac(digest, key).update(input).digest('base64url')}`
}

export type JwksMode = 'ok' | 'error' | 'garbage' | 'hang'

export interface JwksServer {
  readonly url: string
  /** Requests received so far. */
  readonly hits: number
  setKeys(keys: readonly JWK[]): void
  setMode(mode: JwksMode): void
  /** Answers this many milliseconds late (0: at once), like a slow identity provider. */
  setDelay(ms: number): void
  /** Cache-Control header of the answers; null sends none. */
  setCacheControl(value: string | null): void
  close(): Promise<void>
}

/** A JWKS endpoint under the test's control: rotation, outage, garbage, a slow server, one that never answers. */
export async function startJwksServer(keys: readonly JWK[]): Promise<JwksServer> {
  let current = keys
  let mode: JwksMode = 'ok'
  let cacheControl: string | null = null
  let delayMs = 0
  let hits = 0
  const hanging = new Set<ServerResponse>()
  const server: Server = createServer((_req, res) => {
    hits++
    if (mode === 'hang') {
      hanging.add(res)
      return
    }
    if (delayMs > 0) {
      hanging.add(res)
      setTimeout(() => {
        hanging.delete(res)
        if (!res.destroyed) answer(res)
      }, delayMs)
      return
    }
    answer(res)
  })
  const answer = (res: ServerResponse) => {
    if (mode === 'error') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('identity provider down')
      return
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (cacheControl !== null) headers['cache-control'] = cacheControl
    res
      .writeHead(200, headers)
      .end(
        mode === 'garbage'
          ? '{"keys": [ {"kty": "RSA", "n": 12'
          : JSON.stringify({ keys: current }),
      )
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get hits() {
      return hits
    },
    setKeys(keys) {
      current = keys
    },
    setMode(next) {
      mode = next
    },
    setDelay(ms) {
      delayMs = ms
    },
    setCacheControl(value) {
      cacheControl = value
    },
    async close() {
      for (const res of hanging) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
