/**
 * Revocation through Redis: `portcullis revoke` writes the jti once through the admin API, and
 * every worker of every gateway sharing that Redis refuses the token within a second, without a Redis round trip per
 * request; a Redis outage keeps the last known list, and a reload to another key prefix follows
 * the list under it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  runCli,
  startGateway,
  stopAllGateways,
  type ConfigInput,
  type Gateway,
} from '../helpers/gateway.js'
import { ADMIN_DIGEST, ADMIN_TOKEN, adminListeners } from '../helpers/admin.js'
import { send } from '../helpers/http.js'
import { createSigner, nowSeconds, sign, type Signer } from '../helpers/jwt.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { closeAllUpstreams, startUpstream } from '../helpers/upstream.js'

const ISS = 'https://revoking.issuer.test'
const AUD = 'api'

describe('revocation through redis', () => {
  let redis: RedisServer
  let gateway: Gateway
  let signer: Signer
  let config: (keyPrefix?: string) => ConfigInput
  let adminUrl: string
  /** `portcullis revoke` through the gateway's admin listener. */
  const revoke = (jti: string, url = adminUrl) =>
    runCli([
      'revoke',
      '--admin-url',
      url,
      '--admin-token',
      ADMIN_TOKEN,
      '--jti',
      jti,
      '--ttl',
      '10m',
    ])

  beforeAll(async () => {
    redis = await startRedis()
    signer = createSigner('RS256')
    const dir = mkdtempSync(join(tmpdir(), 'pcl-revoke-'))
    const keyFile = join(dir, 'key.pem')
    writeFileSync(keyFile, signer.publicPem)
    const upstream = await startUpstream('echo')
    const ports = await adminListeners()
    adminUrl = ports.adminUrl
    config = (keyPrefix) => ({
      listeners: ports.listeners,
      admin: { tokens: [ADMIN_DIGEST] },
      redis: { url: redis.url, ...(keyPrefix === undefined ? {} : { key_prefix: keyPrefix }) },
      upstreams: { echo: { targets: [upstream.url] } },
      issuers: [
        { name: 'idp', issuer: ISS, keys: keyFile, audiences: [AUD], algorithms: ['RS256'] },
      ],
      routes: [
        {
          name: 'api',
          match: { paths: ['/*'] },
          upstream: 'echo',
          auth: 'jwt',
          jwt: { issuers: ['idp'] },
        },
      ],
    })
    gateway = await startGateway({ workers: 2, config: config() })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
    await redis?.kill()
  })

  const token = (jti: string) =>
    sign(signer, { iss: ISS, aud: AUD, sub: 'u', jti, exp: nowSeconds() + 600 })

  /** Statuses of `n` requests on fresh connections, so both workers answer some. */
  async function statuses(t: string, n = 8): Promise<number[]> {
    const out: number[] = []
    for (let i = 0; i < n; i++) {
      out.push((await send(gateway.url, { headers: { authorization: `Bearer ${t}` } })).status)
    }
    return out
  }

  it('refuses a token on every worker within a second of `portcullis revoke`', async () => {
    const t = await token('jti-1')
    expect(await statuses(t)).toEqual(Array(8).fill(200)) // now cached as valid on both workers
    const revoked = await revoke('jti-1')
    expect(revoked.code, revoked.stderr).toBe(0)
    await new Promise((r) => setTimeout(r, 1100))
    expect(await statuses(t)).toEqual(Array(8).fill(401))
    // Other tokens are untouched.
    expect(await statuses(await token('jti-2'))).toEqual(Array(8).fill(200))
  })

  it('keeps refusing revoked tokens and admitting others while Redis is down, and recovers', async () => {
    const t = await token('jti-3')
    await revoke('jti-3')
    await new Promise((r) => setTimeout(r, 1100))
    await redis.kill()
    expect(await statuses(t, 4)).toEqual(Array(4).fill(401))
    expect(await statuses(await token('jti-4'), 4)).toEqual(Array(4).fill(200))
    await redis.restart()
    // A fresh Redis (no persistence) knows no revocations: the list follows it once reconnected.
    const t5 = await token('jti-5')
    let revoked = { code: 1 as number | null, stderr: '' }
    for (let i = 0; i < 20 && revoked.code !== 0; i++) {
      revoked = await revoke('jti-5')
    }
    expect(revoked.code, revoked.stderr).toBe(0)
    const started = Date.now()
    let last: number[] = []
    while (Date.now() - started < 8000) {
      last = await statuses(t5, 4)
      if (last.every((s) => s === 401)) break
      await new Promise((r) => setTimeout(r, 200))
    }
    expect(last).toEqual(Array(4).fill(401))
  })

  /** Statuses of `t` until they are all `status`, for at most `ms`; the last ones seen. */
  async function settleTo(t: string, status: number, ms = 5000): Promise<number[]> {
    const started = Date.now()
    let last: number[] = []
    while (Date.now() - started < ms) {
      last = await statuses(t, 4)
      if (last.every((s) => s === status)) break
      await new Promise((r) => setTimeout(r, 200))
    }
    return last
  }

  it('follows a reload that changes the key prefix: the deny-list under the new one holds', async () => {
    const before = await token('jti-before-rename')
    expect((await revoke('jti-before-rename')).code).toBe(0)
    expect(await settleTo(before, 401)).toEqual(Array(4).fill(401))
    expect((await gateway.reload(config('renamed:'))).msg).toBe('config reloaded')
    // The admin API takes the reloaded config: it revokes under the new prefix.
    const after = await token('jti-after-rename')
    expect(await statuses(after, 4)).toEqual(Array(4).fill(200))
    expect((await revoke('jti-after-rename')).code).toBe(0)
    expect(await settleTo(after, 401)).toEqual(Array(4).fill(401))
    // The list under the old prefix is another gateway's now.
    expect(await settleTo(before, 200)).toEqual(Array(4).fill(200))
  })

  it('says how to revoke without redis', async () => {
    const upstream = await startUpstream('echo')
    const ports = await adminListeners()
    await startGateway({
      config: {
        listeners: ports.listeners,
        admin: { tokens: [ADMIN_DIGEST] },
        upstreams: { echo: { targets: [upstream.url] } },
        routes: [],
      },
    })
    const result = await revoke('x', ports.adminUrl)
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('503 store_unavailable')
    expect(result.stderr).toContain('revocation.jtis')
  })
})
