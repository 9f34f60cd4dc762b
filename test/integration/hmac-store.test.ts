/**
 * HMAC credentials of the credential store through a real gateway (two workers) and a real
 * redis-server: created by the admin API, signed by an independent RFC 9421 implementation,
 * verified by workers that learned them through the sync; rotation with an overlap, revocation
 * and deletion, config key ids, the secret never in Redis or the logs in clear, and the config
 * errors of a store whose secrets the configured encryption keys cannot decrypt.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_DIGEST, adminCall, adminListeners, type AdminErrorBody } from '../helpers/admin.js'
import {
  runCli,
  startGateway,
  stopAllGateways,
  type ConfigInput,
  type Gateway,
} from '../helpers/gateway.js'
import { signedHeaders } from '../helpers/hmac.js'
import { send, type HttpResult } from '../helpers/http.js'
import { freePort } from '../helpers/ports.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { closeAllUpstreams, startUpstream, type Echo } from '../helpers/upstream.js'
import { sleep, waitUntil } from '../helpers/wait.js'

const K1 = randomBytes(32).toString('base64')
const K2 = randomBytes(32).toString('base64')
const CONFIG_SECRET = randomBytes(32).toString('hex')

interface HmacRecord {
  readonly key_id: string
  readonly consumer: string
  readonly state: string
  readonly scopes: string[]
  readonly expires_at: string | null
  readonly encryption_key: string
  readonly rotated_from: string | null
  readonly rotated_to: string | null
}
interface Issued {
  readonly secret: string | null
  readonly record: HmacRecord
}
interface Rotated extends Issued {
  readonly previous: HmacRecord
}

describe('HMAC credentials of the credential store', () => {
  let redis: RedisServer
  let raw: Redis
  let gateway: Gateway
  let admin: string
  let upstreamUrl: string
  let config: (keys: readonly { id: string; key: string }[]) => ConfigInput
  /** Every secret the test saw in clear: none may appear in Redis or the logs. */
  const secrets: Buffer[] = []
  let sequence = 0

  const call = <T = AdminErrorBody>(method: string, path: string, body?: unknown) =>
    adminCall<T>(admin, method, path, body)

  /** A GET signed with `keyId` and `secret`, on a path of its own (so never a replay). */
  async function signedGet(keyId: string, secret: Buffer): Promise<HttpResult> {
    const url = `${gateway.url}/hooks/orders?n=${++sequence}`
    const headers = await signedHeaders({
      method: 'GET',
      url,
      keyId,
      secret,
      components: ['@method', '@target-uri'],
    })
    return send(url, { headers })
  }

  /** Waits until a signed request answers `status` (workers learn changes within a second). */
  function eventually(keyId: string, secret: Buffer, status: number): Promise<HttpResult> {
    return waitUntil(
      async () => {
        const result = await signedGet(keyId, secret)
        return result.status === status ? result : undefined
      },
      { timeoutMs: 5000, intervalMs: 100, what: `${keyId} to answer ${status}` },
    )
  }

  function issuedSecret(issued: Issued): Buffer {
    expect(issued.secret).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const secret = Buffer.from(issued.secret!, 'base64url')
    secrets.push(secret)
    return secret
  }

  async function createStored(body: unknown = {}): Promise<Issued> {
    const created = await call<Issued>('POST', '/consumers/partner/hmac-credentials', body)
    expect(created.status).toBe(201)
    return created.json
  }

  beforeAll(async () => {
    redis = await startRedis()
    raw = new Redis(redis.url, { lazyConnect: true })
    await raw.connect()
    const upstream = await startUpstream('hooks')
    upstreamUrl = upstream.url
    const ports = await adminListeners()
    admin = ports.adminUrl
    config = (keys) => ({
      listeners: ports.listeners,
      log: { audit: true },
      admin: { tokens: [ADMIN_DIGEST] },
      redis: { url: redis.url, encryption_keys: keys },
      consumers: [
        {
          name: 'acme',
          hmac_credentials: [
            { key_id: 'acme-cfg', secret: '${PCL_TEST_CONFIG_SECRET}', secret_encoding: 'hex' },
          ],
        },
      ],
      upstreams: { hooks: { targets: [upstream.url] } },
      routes: [{ name: 'hooks', match: { paths: ['/hooks/*'] }, upstream: 'hooks', auth: 'hmac' }],
    })
    gateway = await startGateway({
      workers: 2,
      env: {
        ...process.env,
        PCL_TEST_K1: K1,
        PCL_TEST_K2: K2,
        PCL_TEST_CONFIG_SECRET: CONFIG_SECRET,
      },
      config: config([{ id: 'k1', key: '${PCL_TEST_K1}' }]),
    })
    secrets.push(Buffer.from(CONFIG_SECRET, 'hex'))
    expect((await call('POST', '/consumers', { name: 'partner' })).status).toBe(201)
  })

  afterAll(async () => {
    raw?.disconnect()
    await stopAllGateways()
    await closeAllUpstreams()
    await redis?.kill()
  })

  it('admits a request signed with a created credential, with its consumer as the identity', async () => {
    const issued = await createStored({ scopes: ['hooks:write'], label: 'shop webhooks' })
    expect(issued.record).toMatchObject({
      consumer: 'partner',
      state: 'active',
      scopes: ['hooks:write'],
      encryption_key: 'k1',
    })
    expect(issued.record.key_id).toMatch(/^hk_[0-9A-Za-z]{16}$/)
    const secret = issuedSecret(issued)
    const result = await eventually(issued.record.key_id, secret, 200)
    const echo = result.json<Echo>()
    expect(echo.headers['x-consumer-id']).toBe('partner')
    // Read back, it never shows the secret, clear or sealed.
    const read = await call<Record<string, unknown>>(
      'GET',
      `/hmac-credentials/${issued.record.key_id}`,
    )
    expect(read.status).toBe(200)
    expect(Object.keys(read.json)).not.toContain('secret')
    const listed = await call<{ items: HmacRecord[] }>('GET', '/hmac-credentials?consumer=partner')
    expect(listed.json.items.map((i) => i.key_id)).toContain(issued.record.key_id)
    expect(JSON.stringify(listed.json)).not.toContain(issued.secret)
  })

  it('refuses a signature made with another secret for a stored key id', async () => {
    const issued = await createStored()
    issuedSecret(issued)
    await eventually(issued.record.key_id, randomBytes(32), 401)
  })

  it('takes a secret of the client, never answers it, and refuses one shorter than 32 bytes', async () => {
    const own = randomBytes(32)
    secrets.push(own)
    const issued = await createStored({
      key_id: 'partner-own',
      secret: own.toString('base64'),
      secret_encoding: 'base64',
    })
    expect(issued.secret).toBeNull()
    expect(issued.record.key_id).toBe('partner-own')
    await eventually('partner-own', own, 200)
    const again = await call('POST', '/consumers/partner/hmac-credentials', {
      key_id: 'partner-own',
    })
    expect(again.status).toBe(409)
    expect(again.json.error).toBe('conflict')
    const short = randomBytes(16).toString('hex')
    const refused = await call('POST', '/consumers/partner/hmac-credentials', {
      secret: short,
      secret_encoding: 'hex',
    })
    expect(refused.status).toBe(400)
    expect(refused.json.problems).toEqual([
      {
        path: 'secret',
        reason: "must be at least 32 bytes once decoded, the HMAC's output length (got 16)",
      },
    ])
    expect(JSON.stringify(refused.json)).not.toContain(short)
  })

  it('answers 404 for a credential of a consumer that does not exist', async () => {
    const answer = await call('POST', '/consumers/nobody/hmac-credentials', {})
    expect(answer.status).toBe(404)
  })

  it('leaves a key id of the config to the config: 409 config_owned, the config secret verifying', async () => {
    for (const [method, path, body] of [
      ['POST', '/consumers/partner/hmac-credentials', { key_id: 'acme-cfg' }],
      ['POST', '/hmac-credentials/acme-cfg/revoke', undefined],
      ['DELETE', '/hmac-credentials/acme-cfg', undefined],
    ] as const) {
      const answer = await call(method, path, body)
      expect(answer.status, path).toBe(409)
      expect(answer.json.error).toBe('config_owned')
    }
    const result = await signedGet('acme-cfg', Buffer.from(CONFIG_SECRET, 'hex'))
    expect(result.status).toBe(200)
    expect(result.json<Echo>().headers['x-consumer-id']).toBe('acme')
  })

  it('rotates: both secrets verify during the grace period, then only the new one', async () => {
    const issued = await createStored()
    const old = issuedSecret(issued)
    await eventually(issued.record.key_id, old, 200)
    const rotated = await call<Rotated>(
      'POST',
      `/hmac-credentials/${issued.record.key_id}/rotate`,
      {
        grace: '3s',
      },
    )
    expect(rotated.status).toBe(201)
    const next = issuedSecret(rotated.json)
    expect(rotated.json.record.rotated_from).toBe(issued.record.key_id)
    expect(rotated.json.previous.rotated_to).toBe(rotated.json.record.key_id)
    expect(rotated.json.previous.expires_at).not.toBeNull()
    await eventually(rotated.json.record.key_id, next, 200)
    // Within the overlap the old one still verifies, on every worker.
    for (let i = 0; i < 4; i++) {
      expect((await signedGet(issued.record.key_id, old)).status).toBe(200)
    }
    const refused = await eventually(issued.record.key_id, old, 401)
    const id = refused.headers['x-request-id']
    const line = await gateway.waitForLog(
      (l) => l['audit'] === 'authenticate' && l['request_id'] === id,
      5000,
    )
    expect(line['reason']).toBe('key_expired')
    expect((await signedGet(rotated.json.record.key_id, next)).status).toBe(200)
  })

  it('refuses a revoked credential within moments, and a deleted one', async () => {
    const a = await createStored()
    const b = await createStored()
    const secretA = issuedSecret(a)
    const secretB = issuedSecret(b)
    await eventually(a.record.key_id, secretA, 200)
    await eventually(b.record.key_id, secretB, 200)
    const revoked = await call<HmacRecord>('POST', `/hmac-credentials/${a.record.key_id}/revoke`)
    expect(revoked.status).toBe(200)
    expect(revoked.json.state).toBe('revoked')
    await eventually(a.record.key_id, secretA, 401)
    expect((await call('DELETE', `/hmac-credentials/${b.record.key_id}`)).status).toBe(204)
    await eventually(b.record.key_id, secretB, 401)
    expect((await call('GET', `/hmac-credentials/${b.record.key_id}`)).status).toBe(404)
  })

  it('deletes the credentials of a deleted consumer', async () => {
    expect((await call('POST', '/consumers', { name: 'shortlived' })).status).toBe(201)
    const created = await call<Issued>('POST', '/consumers/shortlived/hmac-credentials', {})
    const secret = issuedSecret(created.json)
    await eventually(created.json.record.key_id, secret, 200)
    expect((await call('DELETE', '/consumers/shortlived')).status).toBe(204)
    await eventually(created.json.record.key_id, secret, 401)
    expect((await call('GET', `/hmac-credentials/${created.json.record.key_id}`)).status).toBe(404)
  })

  it('keeps no secret in clear in Redis, nor in any log line', async () => {
    const values: string[] = []
    for (const key of await raw.keys('*')) {
      const type = await raw.type(key)
      if (type === 'hash') values.push(key, ...Object.values(await raw.hgetall(key)))
      else if (type === 'set') values.push(key, ...(await raw.smembers(key)))
      else if (type === 'zset') values.push(key, ...(await raw.zrange(key, 0, -1)))
      else if (type === 'string') values.push(key, (await raw.get(key)) ?? '')
    }
    const stored = await raw.hgetall('portcullis:hmac')
    expect(Object.keys(stored).length).toBeGreaterThan(3)
    const dump = values.join('\n')
    const logs = JSON.stringify(gateway.logs) + gateway.stderr.join('\n')
    expect(secrets.length).toBeGreaterThan(5)
    for (const secret of secrets) {
      for (const form of ['base64', 'base64url', 'hex', 'latin1'] as const) {
        const text = secret.toString(form)
        expect(dump.includes(text), form).toBe(false)
        expect(logs.includes(text), form).toBe(false)
      }
    }
    // What is there instead: a sealed secret naming its encryption key.
    const record = JSON.parse(Object.values(stored)[0]!) as { secret: Record<string, string> }
    expect(Object.keys(record.secret).sort()).toEqual(['data', 'iv', 'key'])
  })

  it('audits every change by key id, never with the secret', async () => {
    const lines = gateway.logs.filter((l) => l['audit'] === 'admin')
    const actions = new Set(lines.map((l) => l['action']))
    for (const action of ['hmac.create', 'hmac.rotate', 'hmac.revoke', 'hmac.delete']) {
      expect(actions, action).toContain(action)
    }
  })

  describe('encryption keys', () => {
    /** A config file for a `start` that is expected to fail before it binds anything. */
    async function configFile(keys: readonly { id: string; key: string }[]): Promise<string> {
      const dir = mkdtempSync(join(tmpdir(), 'pcl-hmac-store-'))
      const file = join(dir, 'gateway.json')
      const text: ConfigInput = {
        listeners: { http: { host: '127.0.0.1', port: await freePort() } },
        redis: { url: redis.url, encryption_keys: keys },
        upstreams: { hooks: { targets: [upstreamUrl] } },
        routes: [
          { name: 'hooks', match: { paths: ['/hooks/*'] }, upstream: 'hooks', auth: 'hmac' },
        ],
      }
      writeFileSync(file, JSON.stringify(text))
      return file
    }

    it('refuses to start on a store holding HMAC credentials without an encryption key', async () => {
      const run = await runCli(['start', '--config', await configFile([]), '--workers', '0'])
      expect(run.code).toBe(1)
      expect(run.stderr).toContain('redis.encryption_keys: the credential store holds HMAC')
      expect(run.stderr).toContain('redis.encryption_keys is empty')
    })

    it('refuses to start with another key under the id that sealed them', async () => {
      const wrong = randomBytes(32).toString('base64')
      const run = await runCli([
        'start',
        '--config',
        await configFile([{ id: 'k1', key: wrong }]),
        '--workers',
        '0',
      ])
      expect(run.code).toBe(1)
      expect(run.stderr).toContain('key "k1" of redis.encryption_keys is not the key')
      expect(run.stderr).not.toContain(wrong)
    })

    it('refuses a key of another length as a config error naming its path', async () => {
      const short = randomBytes(16).toString('base64')
      const run = await runCli(['start', '--config', await configFile([{ id: 'k1', key: short }])])
      expect(run.code).toBe(1)
      expect(run.stderr).toContain('redis.encryption_keys[0].key: must be 32 bytes')
    })

    it('refuses a reload without the key, and keeps verifying', async () => {
      const issued = await createStored()
      const secret = issuedSecret(issued)
      await eventually(issued.record.key_id, secret, 200)
      const line = await gateway.reload(config([]))
      expect(String(line.msg)).toContain('reload refused')
      expect(JSON.stringify(line)).toContain('redis.encryption_keys')
      expect((await signedGet(issued.record.key_id, secret)).status).toBe(200)
    })

    it('rotates the master key: [k2, k1] opens k1 secrets and seals new ones with k2', async () => {
      const before = await createStored()
      const oldSecret = issuedSecret(before)
      expect(before.record.encryption_key).toBe('k1')
      const line = await gateway.reload(
        config([
          { id: 'k2', key: '${PCL_TEST_K2}' },
          { id: 'k1', key: '${PCL_TEST_K1}' },
        ]),
      )
      expect(String(line.msg)).toMatch(/reloaded/)
      await eventually(before.record.key_id, oldSecret, 200)
      const after = await createStored()
      expect(after.record.encryption_key).toBe('k2')
      await eventually(after.record.key_id, issuedSecret(after), 200)
      // Without k1 the credentials it sealed would not decrypt: that config is refused.
      const k2only = await runCli([
        'start',
        '--config',
        await configFile([{ id: 'k2', key: K2 }]),
        '--workers',
        '0',
      ])
      expect(k2only.code).toBe(1)
      expect(k2only.stderr).toContain('which redis.encryption_keys does not list')
      // Re-encrypted under k2, the secrets no longer need k1: the same key ids and secrets verify.
      const reencrypted = await call<{ encryption_key: string; reencrypted: number; failed: [] }>(
        'POST',
        '/hmac-secrets/reencrypt',
      )
      expect(reencrypted.status).toBe(200)
      expect(reencrypted.json.encryption_key).toBe('k2')
      expect(reencrypted.json.reencrypted).toBeGreaterThan(0)
      expect(reencrypted.json.failed).toEqual([])
      const read = await call<HmacRecord>('GET', `/hmac-credentials/${before.record.key_id}`)
      expect(read.json.encryption_key).toBe('k2')
      const k2reload = await gateway.reload(config([{ id: 'k2', key: '${PCL_TEST_K2}' }]))
      expect(String(k2reload.msg)).toMatch(/reloaded/)
      // The workers' new sync has read the store with k2 alone by now.
      await sleep(1500)
      expect((await signedGet(before.record.key_id, oldSecret)).status).toBe(200)
      expect(gateway.logs.some((l) => String(l.msg).includes('cannot be decrypted'))).toBe(false)
    })
  })

  describe('without encryption keys', () => {
    it('answers 503 encryption_not_configured to a create, naming the config key', async () => {
      const ports = await adminListeners()
      await startGateway({
        config: {
          listeners: ports.listeners,
          admin: { tokens: [ADMIN_DIGEST] },
          // Another prefix: an empty store, so the gateway starts without keys.
          redis: { url: redis.url, key_prefix: 'empty:' },
          upstreams: { hooks: { targets: [upstreamUrl] } },
          routes: [
            { name: 'hooks', match: { paths: ['/hooks/*'] }, upstream: 'hooks', auth: 'hmac' },
          ],
        },
      })
      expect((await adminCall(ports.adminUrl, 'POST', '/consumers', { name: 'p' })).status).toBe(
        201,
      )
      const answer = await adminCall(ports.adminUrl, 'POST', '/consumers/p/hmac-credentials', {})
      expect(answer.status).toBe(503)
      expect(answer.json.error).toBe('encryption_not_configured')
      expect(answer.json.message).toContain('redis.encryption_keys')
      expect(await raw.hlen('empty:hmac')).toBe(0)
    })
  })
})
