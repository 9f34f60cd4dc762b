/**
 * The authenticate stage on routes that take RFC 9421 signed requests, on an in-memory exchange,
 * with signatures made by an independent implementation (http-message-signatures): what admits a
 * signature, that every refusal looks the same to the caller while the audit line says why
 * (tampered method, path, query, body; stale, future or expired; replayed; components missing;
 * unknown key), and that only hmac routes read bodies.
 */
import { beforeEach, describe, expect, it } from 'vitest'
import type { Rejection } from '../../../src/errors.js'
import { contentDigest } from '../../../src/hmac/content-digest.js'
import { createHmacKey } from '../../../src/hmac/keys.js'
import type { RouteConfig } from '../../../src/gateway/route-schema.js'
import { RevocationList } from '../../../src/jwt/revocation.js'
import {
  compileAuthenticate,
  type AuthenticateStage,
} from '../../../src/stages/authenticate/index.js'
import { JwtContext } from '../../../src/stages/authenticate/jwt-context.js'
import {
  captureLogger,
  keyServices,
  newKey,
  type ConsumerInput,
  type KeyServicesForTest,
} from '../../helpers/credentials.js'
import { FakeExchange } from '../../helpers/exchange.js'
import { nowSeconds, signedHeaders, type SignOptions } from '../../helpers/hmac.js'

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!'
const OTHER_SECRET = 'another-shared-secret-of-32-bytes-or-more'
const apiKey = newKey()

const CONSUMERS: ConsumerInput[] = [
  {
    name: 'acme',
    keys: [{ hash: apiKey.hash }],
    hmac_credentials: [{ key_id: 'acme-1', secret: SECRET, scopes: ['orders:write'] }],
  },
  {
    name: 'retired',
    disabled: true,
    hmac_credentials: [{ key_id: 'old-1', secret: OTHER_SECRET }],
  },
]

let services: KeyServicesForTest
let audit: Record<string, unknown>[]

beforeEach(() => {
  audit = []
  services = keyServices(CONSUMERS)
})

function route(fields: Partial<RouteConfig> = {}): RouteConfig {
  return {
    name: 'signed',
    match: { paths: ['/*'] },
    upstream: 'u',
    auth: 'hmac',
    forward: { claims: {}, strip_credentials: true },
    strip_path: false,
    websocket: false,
    ...fields,
  }
}

function compile(config: RouteConfig = route()): AuthenticateStage {
  const problems: { path: string; reason: string }[] = []
  const stage = compileAuthenticate(
    config,
    { name: config.name, path: 'routes[0]', problems },
    {
      issuers: new Map(),
      introspectors: new Map(),
      jwt: new JwtContext(null, new RevocationList()),
      logger: captureLogger(audit),
      audit: true,
      ...services,
    },
  )
  expect(problems).toEqual([])
  return stage!
}

const URL_ = 'http://api.example.com/orders/42?expand=items'

/** The exchange a front fills for `method url` with these fields. */
function exchange(
  method: string,
  url: string,
  headers: Record<string, string>,
  contentLength = 0,
): FakeExchange {
  const target = new URL(url)
  const ex = new FakeExchange()
  ex.method = method
  ex.rawPath = target.pathname
  ex.path = target.pathname
  ex.query = target.search.slice(1)
  ex.host = target.hostname
  ex.hostHeader = target.host
  ex.contentLength = contentLength
  ex.clientAddress = '10.1.2.3'
  ex.headers = ['host', target.host, ...Object.entries(headers).flat()]
  return ex
}

function sign(options: Partial<SignOptions> = {}): Promise<Record<string, string>> {
  return signedHeaders({
    method: 'GET',
    url: URL_,
    keyId: 'acme-1',
    secret: SECRET,
    components: ['@method', '@target-uri'],
    ...options,
  })
}

function lastAudit(): Record<string, unknown> {
  return audit.at(-1)!
}

function expectRefused(verdict: unknown, reason: string): void {
  expect(verdict).toMatchObject({ status: 401, code: 'invalid_signature' })
  expect((verdict as Rejection).message).toBe('The request signature is not valid.')
  expect(lastAudit()).toMatchObject({ method: 'hmac', outcome: 'deny', reason })
}

