/**
 * `--native off`: every module of src/native gives way to its fallback, in the cluster's workers
 * too, and the startup line names each fallback. CI runs the integration suites a second time
 * with PCL_NATIVE=off (every gateway started with the flag); this file pins what that run
 * relies on, and that the first run really had the native paths.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  FRONTS,
  NATIVE_OFF,
  startGateway,
  stopAllGateways,
  type ConfigInput,
  type Front,
  type LogLine,
} from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { createSigner, nowSeconds, sign, type Signer } from '../helpers/jwt.js'
import { closeAllUpstreams, startUpstream, type Echo } from '../helpers/upstream.js'

const ISS = 'https://native-off.issuer.test'
const AUD = 'https://api.test'

let dir: string
let signer: Signer
let config: ConfigInput

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pcl-native-off-'))
  signer = createSigner('RS256')
  const keys = join(dir, 'rs256.pem')
  writeFileSync(keys, signer.publicPem)
  const upstream = await startUpstream('echo')
  config = {
    upstreams: { echo: { targets: [upstream.url] } },
    issuers: [{ name: 'rs', issuer: ISS, keys, audiences: [AUD], algorithms: ['RS256'] }],
    routes: [
      {
        name: 'api',
        match: { paths: ['/*'] },
        upstream: 'echo',
        auth: 'jwt',
        jwt: { issuers: ['rs'] },
        forward: { claims: { sub: 'X-User-Id' } },
      },
    ],
  }
})

afterAll(async () => {
  await stopAllGateways()
  await closeAllUpstreams()
  rmSync(dir, { recursive: true, force: true })
})

function startupLine(logs: readonly LogLine[]): LogLine {
  return logs.find((l) => l.msg === 'portcullis started')!
}

/** What the startup line says of each native path when `--native off` turned it off. */
function expectFallbacks(line: LogLine, front: Front): void {
  expect(line).toMatchObject({
    verifier: 'node:crypto (chosen with --native off)',
    upstream_sockets: 'node:net (chosen with --native off)',
  })
  if (front === 'uws') {
    expect(line['front']).toMatch(/requests read by uWS\.js calls \(chosen with --native off\)$/)
  }
}

describe.each(FRONTS)('--native off on the %s front', (front) => {
  it('names each fallback at startup and serves through them', async () => {
    const gateway = await startGateway({ front, native: 'off', config })
    expectFallbacks(startupLine(gateway.logs), front)

    const token = await sign(signer, { iss: ISS, aud: AUD, sub: 'ada', exp: nowSeconds() + 600 })
    const ok = await send(`${gateway.url}/x`, { headers: { authorization: `Bearer ${token}` } })
    expect(ok.status).toBe(200)
    const seen = ok.json<Echo>().headers
    expect(seen['x-user-id']).toBe('ada')
    expect(seen['x-forwarded-for']).toBe('127.0.0.1')

    const [h, p, s] = token.split('.') as [string, string, string]
    const forged = `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`
    const refused = await send(`${gateway.url}/x`, {
      headers: { authorization: `Bearer ${forged}` },
    })
    expect(refused.status).toBe(401)
    await gateway.stop()
  })
})

describe('the gateways of this test run', () => {
  it.runIf(NATIVE_OFF)('start with --native off under PCL_NATIVE=off', async () => {
    const gateway = await startGateway({ config })
    expectFallbacks(startupLine(gateway.logs), 'uws')
    await gateway.stop()
  })

  // CI builds src/native (its .ci/run checks that each module loads): without PCL_NATIVE=off,
  // the suites run the native paths, so the two runs differ.
  it.skipIf(NATIVE_OFF)('run every native module without PCL_NATIVE=off', async () => {
    const gateway = await startGateway({ config })
    const line = startupLine(gateway.logs)
    expect(line['front']).toMatch(/requests read by native \(src\/native uws_direct\)$/)
    expect(line['verifier']).toMatch(/^native \(/)
    expect(line['upstream_sockets']).toBe('native (src/native)')
    await gateway.stop()
  })
})
