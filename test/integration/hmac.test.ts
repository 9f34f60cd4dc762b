/**
 * Requests signed per RFC 9421 through a real gateway process on both fronts, signed by an
 * independent implementation (http-message-signatures): what the upstream receives (the exact
 * body bytes, Content-Length or chunked), and what is refused before it gets a byte: a tampered
 * body, a replay, a stale signature, an unsigned request, a body over max_body; each refusal a
 * 401 with the hint and the reason in the audit line.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { contentDigest } from '../../src/hmac/content-digest.js'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { nowSeconds, signedHeaders, type SignOptions } from '../helpers/hmac.js'
import { send, type ErrorBody, type HttpResult } from '../helpers/http.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'

const SECRET_HEX = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90'
const SECRET = Buffer.from(SECRET_HEX, 'hex')

/** What the body-echoing upstream answers: the request as it arrived, body included. */
interface BodyEcho {
  readonly method: string
  readonly url: string
  readonly rawHeaders: readonly string[]
  readonly body: string
}

function echoBody(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => {
    const body = JSON.stringify({
      method: req.method ?? '',
      url: req.url ?? '',
      rawHeaders: req.rawHeaders,
      body: Buffer.concat(chunks).toString('base64'),
    } satisfies BodyEcho)
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    })
    res.end(body)
  })
}

function received(echo: BodyEcho, name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < echo.rawHeaders.length; i += 2) {
    if (echo.rawHeaders[i]!.toLowerCase() === name) out.push(echo.rawHeaders[i + 1]!)
  }
  return out
}

