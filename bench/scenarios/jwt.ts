/**
 * jwt-rs256, jwt-es256, jwt-eddsa: every request carries a bearer JWT that the gateway verifies
 * (signature, iss, aud, exp) before it forwards.
 *
 * Two streams each, because a verified-token cache flatters a single token: `one-token` repeats
 * one token (a gateway with a cache verifies it once), `10k-tokens` rotates over 10 000 distinct
 * valid tokens and asks every gateway to keep no cache (portcullis `cache_size: 0`), so each
 * request pays a signature check, as HAProxy's `jwt_verify` always does.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createKeys, issueTokens, type TokenAlgorithm } from '../../scripts/issue-token.js'
import { benchPreamble } from './passthrough.js'
import type { BenchRequest, JwtWork, Listen, Scenario, ScenarioContext } from './types.js'

export const BENCH_ISSUER = 'https://issuer.bench.local'
export const BENCH_AUDIENCE = 'bench'
/** Distinct tokens of the rotating stream: more than any loader sends in one window here. */
export const TOKEN_COUNT = 10_000
/** Tokens outlive any run; `iat` is now, as an IdP would issue them. */
const TOKEN_TTL_SECONDS = 24 * 3600

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
      const privateKeyPem = await readFile(keys.privateKey, 'utf8')
      const claims = {
        privateKeyPem,
        alg,
        kid: keys.kid,
        issuer: BENCH_ISSUER,
        audience: BENCH_AUDIENCE,
        ttlSeconds: TOKEN_TTL_SECONDS,
      }
      const [one] = await issueTokens({ ...claims, subject: 'bench-user' })
      const many = await issueTokens({ ...claims, subject: 'bench-user', count: TOKEN_COUNT })
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
          { name: 'direct', via: 'upstream', requests: [bearer(one!)] },
          { name: 'one-token', via: 'gateway', requests: [bearer(one!)], work: cached },
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
