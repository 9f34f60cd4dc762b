import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadGatewayConfig, type CheckedConfig } from '../../../src/config/gateway-config.js'
import { PortcullisError, type ConfigProblem } from '../../../src/errors.js'
import { KeyHasher } from '../../../src/keys/hash.js'
import { hashOf } from './fixtures.js'

let dir: string
const silent = pino({ level: 'silent' })
const BASE = { upstreams: { svc: { targets: ['http://127.0.0.1:9'] } }, routes: [] }

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-consumers-'))
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

function load(config: Record<string, unknown>): CheckedConfig {
  const file = join(dir, 'gateway.json')
  writeFileSync(file, JSON.stringify({ ...BASE, ...config }))
  return loadGatewayConfig(file, silent, {})
}

function problemsOf(config: Record<string, unknown>): ConfigProblem[] {
  try {
    load(config)
  } catch (error) {
    if (error instanceof PortcullisError) return [...error.problems]
    throw error
  }
  throw new Error('expected the config to be refused')
}

function key(seed: string, change: Record<string, unknown> = {}) {
  return { hash: hashOf(seed), ...change }
}

describe('consumers: and api_keys:', () => {
  describe('when a config has neither', () => {
    it('loads with no consumers, prefix pc_live and no pepper', () => {
      const { config, runtime } = load({})
      expect(config.consumers).toEqual([])
      expect(config.api_keys).toEqual({ prefixes: ['pc_live'], usage_flush: '1s' })
      expect(runtime.apiKeyPrefixes).toEqual(['pc_live'])
      expect(runtime.keyHasher.peppered).toBe(false)
      expect(runtime.state.credentials.sizes).toEqual({ consumers: 0, keys: 0 })
    })
  })

  describe('when a config declares consumers and keys', () => {
    it('compiles them into the worker’s credential directory, with defaults filled', () => {
      const { config, runtime } = load({
        api_keys: { prefixes: ['pc_live', 'pc_test'], pepper: 'p'.repeat(32) },
        consumers: [
          {
            name: 'acme',
            tier: 'pro',
            keys: [key('a', { scopes: ['orders:read'], allow_ips: ['10.0.0.0/8'] })],
          },
        ],
      })
      expect(config.consumers[0]).toMatchObject({ groups: [], metadata: {}, disabled: false })
      const credentials = runtime.state.credentials
      expect(credentials.consumer('acme')).toMatchObject({ source: 'config', tier: 'pro' })
      expect(credentials.keyByHash(hashOf('a'))?.addresses?.admits('10.1.1.1')).toBe(true)
      expect(runtime.apiKeyPrefixes).toEqual(['pc_live', 'pc_test'])
      expect(runtime.keyHasher.hash('k')).toBe(new KeyHasher('p'.repeat(32)).hash('k'))
    })
  })

  describe('when consumers break the rules the schema cannot say', () => {
    it('names duplicate names and hashes, bad addresses and dates with their paths', () => {
      const problems = problemsOf({
        consumers: [
          {
            name: 'acme',
            keys: [key('a'), key('b', { allow_ips: ['10.0.0.0/8', '10.0.0.0/40'] })],
          },
          { name: 'acme' },
          {
            name: 'globex',
            keys: [
              key('a'),
              key('c', { not_before: '2027-01-01T00:00:00Z', expires_at: '2026-01-01T00:00:00Z' }),
              key('d', { expires_at: '2026-02-30T00:00:00Z' }),
            ],
          },
        ],
      })
      expect(problems).toEqual([
        { path: 'consumers[0].keys[1].allow_ips[1]', reason: expect.stringMatching(/0 to 32/) },
        {
          path: 'consumers[1].name',
          reason: expect.stringMatching(/already the name of consumers\[0\]/),
        },
        {
          path: 'consumers[2].keys[0].hash',
          reason: expect.stringMatching(/same key as consumers\[0\]\.keys\[0\]/),
        },
        {
          path: 'consumers[2].keys[1].expires_at',
          reason: expect.stringMatching(/later than not_before/),
        },
        {
          path: 'consumers[2].keys[2].expires_at',
          reason: expect.stringMatching(/date that exists/),
        },
      ])
    })
  })

  describe('when consumers declare client certificate rules', () => {
    const FINGERPRINT = 'AB:'.repeat(31) + 'AB'

    it('fills certificates: [] and compiles the rules', () => {
      const { config } = load({
        consumers: [{ name: 'pay', certificates: [{ uri: 'spiffe://e.org/pay' }] }, { name: 'x' }],
      })
      expect(config.consumers[1]).toMatchObject({ certificates: [] })
    })

    it('names a rule of no kind or of two, and a rule declared twice, with their paths', () => {
      const problems = problemsOf({
        consumers: [
          { name: 'a', certificates: [{}, { uri: 'spiffe://e.org/a', cn: 'a' }] },
          { name: 'b', certificates: [{ sha256: FINGERPRINT }] },
          { name: 'c', certificates: [{ sha256: FINGERPRINT.replace(/:/g, '').toLowerCase() }] },
          { name: 'd', certificates: [{ dns: 'API.example.org' }, { dns: 'api.example.org' }] },
        ],
      })
      expect(problems).toEqual([
        { path: 'consumers[0].certificates[0]', reason: expect.stringMatching(/one of uri, dns/) },
        { path: 'consumers[0].certificates[1]', reason: expect.stringMatching(/uri and cn/) },
        {
          path: 'consumers[2].certificates[0].sha256',
          reason: expect.stringMatching(/same rule as consumers\[1\]\.certificates\[0\]/),
        },
        {
          path: 'consumers[3].certificates[1].dns',
          reason: expect.stringMatching(/same rule as consumers\[3\]\.certificates\[0\]/),
        },
      ])
    })

    it('refuses a malformed fingerprint and a SAN with spaces', () => {
      const problems = problemsOf({
        consumers: [{ name: 'a', certificates: [{ sha256: 'abc' }, { uri: 'spiffe://a b' }] }],
      })
      const byPath = Object.fromEntries(problems.map((p) => [p.path, p.reason]))
      expect(byPath['consumers[0].certificates[0].sha256']).toMatch(/64 hex digits/)
      expect(byPath['consumers[0].certificates[1].uri']).toMatch(/no spaces/)
    })
  })

  describe('when fields break the schema', () => {
    it('names each with its path and the rule in words', () => {
      const problems = problemsOf({
        api_keys: { prefixes: ['PC-live'], pepper: 'short', usage_flush: '500ms' },
        consumers: [
          {
            name: 'bad name',
            metadata: { tenant: 'line\nbreak' },
            keys: [{ hash: 'not-a-hash', expires_at: '2027-01-01' }],
          },
        ],
      })
      const byPath = Object.fromEntries(problems.map((p) => [p.path, p.reason]))
      expect(byPath['api_keys.prefixes[0]']).toMatch(/lowercase letters and digits/)
      expect(byPath['api_keys.pepper']).toMatch(/at least 32 characters/)
      expect(byPath['consumers[0].name']).toMatch(/must be a name/)
      expect(byPath['consumers[0].metadata.tenant']).toMatch(/printable ASCII/)
      expect(byPath['consumers[0].keys[0].hash']).toMatch(/portcullis keys hash/)
      expect(byPath['consumers[0].keys[0].expires_at']).toMatch(/RFC 3339/)
    })

    it('refuses a usage flush below one second', () => {
      expect(problemsOf({ api_keys: { usage_flush: '500ms' } })).toEqual([
        { path: 'api_keys.usage_flush', reason: 'must be at least 1s (got "500ms")' },
      ])
    })
  })
})
