/**
 * The admin API on a real gateway (two workers sharing the admin port) and a real redis-server:
 * bearer tokens by digest, consumers and keys through the credential store, config-owned
 * consumers, revocations, status, the OpenAPI document against what the server answers, and
 * 503 store_unavailable without a store.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ADMIN_DIGEST,
  ADMIN_TOKEN,
  adminCall,
  adminListeners,
  type AdminErrorBody,
} from '../helpers/admin.js'
import {
  REPO_ROOT,
  startGateway,
  stopAllGateways,
  type ConfigInput,
  type Gateway,
} from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { closeAllUpstreams, startUpstream } from '../helpers/upstream.js'

interface ConsumerBody {
  readonly name: string
  readonly groups: string[]
  readonly tier: string | null
  readonly metadata: Record<string, string>
  readonly disabled: boolean
  readonly source: 'config' | 'store'
  readonly created_at: string | null
}
interface KeyBody {
  readonly id: string
  readonly consumer: string
  readonly prefix: string
  readonly last4: string
  readonly state: string
  readonly scopes: string[]
  readonly expires_at: string | null
  readonly rotated_from: string | null
  readonly rotated_to: string | null
}
interface PageBody<T> {
  readonly items: T[]
  readonly next_cursor: string | null
}
interface NewKeyBody {
  readonly key: string
  readonly record: KeyBody
}

const OTHER_TOKEN = 'another-admin-token-77'

describe('admin API', () => {
  let redis: RedisServer
  let gateway: Gateway
  let admin: string
  let config: (tokens: readonly string[]) => ConfigInput

  const call = <T = AdminErrorBody>(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ) => adminCall<T>(admin, method, path, body, token)

  beforeAll(async () => {
    redis = await startRedis()
    const upstream = await startUpstream('echo')
    const ports = await adminListeners()
    admin = ports.adminUrl
    config = (tokens) => ({
      listeners: ports.listeners,
      admin: { tokens },
      redis: { url: redis.url },
      consumers: [{ name: 'acme', groups: ['partners'], metadata: { tenant: 'acme' } }],
      upstreams: { echo: { targets: [upstream.url] } },
      routes: [{ name: 'api', match: { paths: ['/api/*'] }, upstream: 'echo', auth: 'none' }],
    })
    gateway = await startGateway({ workers: 2, config: config([ADMIN_DIGEST]) })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
    await redis?.kill()
  })

  describe('authentication', () => {
    it('refuses a call without a token: 401 admin_unauthorized with a Bearer challenge', async () => {
      const answer = await call('GET', '/status', undefined, null)
      expect(answer.status).toBe(401)
      expect(answer.json.error).toBe('admin_unauthorized')
      expect(answer.json.request_id).toMatch(/^[0-9a-f-]{36}$/)
      expect(answer.headers['www-authenticate']).toBe('Bearer realm="portcullis-admin"')
    })

    it('refuses a token whose digest is not in admin.tokens', async () => {
      for (const token of [OTHER_TOKEN, `${ADMIN_TOKEN}x`, ADMIN_DIGEST]) {
        const answer = await call('GET', '/consumers', undefined, token)
        expect(answer.status, token).toBe(401)
        expect(answer.headers['www-authenticate']).toContain('error="invalid_token"')
      }
      const basic = await send(`${admin}/consumers`, {
        headers: { authorization: `Basic ${Buffer.from(`a:${ADMIN_TOKEN}`).toString('base64')}` },
      })
      expect(basic.status).toBe(401)
    })

    it('refuses before routing: an unknown path without a token is 401, not 404', async () => {
      expect((await call('GET', '/nothing-here', undefined, null)).status).toBe(401)
      expect((await call('GET', '/nothing-here')).status).toBe(404)
    })

    it('is not reachable on the traffic listener', async () => {
      const auth = { authorization: `Bearer ${ADMIN_TOKEN}` }
      for (const path of ['/consumers', '/keys', '/status', '/openapi.json', '/consumers/acme']) {
        const answer = await send(`${gateway.url}${path}`, { headers: auth })
        expect(answer.status, path).toBe(404)
        expect(JSON.parse(answer.text).message, path).toBe('No route matches this request.')
      }
      const created = await send(`${gateway.url}/consumers`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'via-traffic' }),
      })
      expect(created.status).toBe(404)
      expect((await call('GET', '/consumers/via-traffic')).status).toBe(404)
    })

    it('takes the tokens of a reload, and counts the generation', async () => {
      const other = (await import('node:crypto'))
        .createHash('sha256')
        .update(OTHER_TOKEN)
        .digest('hex')
      await gateway.reload(config([other]))
      // Both workers took it: every call on fresh connections sees the new tokens.
      for (let i = 0; i < 6; i++) {
        expect((await call('GET', '/status', undefined, ADMIN_TOKEN)).status).toBe(401)
        const status = await call<{ generation: number }>('GET', '/status', undefined, OTHER_TOKEN)
        expect(status.status).toBe(200)
        expect(status.json.generation).toBe(1)
      }
      await gateway.reload(config([ADMIN_DIGEST]))
      expect((await call('GET', '/status')).status).toBe(200)
    })
  })

  describe('consumers', () => {
    it('creates, reads, changes and deletes a stored consumer', async () => {
      const created = await call<ConsumerBody>('POST', '/consumers', {
        name: 'globex',
        groups: ['partners', 'beta'],
        tier: 'pro',
        metadata: { tenant: 'globex' },
      })
      expect(created.status).toBe(201)
      expect(created.json).toMatchObject({ name: 'globex', source: 'store', tier: 'pro' })
      expect(created.json.created_at).toMatch(/^\d{4}-\d\d-\d\dT/)
      const read = await call<ConsumerBody>('GET', '/consumers/globex')
      expect(read.json).toMatchObject({
        groups: ['partners', 'beta'],
        metadata: { tenant: 'globex' },
      })
      const changed = await call<ConsumerBody>('PATCH', '/consumers/globex', {
        disabled: true,
        tier: null,
      })
      expect(changed.status).toBe(200)
      expect(changed.json).toMatchObject({
        disabled: true,
        tier: null,
        groups: ['partners', 'beta'],
      })
      expect((await call('POST', '/consumers', { name: 'globex' })).json.error).toBe('conflict')
      expect((await call('DELETE', '/consumers/globex')).status).toBe(204)
      const gone = await call('GET', '/consumers/globex')
      expect(gone.status).toBe(404)
      expect(gone.json.error).toBe('not_found')
      expect((await call('DELETE', '/consumers/globex')).status).toBe(404)
    })

    it("pages through the config's consumers, then the store's, each once", async () => {
      const names = ['page-a', 'page-b', 'page-c', 'page-d', 'page-e']
      for (const name of names)
        expect((await call('POST', '/consumers', { name })).status).toBe(201)
      const seen: ConsumerBody[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const query: string = cursor === null ? '?limit=2' : `?limit=2&cursor=${cursor}`
        const page = await call<PageBody<ConsumerBody>>('GET', `/consumers${query}`)
        expect(page.status).toBe(200)
        expect(page.json.items.length).toBeLessThanOrEqual(2)
        seen.push(...page.json.items)
        cursor = page.json.next_cursor
        pages++
      } while (cursor !== null && pages < 50)
      expect(cursor).toBeNull()
      expect(seen[0]).toMatchObject({ name: 'acme', source: 'config', created_at: null })
      const listed = seen.map((c) => c.name)
      expect(new Set(listed).size).toBe(listed.length)
      expect(listed).toEqual(expect.arrayContaining(['acme', ...names]))
      expect(pages).toBeGreaterThanOrEqual(3)
    })

    it('refuses to change a config-owned consumer: 409 config_owned', async () => {
      const read = await call<ConsumerBody>('GET', '/consumers/acme')
      expect(read.json).toMatchObject({ name: 'acme', source: 'config', groups: ['partners'] })
      for (const [method, path, body] of [
        ['PATCH', '/consumers/acme', { tier: 'free' }],
        ['DELETE', '/consumers/acme', undefined],
        ['POST', '/consumers', { name: 'acme' }],
      ] as const) {
        const answer = await call(method, path, body)
        expect(answer.status, method).toBe(409)
        expect(answer.json.error, method).toBe('config_owned')
      }
    })

    it('answers 400 invalid_request with the path and reason of every problem', async () => {
      const answer = await call('POST', '/consumers', {
        name: 'bad name',
        groups: 'partners',
        extra: 1,
      })
      expect(answer.status).toBe(400)
      expect(answer.json.error).toBe('invalid_request')
      expect(answer.json.problems?.map((p) => p.path).sort()).toEqual(['extra', 'groups', 'name'])
      for (const problem of answer.json.problems!) expect(problem.reason).not.toBe('')
      const notJson = await call('POST', '/consumers', '{"name":')
      expect(notJson.status).toBe(400)
      expect((await call('GET', '/consumers?limit=0')).json.problems?.[0]?.path).toBe('limit')
      expect((await call('GET', '/consumers?cursor=bogus!')).status).toBe(400)
    })

    it('refuses a body over its limit with 413, unread', async () => {
      const answer = await call('POST', '/consumers', {
        name: 'big',
        metadata: { blob: 'x'.repeat(80 * 1024) },
      })
      expect(answer.status).toBe(413)
      expect(answer.json.error).toBe('payload_too_large')
    })

    it('answers 405 with Allow for a method the path does not take', async () => {
      const answer = await call('PUT', '/consumers/acme', {})
      expect(answer.status).toBe(405)
      expect(answer.headers['allow']).toBe('GET, PATCH, DELETE')
    })
  })

  describe('keys', () => {
    beforeAll(async () => {
      await call('POST', '/consumers', { name: 'keyed' })
    })

    it('shows a key once, at creation; list and get show only its id, prefix and last4', async () => {
      const created = await call<NewKeyBody>('POST', '/consumers/keyed/keys', {
        label: 'ci',
        scopes: ['orders:read'],
        allow_ips: ['10.0.0.0/8', '2001:db8::/32'],
      })
      expect(created.status).toBe(201)
      const { key, record } = created.json
      expect(key).toMatch(/^pc_live_[0-9A-Za-z]{30}_[0-9A-Za-z]{6}$/)
      expect(record).toMatchObject({ consumer: 'keyed', prefix: 'pc_live', state: 'active' })
      expect(record.last4).toBe(key.slice(-4))
      expect(created.json).not.toHaveProperty('record.hash')
      const got = await call<KeyBody>('GET', `/keys/${record.id}`)
      const listed = await call<PageBody<KeyBody>>('GET', '/keys?consumer=keyed')
      const all = await call<PageBody<KeyBody>>('GET', '/keys')
      for (const answer of [got, listed, all]) {
        expect(answer.status).toBe(200)
        const text = JSON.stringify(answer.json)
        expect(text).not.toContain(key)
        expect(text).not.toContain(key.slice(8, 38))
        expect(text).not.toContain('"hash"')
      }
      expect(listed.json.items.map((k) => k.id)).toContain(record.id)
    })

    it("creates keys for a config-owned consumer, and refuses an unknown consumer's", async () => {
      expect((await call('POST', '/consumers/acme/keys', {})).status).toBe(201)
      const unknown = await call('POST', '/consumers/nobody/keys', {})
      expect(unknown.status).toBe(404)
    })

    it('refuses an unknown prefix, impossible dates and bad addresses, each with its path', async () => {
      const answer = await call('POST', '/consumers/keyed/keys', {
        prefix: 'pc_other',
        expires_at: '2027-02-30T00:00:00Z',
        allow_ips: ['10.0.0.0/33', 'not-an-ip'],
      })
      expect(answer.status).toBe(400)
      expect(answer.json.problems?.map((p) => p.path)).toEqual([
        'prefix',
        'expires_at',
        'allow_ips[0]',
        'allow_ips[1]',
      ])
    })

    it('revokes a key; a second revoke is 409 conflict', async () => {
      const { record } = (await call<NewKeyBody>('POST', '/consumers/keyed/keys', {})).json
      const revoked = await call<KeyBody>('POST', `/keys/${record.id}/revoke`)
      expect(revoked.status).toBe(200)
      expect(revoked.json.state).toBe('revoked')
      expect((await call<KeyBody>('GET', `/keys/${record.id}`)).json.state).toBe('revoked')
      const again = await call('POST', `/keys/${record.id}/revoke`)
      expect(again.status).toBe(409)
      expect(again.json.error).toBe('conflict')
      expect((await call('POST', '/keys/key_doesnotexist0000/revoke')).status).toBe(404)
    })

    it('rotates a key: a new key, the old one valid for the grace and linked to it', async () => {
      const { record } = (await call<NewKeyBody>('POST', '/consumers/keyed/keys', {})).json
      const before = Date.now()
      const rotated = await call<NewKeyBody & { previous: KeyBody }>(
        'POST',
        `/keys/${record.id}/rotate`,
        { grace: '1h' },
      )
      expect(rotated.status).toBe(201)
      const { key, previous } = rotated.json
      expect(key).toMatch(/^pc_live_/)
      expect(rotated.json.record).toMatchObject({ rotated_from: record.id, state: 'active' })
      expect(previous).toMatchObject({ id: record.id, rotated_to: rotated.json.record.id })
      const expires = Date.parse(previous.expires_at!)
      expect(expires).toBeGreaterThanOrEqual(before + 3_600_000 - 1000)
      expect(expires).toBeLessThanOrEqual(Date.now() + 3_600_000 + 1000)
      const defaultGrace = await call<NewKeyBody & { previous: KeyBody }>(
        'POST',
        `/keys/${rotated.json.record.id}/rotate`,
      )
      expect(Date.parse(defaultGrace.json.previous.expires_at!)).toBeGreaterThan(
        Date.now() + 23 * 3_600_000,
      )
    })

    it('answers usage counts and last use of a key, 404 for an unknown one', async () => {
      const { record } = (await call<NewKeyBody>('POST', '/consumers/keyed/keys', {})).json
      const usage = await call('GET', `/keys/${record.id}/usage`)
      expect(usage.status).toBe(200)
      expect(usage.json).toEqual({
        id: record.id,
        admitted: 0,
        refused: 0,
        last_used_at: null,
        last_address: null,
      })
      expect((await call('GET', '/keys/key_doesnotexist0000/usage')).status).toBe(404)
    })

    it('writes an audit line per change: who by digest prefix, never a key or a token', async () => {
      const from = gateway.logs.length
      const { key, record } = (await call<NewKeyBody>('POST', '/consumers/keyed/keys', {})).json
      await call('POST', `/keys/${record.id}/revoke`)
      await call('PATCH', '/consumers/acme', { tier: 'x' })
      await call('POST', '/consumers', { name: 'audited' }, OTHER_TOKEN)
      const lines = [
        // A line of an earlier test may still arrive after `from`: match this key.
        await gateway.waitForLog(
          (l) => l['action'] === 'key.create' && l['target'] === record.id,
          5000,
          from,
        ),
        await gateway.waitForLog(
          (l) => l['action'] === 'key.revoke' && l['target'] === record.id,
          5000,
          from,
        ),
        await gateway.waitForLog(
          (l) => l['action'] === 'consumer.update' && l['error'] === 'config_owned',
          5000,
          from,
        ),
        await gateway.waitForLog(
          (l) => l['audit'] === 'admin' && l['who'] === null && l['action'] === 'POST /consumers',
          5000,
          from,
        ),
      ]
      const who = `sha256:${ADMIN_DIGEST.slice(0, 12)}`
      expect(lines[0]).toMatchObject({ audit: 'admin', who, target: record.id, status: 201 })
      expect(lines[0]!['time']).toMatch(/^\d{4}-/)
      expect(lines[1]).toMatchObject({ who, target: record.id, status: 200 })
      expect(lines[2]).toMatchObject({ who, status: 409, error: 'config_owned' })
      expect(lines[3]).toMatchObject({ action: 'POST /consumers', status: 401 })
      const written = JSON.stringify(gateway.logs.slice(from))
      for (const secret of [key, ADMIN_TOKEN, OTHER_TOKEN, ADMIN_DIGEST]) {
        expect(written).not.toContain(secret)
      }
    })

    it('deleting a consumer deletes its keys', async () => {
      await call('POST', '/consumers', { name: 'short-lived' })
      const { record } = (await call<NewKeyBody>('POST', '/consumers/short-lived/keys', {})).json
      expect((await call('DELETE', '/consumers/short-lived')).status).toBe(204)
      expect((await call('GET', `/keys/${record.id}`)).status).toBe(404)
    })
  })

  describe('revocations and status', () => {
    it('records a jti until its exp, or for a ttl; exactly one of them', async () => {
      const exp = Math.floor(Date.now() / 1000) + 600
      const byExp = await call('POST', '/revocations', { jti: 'jti-admin-1', exp })
      expect(byExp.status).toBe(201)
      expect(byExp.json).toMatchObject({ jti: 'jti-admin-1', exp })
      const byTtl = await call<{ exp: number }>('POST', '/revocations', {
        jti: 'jti-admin-2',
        ttl: '1h',
      })
      expect(byTtl.status).toBe(201)
      expect(byTtl.json.exp).toBeGreaterThan(exp)
      expect((await call('POST', '/revocations', { jti: 'x' })).status).toBe(400)
      expect((await call('POST', '/revocations', { jti: 'x', exp, ttl: '1h' })).status).toBe(400)
    })

    it('reports the generation, every worker, Redis and gossip', async () => {
      const status = await call<{
        worker: { index: number; count: number; pid: number }
        workers: { index: number; pid: number; listening: boolean }[]
        redis: { configured: boolean; revocations: string; credentials: string }
        credentials: { consumers: number; keys: number }
      }>('GET', '/status')
      expect(status.status).toBe(200)
      expect(status.json.worker.count).toBe(2)
      expect(gateway.workerPids).toContain(status.json.worker.pid)
      expect(status.json.workers.map((w) => w.pid).sort()).toEqual([...gateway.workerPids].sort())
      expect(status.json.workers.every((w) => w.listening)).toBe(true)
      expect(status.json.redis).toMatchObject({
        configured: true,
        revocations: 'ok',
        credentials: 'ok',
      })
      expect(status.json.credentials.consumers).toBeGreaterThanOrEqual(1)
    })
  })

  describe('the OpenAPI document', () => {
    const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']
    const API_PATHS = [
      '/consumers',
      '/consumers/{name}',
      '/consumers/{name}/keys',
      '/keys',
      '/keys/{id}',
      '/keys/{id}/revoke',
      '/keys/{id}/rotate',
      '/keys/{id}/usage',
      '/revocations',
      '/status',
      '/openapi.json',
    ]
    const NEIGHBOURS = ['/', '/consumer', '/consumers/{name}/usage', '/keys/{id}/extra', '/usage']

    it('is served as kept in the repo (docs/admin-openapi.json)', async () => {
      const served = await call('GET', '/openapi.json')
      const kept: unknown = JSON.parse(
        readFileSync(join(REPO_ROOT, 'docs/admin-openapi.json'), 'utf8'),
      )
      expect(served.json).toEqual(kept)
    })

    it('names exactly the routes the server answers', async () => {
      const doc = await call<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(
        'GET',
        '/openapi.json',
      )
      expect(doc.status).toBe(200)
      expect(doc.json.openapi).toBe('3.1.0')
      const documented = new Set<string>()
      for (const [path, operations] of Object.entries(doc.json.paths)) {
        for (const method of Object.keys(operations))
          documented.add(`${method.toUpperCase()} ${path}`)
      }
      // Every method on every documented path, on every path of the API as the issue lists it
      // (so a route the document misses is probed too), and on paths next to them: the server
      // answers (anything but a routing 404 or a 405) exactly what the document names.
      const probes = new Set<string>()
      for (const path of [...Object.keys(doc.json.paths), ...API_PATHS, ...NEIGHBOURS]) {
        for (const method of METHODS) probes.add(`${method} ${path}`)
      }
      const answered = new Set<string>()
      for (const probe of probes) {
        const [method, template] = probe.split(' ') as [string, string]
        const path = template
          .replace('{name}', 'no-such-consumer')
          .replace('{id}', 'key_nosuchkey0000000')
        const body = method === 'POST' || method === 'PATCH' ? {} : undefined
        const answer = await call(method, path, body)
        const routingMiss =
          answer.status === 405 ||
          (answer.status === 404 && answer.json.message === 'No admin endpoint has this path.')
        if (!routingMiss) answered.add(probe)
      }
      expect([...answered].sort()).toEqual([...documented].sort())
    })
  })

  describe('while Redis is down', () => {
    it('answers 503 store_unavailable, still reads config consumers, and recovers', async () => {
      await redis.kill()
      try {
        for (const [method, path, body] of [
          ['POST', '/consumers', { name: 'during-outage' }],
          ['GET', '/keys', undefined],
          ['POST', '/revocations', { jti: 'during-outage', ttl: '1h' }],
        ] as const) {
          const answer = await call(method, path, body)
          expect(answer.status, `${method} ${path}`).toBe(503)
          expect(answer.json.error).toBe('store_unavailable')
          expect(answer.headers['retry-after']).toBe('5')
        }
        expect((await call('GET', '/consumers/acme')).status).toBe(200)
      } finally {
        await redis.restart()
      }
      let created = 0
      for (let i = 0; i < 20 && created !== 201; i++) {
        created = (await call('POST', '/consumers', { name: 'after-outage' })).status
        if (created !== 201) await new Promise((r) => setTimeout(r, 250))
      }
      expect(created).toBe(201)
    })
  })
})

describe('admin API without redis, on the node front, in a single process', () => {
  let admin: string
  let gateway: Gateway

  beforeAll(async () => {
    const upstream = await startUpstream('echo')
    const ports = await adminListeners()
    admin = ports.adminUrl
    gateway = await startGateway({
      front: 'node',
      workers: 0,
      config: {
        listeners: ports.listeners,
        admin: { tokens: [ADMIN_DIGEST] },
        consumers: [{ name: 'acme' }],
        upstreams: { echo: { targets: [upstream.url] } },
        routes: [{ name: 'api', match: { paths: ['/api/*'] }, upstream: 'echo', auth: 'none' }],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  it('answers 503 store_unavailable to what needs the store', async () => {
    for (const [method, path, body] of [
      ['POST', '/consumers', { name: 'new' }],
      ['GET', '/consumers/nobody', undefined],
      ['POST', '/consumers/acme/keys', {}],
      ['GET', '/keys', undefined],
      ['POST', '/revocations', { jti: 'j', ttl: '1h' }],
    ] as const) {
      const answer = await adminCall(admin, method, path, body)
      expect(answer.status, `${method} ${path}`).toBe(503)
      expect(answer.json.error).toBe('store_unavailable')
    }
  })

  it('is not reachable on the traffic listener of the node front either', async () => {
    for (const path of ['/consumers', '/status', '/openapi.json']) {
      const answer = await send(`${gateway.url}${path}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      })
      expect(answer.status, path).toBe(404)
      expect(JSON.parse(answer.text).message, path).toBe('No route matches this request.')
    }
    expect((await adminCall(admin, 'GET', '/status')).status).toBe(200)
  })

  it('reports one worker and no primary in /status', async () => {
    const status = await adminCall<{ worker: { count: number }; workers: null; redis: object }>(
      admin,
      'GET',
      '/status',
    )
    expect(status.json).toMatchObject({
      worker: { count: 1 },
      workers: null,
      redis: { configured: false, revocations: null, credentials: null },
    })
  })

  it("still reads the config's consumers", async () => {
    const list = await adminCall<PageBody<ConsumerBody>>(admin, 'GET', '/consumers')
    expect(list.status).toBe(200)
    expect(list.json).toEqual({
      items: [expect.objectContaining({ name: 'acme', source: 'config' })],
      next_cursor: null,
    })
    expect((await adminCall(admin, 'GET', '/consumers/acme')).status).toBe(200)
  })
})
