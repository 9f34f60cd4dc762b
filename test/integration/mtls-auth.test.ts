/**
 * auth: mtls and the client certificate headers through a real gateway on both fronts. Over
 * real mTLS connections (listeners.mtls, certificates made at run time): a certificate mapped by
 * its SPIFFE ID admitted, an unmapped one refused, the certificate headers set by the gateway and
 * never by the client, certificate-bound tokens (RFC 8705) admitted only with their certificate.
 * Over a listener without client certificates, an mtls route answers 401 and a client's own
 * certificate headers, in every spelling, never reach the upstream.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { request } from 'node:https'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPki, type Authority, type Issued, type Pki } from '../../scripts/pki.js'
import { hmacToken } from '../helpers/jwt.js'
import { freePort } from '../helpers/ports.js'
import {
  FRONTS,
  startGateway,
  stopAllGateways,
  type Gateway,
  type RouteInput,
} from '../helpers/gateway.js'
import { send, type ErrorBody } from '../helpers/http.js'
import {
  closeAllUpstreams,
  startUpstream,
  type Echo,
  type TestUpstream,
} from '../helpers/upstream.js'

/** Every certificate header name, spelled as a client might to slip one past. */
const SPOOFED = [
  'X-Client-Cert-Subject',
  'X-CLIENT-CERT-SAN',
  'X-Forwarded-Client-Cert',
  'X-Peer-Cert',
]
/**
 * The underscore spellings (X_Client_Cert_SHA256 reaches a CGI-style upstream as
 * X-Client-Cert-SHA256), sent to the node front only: uWS 20.30 never dispatches a request with
 * "_" in a header name (docs/architecture.md).
 */
const UNDERSCORED = ['x_client_cert_subject', 'X_Client_Cert_SHA256', 'x_forwarded_client_cert']

function route(name: string, extra: Record<string, unknown>): RouteInput {
  return { name, match: { paths: [`/${name}/*`] }, upstream: 'echo', auth: 'none', ...extra }
}

describe.each(FRONTS)('auth: mtls on the %s front, over plain HTTP', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream
  const get = (path: string, headers: string[] = []) =>
    send(`http://127.0.0.1:${gateway.port}${path}`, {
      headers: ['Host', 'gateway.test', ...headers],
    })

  beforeAll(async () => {
    upstream = await startUpstream('echo')
    gateway = await startGateway({
      front,
      config: {
        upstreams: { echo: { targets: [upstream.url] } },
        consumers: [{ name: 'payments', certificates: [{ uri: 'spiffe://example.org/pay' }] }],
        headers: { client_certificate: { format: 'xfcc', subject: 'X-Peer-Cert' } },
        routes: [route('ledger', { auth: 'mtls' }), route('public', {})],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  it('answers a request without a client certificate with 401 and no challenge', async () => {
    const result = await get('/ledger/x')
    expect(result.status).toBe(401)
    expect(result.json<ErrorBody>().error).toBe('unauthorized')
    expect(result.headers['www-authenticate']).toBeUndefined()
    expect(upstream.requests).toHaveLength(0)
  })

  it('never forwards a client’s certificate headers, in any spelling', async () => {
    const names = front === 'node' ? [...SPOOFED, ...UNDERSCORED] : SPOOFED
    const sent = names.flatMap((name) => [name, 'CN=admin'])
    const result = await get('/public/x', sent)
    expect(result.status).toBe(200)
    const echoed = result.json<Echo>()
    expect(echoed.rawHeaders).not.toContain('CN=admin')
  })
})

const SPIFFE = 'spiffe://example.org/ns/payments/sa/api'
const HS_SECRET = 'an-hmac-secret-of-at-least-32-bytes!'
const ISS = 'https://hs.issuer.test'

interface MtlsResult {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
}

/** One request on its own mTLS connection, presenting `client`, with `headers`. */
function mtlsRequest(
  port: number,
  ca: string,
  client: Issued,
  path: string,
  headers: Record<string, string> = {},
): Promise<MtlsResult> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      agent: false,
      ca,
      cert: client.chain,
      key: client.key,
      headers: { host: 'mtls.test', ...headers },
      // The server certificate names mtls.test, not 127.0.0.1: trust is what matters here.
      checkServerIdentity: () => undefined,
    })
    req.setTimeout(10_000, () => req.destroy(new Error('mTLS request timed out')))
    req.on('error', reject)
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }))
    })
    req.end()
  })
}

