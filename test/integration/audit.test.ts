import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runCli, startGateway, stopAllGateways } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { createSigner, nowSeconds, sign, type Signer } from '../helpers/jwt.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

const ISS = 'https://audit.issuer.test'
const AUD = 'audit-api'
const KEY = 'audit-chain-key-for-the-test'

let upstream: TestUpstream
let signer: Signer
let dir: string

beforeAll(async () => {
  upstream = await startUpstream('echo')
  signer = createSigner('ES256', 'audit-key')
  dir = mkdtempSync(join(tmpdir(), 'pcl-audit-'))
  writeFileSync(join(dir, 'es256.pem'), signer.publicPem)
  process.env['PCL_TEST_AUDIT_KEY'] = KEY
})

afterEach(async () => {
  await stopAllGateways()
})

afterAll(async () => {
  await closeAllUpstreams()
})

function lines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
  } catch {
    return []
  }
}

describe('the audit file', () => {
  it('gets one chained line per decision from every worker, and verify names a tampered line', async () => {
    const file = join(dir, 'audit.log')
    const gateway = await startGateway({
      workers: 2,
      env: { ...process.env, PCL_TEST_AUDIT_KEY: KEY },
      config: {
        log: { audit_file: file, audit_chain_key: '${PCL_TEST_AUDIT_KEY}' },
        upstreams: { echo: { targets: [upstream.url] } },
        issuers: [
          {
            name: 'idp',
            issuer: ISS,
            keys: join(dir, 'es256.pem'),
            audiences: [AUD],
            algorithms: ['ES256'],
          },
        ],
        routes: [
          {
            name: 'sec',
            match: { paths: ['/sec/*'] },
            upstream: 'echo',
            auth: 'jwt',
            jwt: { issuers: ['idp'] },
          },
        ],
      },
    })
    const token = await sign(signer, { iss: ISS, aud: AUD, sub: 'alice', exp: nowSeconds() + 600 })
    for (let i = 0; i < 6; i++) {
      const headers = i % 2 === 0 ? { authorization: `Bearer ${token}` } : {}
      expect((await send(`${gateway.url}/sec/a`, { headers })).status).toBe(i % 2 === 0 ? 200 : 401)
    }
    await waitUntil(() => lines(file).length === 6, { timeoutMs: 10_000, what: 'six audit lines' })
    const written = lines(file).map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(written.filter((l) => l['outcome'] === 'allow')).toHaveLength(3)
    expect(written.every((l) => l['audit'] === 'authenticate')).toBe(true)
    // Never the token: its first 8 characters at most.
    expect(readFileSync(file, 'utf8')).not.toContain(token.slice(0, 9))
    // None of the audit lines went to stdout with the others.
    expect(gateway.logs.filter((l) => l['audit'] === 'authenticate')).toHaveLength(0)

    const ok = await runCli(['audit', 'verify', file, '--key-env', 'PCL_TEST_AUDIT_KEY'])
    expect(ok.stdout).toContain('every chain holds')
    expect(ok.code).toBe(0)

    const tampered = join(dir, 'tampered.log')
    const rows = lines(file)
    rows[3] = rows[3]!.replace(/"outcome":"(allow|deny)"/, (_m, o: string) =>
      o === 'allow' ? '"outcome":"deny"' : '"outcome":"allow"',
    )
    writeFileSync(tampered, rows.join('\n') + '\n')
    const bad = await runCli(['audit', 'verify', tampered, '--key-env', 'PCL_TEST_AUDIT_KEY'])
    expect(bad.code).toBe(1)
    expect(bad.stdout).toContain('line 4:')
  })
})
