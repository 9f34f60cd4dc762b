/**
 * trusted_proxies through a real gateway on both fronts: X-Forwarded-For believed only from a
 * trusted peer (127.0.0.2 or ::1; the client at 127.0.0.1 is not one), read from the right past
 * trusted hops, and the one client address it yields used by ip-restriction, `rate_limit key: ip`,
 * the access log and the X-Forwarded-For the upstream receives. IPv6 and IPv4-mapped entries too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { getFrom } from '../helpers/proxy-protocol.js'
import { closeAllRaw, RawConnection } from '../helpers/raw.js'
import {
  closeAllUpstreams,
  startUpstream,
  type Echo,
  type TestUpstream,
} from '../helpers/upstream.js'
import { proxyV2 } from '../helpers/proxy-protocol.js'
import { generateApiKey } from '../../src/keys/format.js'
import { KeyHasher } from '../../src/keys/hash.js'

const CLIENT = '127.0.0.1'
const PROXY = '127.0.0.2'

function apiKey(): { key: string; hash: string } {
  const key = generateApiKey('pc_live')
  return { key, hash: new KeyHasher(null).hash(key) }
}
/** Of a consumer whose ip rules admit 203.0.113.0/24 and 2001:db8::/32 but not 203.0.113.66. */
const OFFICE = apiKey()
/** A key whose own rules admit 198.51.100.0/24 but not .66 nor (spelt mapped) .67. */
const FENCED = apiKey()

function route(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, match: { paths: [`/${name}/*`] }, upstream: 'echo', auth: 'none', ...extra }
}

/** JSON is YAML: text, so the listener can be dual-stack on the helper's port. */
function configText(upstream: TestUpstream): string {
  const config = {
    listeners: {
      http: { host: '::', port: '__HTTP_PORT__' },
      status: { host: '127.0.0.1', port: '__STATUS_PORT__' },
    },
    trusted_proxies: [PROXY, '::1'],
    upstreams: { echo: { targets: [upstream.url] } },
    rate_limits: { 'per-ip': { key: 'ip', rate: '2/h' } },
    api_keys: { prefixes: ['pc_live'] },
    consumers: [
      {
        name: 'office',
        ip: { allow: ['203.0.113.0/24', '2001:db8::/32'], deny: ['203.0.113.66'] },
        keys: [{ hash: OFFICE.hash }],
      },
      {
        name: 'fenced',
        keys: [
          {
            hash: FENCED.hash,
            allow_ips: ['198.51.100.0/24'],
            deny_ips: ['198.51.100.66', '::ffff:198.51.100.67'],
          },
        ],
      },
    ],
    routes: [
      route('keyed', { auth: 'api_key' }),
      route('echo'),
      route('only', { ip: { allow: ['203.0.113.7', '2001:db8::7'] } }),
      route('limited', { rate_limit: 'per-ip' }),
    ],
  }
  return JSON.stringify(config).replace(/"(__(?:HTTP|STATUS)_PORT__)"/g, '$1')
}

