import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadGatewayConfig } from '../../../src/config/gateway-config.js'
import { PortcullisError, type ConfigProblem } from '../../../src/errors.js'

const DIGEST = 'a'.repeat(64)
let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-admin-config-'))
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

function load(extra: Record<string, unknown>): ConfigProblem[] {
  const file = join(dir, 'gateway.json')
  writeFileSync(
    file,
    JSON.stringify({
      upstreams: { u: { targets: ['http://127.0.0.1:1'] } },
      routes: [{ name: 'r', match: { paths: ['/*'] }, upstream: 'u', auth: 'none' }],
      ...extra,
    }),
  )
  try {
    loadGatewayConfig(file, pino({ level: 'silent' }), {})
    return []
  } catch (error) {
    if (error instanceof PortcullisError) return [...error.problems]
    throw error
  }
}

describe('the admin listener in the config', () => {
  it('is off unless configured, and needs no token then', () => {
    expect(load({})).toEqual([])
  })

  it('binds loopback by default', () => {
    expect(
      load({
        listeners: { http: { port: 8080 }, admin: { port: 8082 } },
        admin: { tokens: [DIGEST] },
      }),
    ).toEqual([])
  })

  it.each(['http', 'status'])('refuses the port of listeners.%s', (other) => {
    const problems = load({
      listeners: { http: { port: 8080 }, [other]: { port: 9000 }, admin: { port: 9000 } },
      admin: { tokens: [DIGEST] },
    })
    expect(problems).toEqual([
      {
        path: 'listeners.admin.port',
        reason: expect.stringContaining(`also the port of listeners.${other}`),
      },
    ])
  })

  it('refuses a listener without any token', () => {
    const problems = load({ listeners: { http: { port: 8080 }, admin: { port: 8082 } } })
    expect(problems).toEqual([{ path: 'admin.tokens', reason: expect.stringContaining('SHA-256') }])
  })

  it('takes digests only: 64 lowercase hex digits', () => {
    const problems = load({ admin: { tokens: ['my-secret-token', DIGEST.toUpperCase()] } })
    expect(problems.map((p) => p.path)).toEqual(['admin.tokens[0]', 'admin.tokens[1]'])
    expect(problems[0]!.reason).toContain('sha256sum')
  })
})
