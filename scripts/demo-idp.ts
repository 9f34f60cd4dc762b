/**
 * A stand-in identity provider for the demo: an RS256 key made at startup, its JWKS served on
 * `/.well-known/jwks.json`, and tokens minted in-process for the curl lines `npm start` prints.
 * Never for production: the key lives only as long as the process.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT, type JWTPayload } from 'jose'

export const DEMO_ISSUER = 'http://127.0.0.1:3001'
export const DEMO_AUDIENCE = 'portcullis-demo'

export interface DemoIdp {
  readonly port: number
  /** A token of the demo issuer, valid for an hour, with these claims added. */
  mint(claims: JWTPayload & Record<string, unknown>): Promise<string>
  close(): Promise<void>
}

export function startDemoIdp(port: number, host = '127.0.0.1'): Promise<DemoIdp> {
  const kid = randomUUID()
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwks = JSON.stringify({
    keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }],
  })
  const server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' })
      res.end(jwks)
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}')
    }
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        mint: (claims) =>
          new SignJWT(claims)
            .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
            .setIssuer(DEMO_ISSUER)
            .setAudience(DEMO_AUDIENCE)
            .setIssuedAt()
            .setExpirationTime('1h')
            .sign(privateKey),
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          }),
      })
    })
  })
}