describe.each(FRONTS)('trusted proxies on the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream
  const url = (path: string, host = '127.0.0.1') =>
    `http://${host.includes(':') ? `[${host}]` : host}:${gateway.port}${path}`
  const forwardedFor = (text: string) => (JSON.parse(text) as Echo).headers['x-forwarded-for']
  const loggedClient = async (path: string) => {
    const line = await gateway.waitForLog((l) => l.msg === 'access' && l['path'] === path)
    return { client: line['client'], peer: line['peer'] }
  }

  beforeAll(async () => {
    upstream = await startUpstream('echo')
    gateway = await startGateway({ front, config: configText(upstream) })
  })

  afterAll(async () => {
    closeAllRaw()
    await stopAllGateways()
    await closeAllUpstreams()
  })

  it('never believes an untrusted peer: the upstream and the log see the peer alone', async () => {
    const result = await getFrom(CLIENT, url('/echo/untrusted'), {
      'x-forwarded-for': '203.0.113.7',
    })
    expect(result.status).toBe(200)
    expect(forwardedFor(result.text)).toBe(CLIENT)
    expect(await loggedClient('/echo/untrusted')).toEqual({ client: CLIENT, peer: undefined })
    const only = await getFrom(CLIENT, url('/only/x'), { 'x-forwarded-for': '203.0.113.7' })
    expect(only.status).toBe(403)
  })

  it('takes the client from a trusted peer and sends the upstream the chain plus the peer', async () => {
    const result = await getFrom(PROXY, url('/echo/trusted'), { 'x-forwarded-for': '203.0.113.7' })
    expect(forwardedFor(result.text)).toBe(`203.0.113.7, ${PROXY}`)
    expect(await loggedClient('/echo/trusted')).toEqual({ client: '203.0.113.7', peer: PROXY })
    const only = await getFrom(PROXY, url('/only/x'), { 'x-forwarded-for': '203.0.113.7' })
    expect(only.status).toBe(200)
  })

  it('walks a multi-hop chain over several lines, dropping what the client wrote', async () => {
    const result = await getFrom(PROXY, url('/echo/hops'), [
      'host',
      'gateway.test',
      'x-forwarded-for',
      '6.6.6.6, 203.0.113.7',
      'x-forwarded-for',
      PROXY,
    ])
    expect(forwardedFor(result.text)).toBe(`203.0.113.7, ${PROXY}, ${PROXY}`)
    expect((await loggedClient('/echo/hops')).client).toBe('203.0.113.7')
  })

  it('reads IPv6 and IPv4-mapped entries from an IPv6 proxy', async () => {
    const v6 = await getFrom('::1', url('/only/v6', '::1'), { 'x-forwarded-for': '2001:DB8::7' })
    expect(v6.status).toBe(200)
    expect(forwardedFor(v6.text)).toBe('2001:DB8::7, ::1')
    const mapped = await getFrom('::1', url('/only/mapped', '::1'), {
      'x-forwarded-for': '::ffff:203.0.113.7',
    })
    expect(mapped.status).toBe(200)
    expect((await loggedClient('/only/mapped')).client).toBe('203.0.113.7')
  })

  it('keys rate_limit key: ip on the client a trusted proxy names, and on the peer otherwise', async () => {
    const spoofed = async (n: number) =>
      (await getFrom(CLIENT, url('/limited/x'), { 'x-forwarded-for': `198.51.100.${n}` })).status
    expect([await spoofed(1), await spoofed(2), await spoofed(3)]).toEqual([200, 200, 429])
    const viaProxy = async (client: string) =>
      (await getFrom(PROXY, url('/limited/x'), { 'x-forwarded-for': client })).status
    expect([await viaProxy('198.51.100.9'), await viaProxy('198.51.100.9')]).toEqual([200, 200])
    expect(await viaProxy('198.51.100.9')).toBe(429)
    expect(await viaProxy('198.51.100.10')).toBe(200)
  })

  it('checks a consumer’s ip rules against the client a trusted proxy names', async () => {
    const call = (from: string, client: string) =>
      getFrom(from, url('/keyed/x'), { 'x-api-key': OFFICE.key, 'x-forwarded-for': client })
    expect((await call(PROXY, '203.0.113.7')).status).toBe(200)
    expect((await call(PROXY, '2001:db8::9')).status).toBe(200)
    const denied = await call(PROXY, '203.0.113.66')
    expect(denied.status).toBe(403)
    expect((JSON.parse(denied.text) as { error: string }).error).toBe('forbidden')
    expect((await call(PROXY, '198.51.100.5')).status).toBe(403)
    // An untrusted peer is itself the client, whatever it claims.
    expect((await call(CLIENT, '203.0.113.7')).status).toBe(403)
  })

  it('checks a key’s allow_ips and deny_ips, IPv4-mapped spellings included', async () => {
    const call = (client: string) =>
      getFrom(PROXY, url('/keyed/x'), { 'x-api-key': FENCED.key, 'x-forwarded-for': client })
    expect((await call('198.51.100.5')).status).toBe(200)
    expect((await call('::ffff:198.51.100.5')).status).toBe(200)
    expect((await call('198.51.100.66')).status).toBe(403)
    expect((await call('198.51.100.67')).status).toBe(403)
    expect((await call('203.0.113.7')).status).toBe(403)
  })

  it('does not believe a PROXY header on a listener without proxy_protocol', async () => {
    // uWS 20.30 strips a v2 header from any peer on its own; node:http refuses it as a bad
    // request. Either way the address in it is never the client.
    const connection = await RawConnection.open(gateway.port, 5000, CLIENT)
    await connection.write(
      Buffer.concat([
        proxyV2({ source: '203.0.113.7' }),
        Buffer.from('GET /only/header HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      ]),
    )
    await connection.waitForClose(3000)
    const status = connection.responses()[0]?.status
    expect(status === undefined || status === 400 || status === 403).toBe(true)
  })
})
