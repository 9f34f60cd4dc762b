/**
 * jwt-rs256, jwt-es256, jwt-eddsa: every request carries a bearer JWT that the gateway verifies
 * (signature, iss, aud, exp) before it forwards.
 *
 * Two streams each, because a verified-token cache flatters a single token: `one-token` repeats
 * one token (a gateway with a cache verifies it once), `10k-tokens` rotates over 10 000 distinct
 * valid tokens and asks every gateway to keep no cache (portcullis `cache_size: 0`), so each
 * request pays a signature check, as HAProxy's `jwt_verify` always does.
 */
import { join } from 'node:path'
import { readSigningKey, signToken, type TokenClaims } from '../../src/cli/token.js'
import { createKeys, type TokenAlgorithm } from '../keys.js'
import { benchPreamble } from './passthrough.js'
import type { BenchRequest, JwtWork, Listen, Scenario, ScenarioContext } from './types.js'

export const BENCH_ISSUER = 'https://issuer.bench.local'
export const BENCH_AUDIENCE = 'bench'
/** Distinct tokens of the rotating stream: more than any loader sends in one window here. */
export const TOKEN_COUNT = 10_000
/** Tokens outlive any run; `iat` is now, as an IdP would issue them. */
const TOKEN_TTL_SECONDS = 24 * 3600
/** Tokens signed at once: enough to keep libuv's thread pool busy, few enough to bound memory. */
const SIGN_BATCH = 256

function jwtConfig(ctx: ScenarioContext, work: JwtWork, at: Listen): string {
  // cache_size left out keeps portcullis's default cache (what a user gets); 0 turns it off.
  return `${benchPreamble(at)}issuers:
  - name: bench
    issuer: ${work.issuer}
    keys: ${work.publicKeyFile}
    audiences: [${work.audience}]
    algorithms: [${work.alg}]
${work.cache ? '' : '    cache_size: 0\n'}upstreams:
  bench: { targets: [${ctx.upstreamOrigin}] }
routes:
  - name: jwt
    match: { paths: [/*] }
    upstream: bench
    auth: jwt
    jwt: { issuers: [bench] }
`
}

const bearer = (token: string): BenchRequest => ({
  method: 'GET',
  path: '/bench',
  headers: { authorization: `Bearer ${token}` },
})

function jwtScenario(alg: TokenAlgorithm): Scenario {
  return {
    name: `jwt-${alg.toLowerCase()}`,
    description:
      `GET /bench with a bearer ${alg} JWT verified by the gateway (signature, iss, aud, exp), ` +
      `one prefix route: one token repeated, and ${TOKEN_COUNT.toLocaleString('en-US')} distinct ` +
      'tokens in rotation with every token cache off',
    async prepare(ctx) {
      const keys = await createKeys(alg, join(ctx.workDir, `keys-${alg.toLowerCase()}`))
      const key = await readSigningKey(keys.privateKey, alg, keys.kid)
      const claims: TokenClaims = {
        issuer: BENCH_ISSUER,
        audiences: [BENCH_AUDIENCE],
        ttlSeconds: TOKEN_TTL_SECONDS,
        subject: 'bench-user',
      }
      const one = await signToken(key, claims)
      // A distinct sub each, so no two of the rotating tokens are alike.
      const many: string[] = []
      for (let from = 0; from < TOKEN_COUNT; from += SIGN_BATCH) {
        const batch: Promise<string>[] = []
        for (let i = from; i < Math.min(TOKEN_COUNT, from + SIGN_BATCH); i++) {
          batch.push(signToken(key, { ...claims, subject: `bench-user-${i + 1}` }))
        }
        many.push(...(await Promise.all(batch)))
      }
      const work = (cache: boolean): JwtWork => ({
        kind: 'jwt',
        alg,
        publicKeyFile: keys.publicKey,
        jwksFile: keys.jwks,
        issuer: BENCH_ISSUER,
        audience: BENCH_AUDIENCE,
        cache,
      })
      const cached = work(true)
      const uncached = work(false)
      return {
        gatewayConfig: (at) => jwtConfig(ctx, cached, at),
        targets: [
          { name: 'direct', via: 'upstream', requests: [bearer(one)] },
          { name: 'one-token', via: 'gateway', requests: [bearer(one)], work: cached },
          {
            name: '10k-tokens',
            via: 'gateway',
            requests: many.map(bearer),
            work: uncached,
            gatewayConfig: (at) => jwtConfig(ctx, uncached, at),
          },
        ],
      }
    },
  }
}

export const jwtRs256 = jwtScenario('RS256')
export const jwtEs256 = jwtScenario('ES256')
export const jwtEddsa = jwtScenario('EdDSA')