describe.each(FRONTS)('signed requests (RFC 9421) on the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream

  beforeAll(async () => {
    upstream = await startUpstream('signed')
    upstream.handle(echoBody)
    gateway = await startGateway({
      front,
      env: { ...process.env, PCL_TEST_HMAC_SECRET: SECRET_HEX },
      config: {
        log: { audit: true },
        consumers: [
          {
            name: 'acme',
            hmac_credentials: [
              { key_id: 'acme-1', secret: '${PCL_TEST_HMAC_SECRET}', secret_encoding: 'hex' },
            ],
          },
        ],
        upstreams: { hooks: { targets: [upstream.url] } },
        routes: [
          {
            name: 'hooks',
            match: { paths: ['/hooks/*'] },
            upstream: 'hooks',
            auth: 'hmac',
            max_body: '1kb',
          },
        ],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  function urlOf(path: string): string {
    return `http://127.0.0.1:${gateway.port}${path}`
  }

  function sign(options: Partial<SignOptions> & { path: string }): Promise<Record<string, string>> {
    return signedHeaders({
      method: 'GET',
      url: urlOf(options.path),
      keyId: 'acme-1',
      secret: SECRET,
      components: ['@method', '@target-uri'],
      ...options,
    })
  }

  /** A signed POST whose Content-Digest names `signedBody`. */
  function signPost(path: string, signedBody: string): Promise<Record<string, string>> {
    return sign({
      method: 'POST',
      path,
      headers: { 'content-digest': contentDigest(signedBody, 'sha-256') },
      components: ['@method', '@target-uri', 'content-digest'],
    })
  }

  async function auditReason(result: HttpResult): Promise<unknown> {
    const id = result.headers['x-request-id']
    const line = await gateway.waitForLog(
      (l) => l['audit'] === 'authenticate' && l['request_id'] === id && l['outcome'] === 'deny',
      5000,
    )
    return line['reason']
  }

  function expectRefused(result: HttpResult): void {
    expect(result.status).toBe(401)
    expect(result.json<ErrorBody>().error).toBe('invalid_signature')
    expect(result.headers['www-authenticate']).toBe('Signature realm="portcullis"')
    expect(result.headers['accept-signature']).toBe(
      'sig=("@method" "@target-uri" "content-digest");created;alg="hmac-sha256"',
    )
  }

  it('admits a signed GET and forwards it with the consumer and the signature fields', async () => {
    const headers = await sign({ path: '/hooks/orders?since=2026-01-01&all' })
    const result = await send(urlOf('/hooks/orders?since=2026-01-01&all'), { headers })
    expect(result.status).toBe(200)
    const echo = result.json<BodyEcho>()
    expect(echo.url).toBe('/hooks/orders?since=2026-01-01&all')
    expect(received(echo, 'x-consumer-id')).toEqual(['acme'])
    expect(received(echo, 'signature-input')).toEqual([headers['signature-input']])
  })

  it('verifies the raw request target the client signed, not the normalized path', async () => {
    // The gateway routes and forwards /hooks/~user/x; the client signed what it sent.
    const headers = await sign({ path: '/hooks//%7Euser/x' })
    const result = await send(urlOf('/hooks//%7Euser/x'), { headers })
    expect(result.status).toBe(200)
    expect(result.json<BodyEcho>().url).toBe('/hooks/~user/x')
  })

  it('forwards the exact bytes of a signed body, with Content-Length or chunked', async () => {
    const body = '{"event": "order.paid", "id": 42}\n'
    const sized = await send(urlOf('/hooks/paid'), {
      method: 'POST',
      headers: await signPost('/hooks/paid', body),
      body,
    })
    expect(sized.status).toBe(200)
    expect(Buffer.from(sized.json<BodyEcho>().body, 'base64').toString()).toBe(body)
    // Another path: the same request signed in the same second would be a replay.
    const chunked = await send(urlOf('/hooks/paid-chunked'), {
      method: 'POST',
      headers: { ...(await signPost('/hooks/paid-chunked', body)), 'transfer-encoding': 'chunked' },
      body,
    })
    expect(chunked.status).toBe(200)
    expect(Buffer.from(chunked.json<BodyEcho>().body, 'base64').toString()).toBe(body)
  })

  it('refuses a body other than the one signed, before the upstream sees it', async () => {
    upstream.reset()
    const result = await send(urlOf('/hooks/paid'), {
      method: 'POST',
      headers: {
        ...(await signPost('/hooks/paid', '{"amount": 10}')),
        'transfer-encoding': 'chunked',
      },
      body: '{"amount": 1000}',
    })
    expectRefused(result)
    expect(await auditReason(result)).toBe('digest_mismatch')
    expect(upstream.requests).toHaveLength(0)
  })

  it('refuses a signed body over max_body with 413', async () => {
    const body = 'x'.repeat(2048)
    const headers = await signPost('/hooks/big', body)
    const sized = await send(urlOf('/hooks/big'), { method: 'POST', headers, body })
    expect(sized.status).toBe(413)
    const chunked = await send(urlOf('/hooks/big-chunked'), {
      method: 'POST',
      headers: { ...(await signPost('/hooks/big-chunked', body)), 'transfer-encoding': 'chunked' },
      body,
    })
    expect(chunked.status).toBe(413)
  })

  it('refuses a replayed signature', async () => {
    const headers = await sign({ path: '/hooks/once' })
    expect((await send(urlOf('/hooks/once'), { headers })).status).toBe(200)
    const replay = await send(urlOf('/hooks/once'), { headers })
    expectRefused(replay)
    expect(await auditReason(replay)).toBe('replay')
  })

  it('refuses a tampered method, path or query', async () => {
    const headers = await sign({ path: '/hooks/a?x=1' })
    for (const [method, path] of [
      ['DELETE', '/hooks/a?x=1'],
      ['GET', '/hooks/b?x=1'],
      ['GET', '/hooks/a?x=2'],
    ] as const) {
      const result = await send(urlOf(path), { method, headers })
      expectRefused(result)
      expect(await auditReason(result)).toBe('bad_signature')
    }
  })

  it('refuses a stale signature and one from the future', async () => {
    const stale = await send(urlOf('/hooks/a'), {
      headers: await sign({ path: '/hooks/a', created: nowSeconds() - 600 }),
    })
    expectRefused(stale)
    expect(await auditReason(stale)).toBe('stale')
    const future = await send(urlOf('/hooks/a'), {
      headers: await sign({ path: '/hooks/a', created: nowSeconds() + 600 }),
    })
    expectRefused(future)
    expect(await auditReason(future)).toBe('future')
  })

  it('refuses a body whose signature leaves out content-digest', async () => {
    const headers = await sign({ method: 'POST', path: '/hooks/paid' })
    const result = await send(urlOf('/hooks/paid'), { method: 'POST', headers, body: 'x' })
    expectRefused(result)
    expect(await auditReason(result)).toBe('missing_component')
  })

  it('refuses an unknown key id', async () => {
    const result = await send(urlOf('/hooks/a'), {
      headers: await sign({ path: '/hooks/a', keyId: 'acme-2' }),
    })
    expectRefused(result)
    expect(await auditReason(result)).toBe('unknown_key')
  })

  it('answers an unsigned request with 401 and the components to sign', async () => {
    const result = await send(urlOf('/hooks/a'))
    expect(result.status).toBe(401)
    expect(result.json<ErrorBody>().error).toBe('unauthorized')
    expect(result.headers['accept-signature']).toContain('"@method" "@target-uri"')
  })
})
