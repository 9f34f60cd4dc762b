/**
 * Listeners with proxy_protocol, on both fronts (node:http serves them on either): the PROXY
 * header (v1 and v2) of a trusted peer names the client, for plain and TLS listeners (the header
 * precedes the handshake); an untrusted peer, a missing, malformed or oversized header, or
 * silence past limits.proxy_header_timeout closes the connection without an answer; a header
 * split across TCP reads is read whole; a PROXY source that is itself a trusted proxy passes on
 * to X-Forwarded-For.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { connect as connectTcp, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as connectTls } from 'node:tls'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { freePort } from '../helpers/ports.js'
import { proxyV1, proxyV2 } from '../helpers/proxy-protocol.js'
import { closeAllRaw, RawConnection } from '../helpers/raw.js'
import {
  closeAllUpstreams,
  startUpstream,
  type Echo,
  type TestUpstream,
} from '../helpers/upstream.js'

const CLIENT = '127.0.0.1'
const PROXY = '127.0.0.2'
/** A PROXY source that is itself a trusted proxy (an L7 proxy behind an L4 balancer). */
const INNER_PROXY = '198.51.100.50'

function request(path: string, close = true): Buffer {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: gateway.test\r\n${close ? 'Connection: close\r\n' : ''}\r\n`,
  )
}

function forwardedFor(connection: RawConnection, index = 0): string | undefined {
  const response = connection.responses()[index]
  if (response === undefined) return undefined
  return (JSON.parse(response.body.toString('utf8')) as Echo).headers['x-forwarded-for'] as string
}

function makeCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-proxy-tls-'))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=gateway.test',
    ],
    { stdio: 'ignore' },
  )
  return { cert, key }
}

describe.each(FRONTS)('proxy_protocol listeners on the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream
  let httpsPort: number
  const open = (from = PROXY) => RawConnection.open(gateway.port, 5000, from)

  /** Sends `bytes` from `from`, and reads until the gateway closes the connection. */
  const exchange = async (bytes: Buffer, from = PROXY) => {
    const connection = await open(from)
    await connection.write(bytes)
    await connection.waitForClose(3000)
    return connection
  }

  beforeAll(async () => {
    upstream = await startUpstream('echo')
    httpsPort = await freePort()
    const { cert, key } = makeCertificate()
    const config = {
      listeners: {
        http: { host: '127.0.0.1', port: '__HTTP_PORT__', proxy_protocol: true },
        https: { host: '127.0.0.1', port: httpsPort, cert, key, proxy_protocol: true },
        status: { host: '127.0.0.1', port: '__STATUS_PORT__' },
      },
      trusted_proxies: [PROXY, INNER_PROXY],
      limits: { proxy_header_timeout: '300ms' },
      upstreams: { echo: { targets: [upstream.url] } },
      routes: [{ name: 'echo', match: { paths: ['/*'] }, upstream: 'echo', auth: 'none' }],
    }
    const text = JSON.stringify(config).replace(/"(__(?:HTTP|STATUS)_PORT__)"/g, '$1')
    gateway = await startGateway({ front, config: text })
  })

  afterEach(() => closeAllRaw())

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  it('takes the client from a v1 header of a trusted peer', async () => {
    const connection = await exchange(
      Buffer.concat([proxyV1('203.0.113.7', '127.0.0.1'), request('/v1')]),
    )
    expect(connection.responses()[0]?.status).toBe(200)
    expect(forwardedFor(connection)).toBe('203.0.113.7')
    const line = await gateway.waitForLog((l) => l.msg === 'access' && l['path'] === '/v1')
    expect(line['client']).toBe('203.0.113.7')
    expect(line['peer']).toBe(PROXY)
  })

  it('takes the client from v2 TCP/IPv4 and TCP/IPv6 headers with TLVs', async () => {
    const tlvs = Buffer.from([0x05, 0x00, 0x02, 0x61, 0x62])
    const v4 = await exchange(
      Buffer.concat([proxyV2({ source: '203.0.113.8', tlvs }), request('/v2')]),
    )
    expect(forwardedFor(v4)).toBe('203.0.113.8')
    const v6 = await exchange(Buffer.concat([proxyV2({ source: '2001:db8::8' }), request('/v2')]))
    expect(forwardedFor(v6)).toBe('2001:db8::8')
  })

  it('takes the peer itself for a v2 LOCAL header', async () => {
    const connection = await exchange(Buffer.concat([proxyV2({ command: 0 }), request('/local')]))
    expect(forwardedFor(connection)).toBe(PROXY)
  })

  it('keeps the header’s client for every request of a keep-alive connection', async () => {
    const connection = await open()
    await connection.write(
      Buffer.concat([proxyV1('203.0.113.9', '127.0.0.1'), request('/a', false)]),
    )
    expect(await connection.waitFor(() => connection.responses().length === 1, 3000)).toBe(true)
    await connection.write(request('/b'))
    await connection.waitForClose(3000)
    expect([forwardedFor(connection, 0), forwardedFor(connection, 1)]).toEqual([
      '203.0.113.9',
      '203.0.113.9',
    ])
  })

  it('reads a header split across TCP reads', async () => {
    const connection = await open()
    const header = proxyV2({ source: '203.0.113.10' })
    for (let i = 0; i < header.length; i++) {
      await connection.write(header.subarray(i, i + 1))
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    await connection.write(request('/split'))
    await connection.waitForClose(3000)
    expect(forwardedFor(connection)).toBe('203.0.113.10')
  })

  it('passes on to X-Forwarded-For when the PROXY source is a trusted proxy', async () => {
    const head = Buffer.from(
      'GET /inner HTTP/1.1\r\nHost: gateway.test\r\nX-Forwarded-For: 203.0.113.11\r\n' +
        'Connection: close\r\n\r\n',
    )
    const connection = await exchange(Buffer.concat([proxyV1(INNER_PROXY, '127.0.0.1'), head]))
    expect(forwardedFor(connection)).toBe(`203.0.113.11, ${INNER_PROXY}`)
  })

  it('resets the connection of an untrusted peer, header or not, without an answer', async () => {
    for (const bytes of [
      Buffer.concat([proxyV1('203.0.113.7', '127.0.0.1'), request('/untrusted')]),
      request('/untrusted'),
    ]) {
      // The reset may come before the connection is even reported open.
      const connection = await exchange(bytes, CLIENT).catch((error: NodeJS.ErrnoException) => {
        expect(error.code).toBe('ECONNRESET')
        return null
      })
      if (connection === null) continue
      expect(connection.closed).toBe(true)
      expect(connection.data.length).toBe(0)
    }
  })

  it.each([
    ['no header', request('/none')],
    [
      'a malformed v1 header',
      Buffer.concat([Buffer.from('PROXY TCP4 1.2.3 4.5.6.7 1 2\r\n'), request('/bad')]),
    ],
    ['an oversized v2 header', proxyV2({ source: '203.0.113.7', length: 60_000 })],
    ['garbage', Buffer.from('\x16\x03\x01\x00\xff garbage garbage\r\n\r\n', 'latin1')],
  ])('closes the connection of a trusted peer that sends %s', async (_, bytes) => {
    const connection = await exchange(bytes)
    expect(connection.closed).toBe(true)
    expect(connection.data.length).toBe(0)
  })

  it('closes a connection that sends nothing within proxy_header_timeout', async () => {
    const silent = await open()
    expect(await silent.waitForClose(3000)).toBe(true)
    expect(silent.data.length).toBe(0)
    // Half a header is no better.
    const partial = await open()
    await partial.write(proxyV1('203.0.113.7', '127.0.0.1').subarray(0, 10))
    expect(await partial.waitForClose(3000)).toBe(true)
  })

  it('reads the header before the TLS handshake on a TLS listener', async () => {
    const tcp: Socket = connectTcp({ host: '127.0.0.1', port: httpsPort, localAddress: PROXY })
    await new Promise<void>((resolve, reject) => {
      tcp.once('connect', resolve)
      tcp.once('error', reject)
    })
    tcp.write(proxyV1('2001:db8::12', '::1'))
    const tls = connectTls({ socket: tcp, rejectUnauthorized: false, servername: 'gateway.test' })
    const text = await new Promise<string>((resolve, reject) => {
      let received = ''
      tls.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
      tls.on('end', () => resolve(received))
      tls.on('error', reject)
      tls.write(request('/tls'))
    })
    tls.destroy()
    expect(text).toMatch(/^HTTP\/1\.1 200/)
    const body = text.slice(text.indexOf('\r\n\r\n') + 4)
    expect((JSON.parse(body) as Echo).headers['x-forwarded-proto']).toBe('https')
    expect((JSON.parse(body) as Echo).headers['x-forwarded-for']).toBe('2001:db8::12')
  })
})
