/**
 * `portcullis consumers …` and `keys …` end to end: the built CLI against a running gateway's
 * admin listener and a real redis-server, as tables and as --json; `keys hash` locally, with the
 * pepper of the config.
 */
import { spawnSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeyHasher } from '../../src/keys/hash.js'
import { ADMIN_DIGEST, ADMIN_TOKEN, adminListeners } from '../helpers/admin.js'
import { CLI, runCli, startGateway, stopAllGateways } from '../helpers/gateway.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { closeAllUpstreams, startUpstream } from '../helpers/upstream.js'

const PEPPER = 'pepper-of-the-admin-cli-suite-0123456789'

describe('the admin CLI', () => {
  let redis: RedisServer
  let adminUrl: string
  let configFile: string

  /** The CLI with the admin endpoint and token as flags. */
  const cli = (...args: string[]) =>
    runCli([...args, '--admin-url', adminUrl, '--admin-token', ADMIN_TOKEN])
  const json = async <T>(...args: string[]): Promise<T> => {
    const result = await cli(...args, '--json')
    expect(result.code, result.stderr).toBe(0)
    return JSON.parse(result.stdout) as T
  }

  beforeAll(async () => {
    redis = await startRedis()
    const upstream = await startUpstream('echo')
    const ports = await adminListeners()
    adminUrl = ports.adminUrl
    const gateway = await startGateway({
      config: {
        listeners: ports.listeners,
        admin: { tokens: [ADMIN_DIGEST] },
        redis: { url: redis.url },
        api_keys: { prefixes: ['pc_test'], pepper: PEPPER },
        consumers: [{ name: 'acme' }],
        upstreams: { echo: { targets: [upstream.url] } },
        routes: [{ name: 'api', match: { paths: ['/api/*'] }, upstream: 'echo', auth: 'none' }],
      },
    })
    configFile = gateway.configFile
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
    await redis?.kill()
  })

  it('adds, lists, shows and removes consumers, as tables', async () => {
    const added = await cli(
      'consumers',
      'add',
      'initech',
      '--group',
      'a',
      '--group',
      'b',
      '--tier',
      'pro',
      '--metadata',
      'tenant=ini',
    )
    expect(added.code, added.stderr).toBe(0)
    expect(added.stdout).toMatch(/^name +initech$/m)
    expect(added.stdout).toMatch(/^groups +a,b$/m)
    const listed = await cli('consumers', 'list')
    expect(listed.stdout.split('\n')[0]).toMatch(/^NAME +SOURCE +GROUPS +TIER +DISABLED +METADATA$/)
    expect(listed.stdout).toMatch(/^acme +config +- +- +false +-$/m)
    expect(listed.stdout).toMatch(/^initech +store +a,b +pro +false +tenant=ini$/m)
    expect((await cli('consumers', 'show', 'initech')).stdout).toMatch(/^source +store$/m)
    const removed = await cli('consumers', 'rm', 'initech')
    expect(removed.stdout).toContain('deleted consumer initech')
    const gone = await cli('consumers', 'show', 'initech')
    expect(gone.code).toBe(1)
    expect(gone.stderr).toContain('404 not_found')
  })

  it('pages with --limit and follows every page with --all', async () => {
    for (const name of ['p1', 'p2', 'p3']) await json('consumers', 'add', name)
    const first = await json<{ items: unknown[]; next_cursor: string | null }>(
      'consumers',
      'list',
      '--limit',
      '2',
    )
    expect(first.items).toHaveLength(2)
    expect(first.next_cursor).not.toBeNull()
    const all = await json<{ items: { name: string }[]; next_cursor: null }>(
      'consumers',
      'list',
      '--limit',
      '2',
      '--all',
    )
    expect(all.next_cursor).toBeNull()
    expect(all.items.map((c) => c.name)).toEqual(expect.arrayContaining(['acme', 'p1', 'p2', 'p3']))
  })

  it('creates a key (printed once), lists, shows, rotates, revokes it and reads its usage', async () => {
    await json('consumers', 'add', 'hooli')
    const created = await cli(
      'keys',
      'create',
      'hooli',
      '--scope',
      'orders:read',
      '--label',
      'ci',
      '--allow-ip',
      '10.0.0.0/8',
    )
    expect(created.code, created.stderr).toBe(0)
    const key = created.stdout.split('\n')[0]!
    expect(key).toMatch(/^pc_test_[0-9A-Za-z]{30}_[0-9A-Za-z]{6}$/)
    expect(created.stdout).toContain('only time the key is shown')
    const id = /^id +(key_\w+)$/m.exec(created.stdout)![1]!
    const listed = await cli('keys', 'list', '--consumer', 'hooli')
    expect(listed.stdout).toMatch(
      new RegExp(`^${id} +hooli +pc_test +${key.slice(-4)} +active +ci +orders:read +-$`, 'm'),
    )
    expect(listed.stdout).not.toContain(key)
    expect((await cli('keys', 'show', id)).stdout).not.toContain(key)
    const rotated = await json<{
      key: string
      record: { id: string }
      previous: { rotated_to: string }
    }>('keys', 'rotate', id, '--grace', '1h')
    expect(rotated.key).toMatch(/^pc_test_/)
    expect(rotated.previous.rotated_to).toBe(rotated.record.id)
    const revoked = await json<{ state: string }>('keys', 'revoke', rotated.record.id)
    expect(revoked.state).toBe('revoked')
    const usage = await cli('keys', 'usage', id)
    expect(usage.stdout).toMatch(/^admitted +0$/m)
    expect(await json('keys', 'usage', id)).toEqual({
      id,
      admitted: 0,
      refused: 0,
      last_used_at: null,
      last_address: null,
    })
  })

  it('revokes a jti through the admin API', async () => {
    const result = await cli('revoke', '--jti', 'cli-jti', '--ttl', '1h')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^revoked jti "cli-jti" until \d{4}-/)
  })

  it('exits 1 with the API code and problems, and 2 for a bad command line', async () => {
    const refused = await cli('keys', 'create', 'acme', '--allow-ip', 'nowhere')
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('400 invalid_request')
    expect(refused.stderr).toContain('allow_ips[0]')
    const owned = await cli('consumers', 'rm', 'acme')
    expect([owned.code, owned.stderr]).toEqual([1, expect.stringContaining('409 config_owned')])
    const wrongToken = await runCli([
      'consumers',
      'list',
      '--admin-url',
      adminUrl,
      '--admin-token',
      'nope',
    ])
    expect([wrongToken.code, wrongToken.stderr]).toEqual([
      1,
      expect.stringContaining('401 admin_unauthorized'),
    ])
    expect((await runCli(['consumers', 'list'])).code).toBe(2)
    const unreachable = await runCli([
      'keys',
      'list',
      '--admin-url',
      'http://127.0.0.1:1',
      '--admin-token',
      'x',
    ])
    expect([unreachable.code, unreachable.stderr]).toEqual([
      1,
      expect.stringContaining('cannot reach the admin API'),
    ])
  })

  it('hashes a key locally with the pepper of --config, from an argument or stdin', async () => {
    const created = await json<{ key: string }>('keys', 'create', 'acme')
    const expected = new KeyHasher(PEPPER).hash(created.key)
    const byArgument = await runCli(['keys', 'hash', created.key, '--config', configFile])
    expect([byArgument.code, byArgument.stdout], byArgument.stderr).toEqual([0, `${expected}\n`])
    // stdin, with the pepper from the environment.
    const byStdin = spawnSync(process.execPath, [CLI, 'keys', 'hash'], {
      input: `${created.key}\n`,
      env: { ...process.env, PORTCULLIS_KEY_PEPPER: PEPPER },
      encoding: 'utf8',
    })
    expect([byStdin.status, byStdin.stdout], byStdin.stderr).toEqual([0, `${expected}\n`])
    const plain = await runCli(['keys', 'hash', created.key])
    expect(plain.stdout).toBe(`${new KeyHasher(null).hash(created.key)}\n`)
    // Another last character than the key's own: a checksum digit that no longer matches.
    const last = created.key.at(-1) === 'x' ? 'y' : 'x'
    const typo = await runCli([
      'keys',
      'hash',
      `${created.key.slice(0, -1)}${last}`,
      '--config',
      configFile,
    ])
    expect(typo.code).toBe(2)
  })
})
