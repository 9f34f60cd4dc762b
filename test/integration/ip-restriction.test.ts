/**
 * ip-restriction through a real gateway on both fronts, listening dual-stack: an IPv4 client
 * (which the socket sees as IPv4-mapped IPv6) and an IPv6 client against a route's allow and deny
 * blocks, and a refused address answered 403 before any credential is asked for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send, type ErrorBody } from '../helpers/http.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'

const HS_SECRET = 'an-hmac-secret-of-at-least-32-bytes!'

function route(name: string, extra: Record<string, unknown>): Record<string, unknown> {
  return { name, match: { paths: [`/${name}/*`] }, upstream: 'echo', auth: 'none', ...extra }
}

/** YAML text (JSON is YAML) so the listener can be dual-stack on the helper's port. */
function configText(upstream: TestUpstream): string {
  const config = {
    listeners: {
      http: { host: '::', port: '__HTTP_PORT__' },
      status: { host: '127.0.0.1', port: '__STATUS_PORT__' },
    },
    cluster: { shutdown_grace: '5s' },
    upstreams: { echo: { targets: [upstream.url] } },
    issuers: [
      {
        name: 'hs',
        issuer: 'https://hs.issuer.test',
        secret: HS_SECRET,
        audiences: ['https://api.test'],
        algorithms: ['HS256'],
      },
    ],
    routes: [
      route('deny-v4', { ip: { deny: ['127.0.0.0/8'] } }),
      route('allow-v4', { ip: { allow: ['127.0.0.1'] } }),
      route('deny-v6', { ip: { deny: ['::1'] } }),
      route('elsewhere', { ip: { allow: ['10.0.0.0/8', '2001:db8::/32'] } }),
      route('guarded', {
        auth: 'jwt',
        jwt: { issuers: ['hs'] },
        ip: { deny: ['127.0.0.0/8', '::1/128'] },
      }),
      route('token', { auth: 'jwt', jwt: { issuers: ['hs'] } }),
    ],
  }
  return JSON.stringify(config).replace(/"(__(?:HTTP|STATUS)_PORT__)"/g, '$1')
}

describe.each(FRONTS)('ip-restriction on the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream
  const v4 = (path: string) => send(`http://127.0.0.1:${gateway.port}${path}`)
  const v6 = (path: string) => send(`http://[::1]:${gateway.port}${path}`)

  beforeAll(async () => {
    upstream = await startUpstream('echo')
    gateway = await startGateway({ front, config: configText(upstream) })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  it('refuses 127.0.0.1 with 403 forbidden when 127.0.0.0/8 is denied', async () => {
    const result = await v4('/deny-v4/x')
    expect(result.status).toBe(403)
    expect(result.json<ErrorBody>().error).toBe('forbidden')
    // The IPv6 client is not in an IPv4 block.
    expect((await v6('/deny-v4/x')).status).toBe(200)
  })

  it('admits 127.0.0.1 when it is allowed', async () => {
    expect((await v4('/allow-v4/x')).status).toBe(200)
    expect((await v6('/allow-v4/x')).status).toBe(403)
  })

  it('refuses ::1 when it is denied, and admits the IPv4 client', async () => {
    expect((await v6('/deny-v6/x')).status).toBe(403)
    expect((await v4('/deny-v6/x')).status).toBe(200)
  })

  it('refuses clients outside the allowed blocks', async () => {
    expect((await v4('/elsewhere/x')).status).toBe(403)
    expect((await v6('/elsewhere/x')).status).toBe(403)
  })

  it('refuses a denied address with 403 before asking for a token', async () => {
    // The same route without the rule asks for a token: 401.
    expect((await v4('/token/x')).status).toBe(401)
    for (const result of [await v4('/guarded/x'), await v6('/guarded/x')]) {
      expect(result.status).toBe(403)
      expect(result.json<ErrorBody>().error).toBe('forbidden')
      expect(result.headers['www-authenticate']).toBeUndefined()
    }
  })
})