function boundToken(client: Issued | null): string {
  const now = Math.floor(Date.now() / 1000)
  const cnf =
    client === null
      ? {}
      : { cnf: { 'x5t#S256': Buffer.from(client.sha256, 'hex').toString('base64url') } }
  return hmacToken(
    { alg: 'HS256', typ: 'JWT' },
    { iss: ISS, aud: 'api', sub: 'svc', exp: now + 600, ...cnf },
    HS_SECRET,
  )
}

describe.each(FRONTS)('auth: mtls on the %s front, over mTLS connections', (front) => {
  let pki: Pki
  let serverCa: Authority
  let clientCa: Authority
  let payments: Issued
  let stranger: Issued
  let upstream: TestUpstream
  let mtlsPort: number
  const as = (client: Issued, path: string, headers: Record<string, string> = {}) =>
    mtlsRequest(mtlsPort, serverCa.cert, client, path, headers)

  beforeAll(async () => {
    pki = createPki()
    serverCa = pki.ca('server CA')
    clientCa = pki.ca('client CA')
    const server = pki.issue(serverCa, { cn: 'mtls.test', dns: ['mtls.test'] })
    payments = pki.issue(clientCa, { cn: 'payments-api', uris: [SPIFFE], client: true })
    stranger = pki.issue(clientCa, { cn: 'stranger', client: true })
    upstream = await startUpstream('echo')
    mtlsPort = await freePort()
    await startGateway({
      front,
      config: {
        listeners: {
          http: { host: '127.0.0.1', port: await freePort() },
          status: { host: '127.0.0.1', port: await freePort() },
          mtls: {
            host: '127.0.0.1',
            port: mtlsPort,
            cert: server.chainFile,
            key: server.keyFile,
            client_ca: clientCa.certFile,
          },
        },
        upstreams: { echo: { targets: [upstream.url] } },
        issuers: [
          {
            name: 'hs',
            issuer: ISS,
            secret: HS_SECRET,
            audiences: ['api'],
            algorithms: ['HS256'],
          },
        ],
        consumers: [{ name: 'payments', certificates: [{ uri: SPIFFE }] }],
        routes: [
          route('ledger', { auth: 'mtls' }),
          route('bound', { auth: 'jwt', jwt: { issuers: ['hs'], require_bound_tokens: true } }),
        ],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
    pki.cleanup()
  })

  it('admits a certificate mapped by its SPIFFE ID and tells the upstream who called', async () => {
    const result = await as(payments, '/ledger/x', {
      'X-Client-Cert-SHA256': 'forged',
      'X-Client-Cert-Subject': 'CN=admin',
    })
    expect(result.status).toBe(200)
    const echoed = JSON.parse(result.text) as Echo
    expect(echoed.headers['x-consumer-id']).toBe('payments')
    expect(echoed.headers['x-client-cert-sha256']).toBe(payments.sha256)
    expect(echoed.headers['x-client-cert-subject']).toBe('CN=payments-api,O=portcullis-test')
    expect(echoed.headers['x-client-cert-san']).toBe(`URI=${SPIFFE}`)
    expect(echoed.rawHeaders).not.toContain('forged')
    expect(echoed.rawHeaders).not.toContain('CN=admin')
  })

  it('refuses a valid certificate of the CA that maps to no consumer with 401', async () => {
    upstream.reset()
    const result = await as(stranger, '/ledger/x')
    expect(result.status).toBe(401)
    expect((JSON.parse(result.text) as ErrorBody).error).toBe('unauthorized')
    expect(upstream.requests).toHaveLength(0)
  })

  it('admits a certificate-bound token only over a connection with its certificate', async () => {
    const token = boundToken(payments)
    const own = await as(payments, '/bound/x', { authorization: `Bearer ${token}` })
    expect(own.status).toBe(200)
    const other = await as(stranger, '/bound/x', { authorization: `Bearer ${token}` })
    expect(other.status).toBe(401)
    expect(other.headers['www-authenticate']).toContain(
      'The token is bound to another client certificate.',
    )
    const unbound = await as(payments, '/bound/x', {
      authorization: `Bearer ${boundToken(null)}`,
    })
    expect(unbound.status).toBe(401)
  })
})