describe('authenticate: hmac', () => {
  describe('when the signature is valid', () => {
    it('admits it synchronously and fills the identity of the key’s consumer', async () => {
      const stage = compile()
      const ex = exchange('GET', URL_, await sign())
      const verdict = stage.onRequest(ex)
      expect(verdict).toBeUndefined()
      expect(ex.identity).toMatchObject({
        method: 'hmac',
        issuer: 'hmac',
        subject: 'acme',
        consumer: 'acme',
        credentialId: 'acme-1',
      })
      expect([...ex.identity!.scopes]).toEqual(['orders:write'])
      expect(ex.consumer?.name).toBe('acme')
      expect(lastAudit()).toMatchObject({
        method: 'hmac',
        key_id: 'acme-1',
        consumer: 'acme',
        label: 'sig1',
        outcome: 'allow',
        reason: null,
      })
    })

    it('admits @path, @query and @authority where a route requires them instead', async () => {
      const stage = compile(
        route({ hmac: hmacConfig({ components: ['@method', '@authority', '@path', '@query'] }) }),
      )
      const headers = await sign({ components: ['@method', '@authority', '@path', '@query'] })
      expect(stage.onRequest(exchange('GET', URL_, headers))).toBeUndefined()
    })

    it('checks the signature whose keyid it knows, beside another party’s', async () => {
      const ours = await sign()
      const theirs = await sign({ keyId: 'proxy-key', secret: OTHER_SECRET, label: 'proxy' })
      const headers = {
        'signature-input': `${theirs['signature-input']}, ${ours['signature-input']}`,
        signature: `${theirs['signature']}, ${ours['signature']}`,
      }
      expect(compile().onRequest(exchange('GET', URL_, headers))).toBeUndefined()
      expect(lastAudit()).toMatchObject({ label: 'sig1', outcome: 'allow' })
    })
  })

  describe('when the request was changed after signing', () => {
    it('refuses another method', async () => {
      expectRefused(compile().onRequest(exchange('DELETE', URL_, await sign())), 'bad_signature')
    })

    it('refuses another path', async () => {
      const headers = await sign()
      const ex = exchange('GET', 'http://api.example.com/orders/43?expand=items', headers)
      expectRefused(compile().onRequest(ex), 'bad_signature')
    })

    it('refuses another query', async () => {
      const headers = await sign()
      const ex = exchange('GET', 'http://api.example.com/orders/42?expand=all', headers)
      expectRefused(compile().onRequest(ex), 'bad_signature')
    })

    it('refuses another host', async () => {
      const headers = await sign()
      const ex = exchange('GET', 'http://evil.example.com/orders/42?expand=items', headers)
      expectRefused(compile().onRequest(ex), 'bad_signature')
    })

    it('refuses a signature made with another secret', async () => {
      const headers = await sign({ secret: OTHER_SECRET })
      expectRefused(compile().onRequest(exchange('GET', URL_, headers)), 'bad_signature')
    })
  })

  describe('when the signature’s time is wrong', () => {
    it('refuses a created older than max_age', async () => {
      const headers = await sign({ created: nowSeconds() - 301 })
      expectRefused(compile().onRequest(exchange('GET', URL_, headers)), 'stale')
    })

    it('refuses a created in the future beyond clock_skew', async () => {
      const headers = await sign({ created: nowSeconds() + 60 })
      expectRefused(compile().onRequest(exchange('GET', URL_, headers)), 'future')
    })

    it('refuses an expires that is past', async () => {
      const headers = await sign({ created: nowSeconds() - 100, expires: nowSeconds() - 30 })
      expectRefused(compile().onRequest(exchange('GET', URL_, headers)), 'expired')
    })

    it('refuses a signature without created', async () => {
      const headers = await sign({ created: null })
      expectRefused(compile().onRequest(exchange('GET', URL_, headers)), 'missing_created')
    })
  })

  describe('when the signature is replayed', () => {
    it('admits it once and refuses it again', async () => {
      const stage = compile()
      const headers = await sign()
      expect(stage.onRequest(exchange('GET', URL_, headers))).toBeUndefined()
      expectRefused(stage.onRequest(exchange('GET', URL_, headers)), 'replay')
    })

    it('admits it again on a route with replay: false', async () => {
      const stage = compile(route({ hmac: hmacConfig({ replay: false }) }))
      const headers = await sign()
      expect(stage.onRequest(exchange('GET', URL_, headers))).toBeUndefined()
      expect(stage.onRequest(exchange('GET', URL_, headers))).toBeUndefined()
    })

    it('refuses it on another route of the worker too, and after a reload', async () => {
      const headers = await sign()
      expect(compile().onRequest(exchange('GET', URL_, headers))).toBeUndefined()
      expectRefused(compile().onRequest(exchange('GET', URL_, headers)), 'replay')
    })
  })

  describe('when the signature covers too little', () => {
    it('refuses one without a required component', async () => {
      const headers = await sign({ components: ['@method'] })
      expectRefused(compile().onRequest(exchange('GET', URL_, headers)), 'missing_component')
    })

    it('refuses a request with a body whose signature leaves out content-digest', async () => {
      const headers = await sign({ method: 'POST', headers: { 'content-type': 'text/plain' } })
      const ex = exchange('POST', URL_, headers, 5)
      expectRefused(compile().onRequest(ex), 'missing_component')
    })

    it('refuses a covered field the request does not carry', async () => {
      const headers = await sign({
        components: ['@method', '@target-uri', 'x-tenant'],
        headers: { 'x-tenant': 'acme' },
      })
      delete headers['x-tenant']
      expectRefused(compile().onRequest(exchange('GET', URL_, headers)), 'absent_component')
    })
  })

  describe('when the key is not one to accept', () => {
    it('refuses an unknown key id', async () => {
      const headers = await sign({ keyId: 'nobody-1' })
      expectRefused(compile().onRequest(exchange('GET', URL_, headers)), 'unknown_key')
      expect(lastAudit()).toMatchObject({ key_id: 'nobody-1', consumer: null })
    })

    it('refuses a store credential past its expiry (a rotation’s grace), admits it before', async () => {
      const key = (expiresAt: number) =>
        createHmacKey(
          'acme',
          { key_id: 'hk_rotated', algorithm: 'hmac-sha256', scopes: [] },
          Buffer.from(SECRET),
          expiresAt,
        )
      services.credentials.applyHmacKey('hk_rotated', key(nowSeconds() + 60))
      const admitted = await sign({ keyId: 'hk_rotated' })
      expect(compile().onRequest(exchange('GET', URL_, admitted))).toBeUndefined()
      services.credentials.applyHmacKey('hk_rotated', key(nowSeconds()))
      const headers = await sign({ keyId: 'hk_rotated', created: nowSeconds() - 1 })
      expectRefused(compile().onRequest(exchange('GET', URL_, headers)), 'key_expired')
    })

    it('refuses a key of a disabled consumer', async () => {
      const headers = await sign({ keyId: 'old-1', secret: OTHER_SECRET })
      expectRefused(compile().onRequest(exchange('GET', URL_, headers)), 'consumer_disabled')
    })

    it('refuses a signature naming another algorithm than the key’s', async () => {
      const headers = await sign({ alg: 'rsa-pss-sha512' })
      expectRefused(compile().onRequest(exchange('GET', URL_, headers)), 'algorithm_mismatch')
    })

    it('refuses a Signature-Input without its Signature', async () => {
      const headers = await sign()
      delete headers['signature']
      expectRefused(compile().onRequest(exchange('GET', URL_, headers)), 'malformed')
    })
  })

  describe('the answers', () => {
    it('challenges with Signature and names the required components in Accept-Signature', async () => {
      const verdict = compile().onRequest(exchange('GET', URL_, await sign({ keyId: 'x' })))
      expect((verdict as Rejection).headers).toEqual([
        'www-authenticate',
        'Signature realm="portcullis"',
        'accept-signature',
        'sig=("@method" "@target-uri" "content-digest");created;alg="hmac-sha256"',
      ])
    })

    it('answers a request without a signature with 401 and the same hint', () => {
      const verdict = compile().onRequest(exchange('GET', URL_, {})) as Rejection
      expect(verdict).toMatchObject({ status: 401, code: 'unauthorized' })
      expect(verdict.headers).toContain('accept-signature')
      expect(lastAudit()).toMatchObject({ method: 'hmac', reason: 'no_credential' })
    })
  })

  describe('the body', () => {
    const BODY = Buffer.from('{"order": 42}')

    async function signedPost(digest: string): Promise<FakeExchange> {
      const headers = await sign({
        method: 'POST',
        headers: { 'content-digest': digest },
        components: ['@method', '@target-uri', 'content-digest'],
      })
      return exchange('POST', URL_, headers, BODY.length)
    }

    it('admits a body matching the Content-Digest the signature covers (sha-256, sha-512)', async () => {
      const stage = compile()
      for (const algorithm of ['sha-256', 'sha-512'] as const) {
        const ex = await signedPost(contentDigest(BODY, algorithm))
        expect(stage.onRequest(ex)).toBeUndefined()
        expect(stage.onBody!(ex, BODY)).toBeUndefined()
      }
    })

    it('refuses a body that is not the one the digest names', async () => {
      const stage = compile()
      const ex = await signedPost(contentDigest(BODY, 'sha-256'))
      expect(stage.onRequest(ex)).toBeUndefined()
      expectRefused(stage.onBody!(ex, Buffer.from('{"order": 43}')), 'digest_mismatch')
    })

    it('refuses a Content-Digest of no algorithm it knows', async () => {
      const stage = compile()
      const ex = await signedPost('md5=:AAAA:')
      expect(stage.onRequest(ex)).toBeUndefined()
      expectRefused(stage.onBody!(ex, BODY), 'digest_unsupported')
    })

    it('reads bodies only on routes with an hmac method, and checks only signed requests', () => {
      expect(compile(route({ auth: 'api_key' })).onBody).toBeNull()
      const either = compile(route({ auth: { any: ['api_key', 'hmac'] } }))
      const ex = exchange('POST', URL_, { 'x-api-key': apiKey.key }, 3)
      expect(either.onRequest(ex)).toBeUndefined()
      expect(either.onBody!(ex, Buffer.from('abc'))).toBeUndefined()
    })
  })
})

function hmacConfig(fields: Partial<NonNullable<RouteConfig['hmac']>>): RouteConfig['hmac'] {
  return {
    components: ['@method', '@target-uri'],
    content_digest: true,
    max_age: '300s',
    replay: true,
    clock_skew: '5s',
    realm: 'portcullis',
    ...fields,
  }
}
