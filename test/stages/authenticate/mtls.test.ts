/**
 * auth: mtls on an in-memory exchange, with client certificates made by openssl: each mapping
 * rule, unmapped certificates refused or admitted, disabled consumers, identities reused per
 * certificate; certificate-bound tokens (RFC 8705 §3) on jwt routes; and mtls combined with jwt
 * under any and all.
 */
import { generateKeyPairSync, sign as cryptoSign, X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Rejection } from '../../../src/errors.js'
import type { RouteConfig } from '../../../src/gateway/route-schema.js'
import { IssuerRegistry, type CompiledIssuer } from '../../../src/jwt/issuer.js'
import { RevocationList } from '../../../src/jwt/revocation.js'
import type { IssuerConfig } from '../../../src/jwt/schema.js'
import { createLogger } from '../../../src/observability/logger.js'
import {
  compileAuthenticate,
  type AuthenticateStage,
} from '../../../src/stages/authenticate/index.js'
import { JwtContext } from '../../../src/stages/authenticate/jwt-context.js'
import {
  clientCertificateOf,
  type ClientCertificate,
  type PeerCertificateFields,
} from '../../../src/tls/client-certificate.js'
import { createPki, type IssueOptions, type Pki } from '../../../scripts/pki.js'
import { keyServices, type ConsumerInput } from '../../helpers/credentials.js'
import { FakeExchange } from '../../helpers/exchange.js'

const ISS = 'https://mtls.test'
const SPIFFE = 'spiffe://example.org/ns/payments/sa/api'
const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })

let pki: Pki
let dir: string
let issuers: ReadonlyMap<string, CompiledIssuer>
let byUri: ClientCertificate
let byDns: ClientCertificate
let byCn: ClientCertificate
let byFingerprint: ClientCertificate
let unmapped: ClientCertificate
let ofDisabled: ClientCertificate
/** Maps by URI to `payments` and by CN to `other`: the URI rule is the more specific. */
let twoRules: ClientCertificate

beforeAll(() => {
  pki = createPki()
  const ca = pki.ca()
  // As a front builds it: node's legacy object is what getPeerCertificate() returns.
  const issue = (options: IssueOptions) =>
    clientCertificateOf(
      new X509Certificate(
        pki.issue(ca, { ...options, client: true }).cert,
      ).toLegacyObject() as unknown as PeerCertificateFields,
    )
  byUri = issue({ cn: 'payments-api', uris: [SPIFFE] })
  byDns = issue({ cn: 'host', dns: ['Billing.Example.org'] })
  byCn = issue({ cn: 'reports' })
  byFingerprint = issue({ cn: 'pinned' })
  unmapped = issue({ cn: 'stranger', uris: ['spiffe://example.org/ns/x/sa/y'] })
  ofDisabled = issue({ cn: 'gone' })
  twoRules = issue({ cn: 'reports', uris: [SPIFFE] })
  dir = mkdtempSync(join(tmpdir(), 'pcl-mtls-stage-'))
  const keys = join(dir, 'key.pem')
  writeFileSync(keys, publicKey.export({ format: 'pem', type: 'spki' }))
  const problems: { path: string; reason: string }[] = []
  issuers = new IssuerRegistry(createLogger('silent', {})).compile(
    [issuerConfig({ name: 'idp', keys, consumer_claim: 'client_id' })],
    problems,
  )
  expect(problems).toEqual([])
})

afterAll(() => {
  pki.cleanup()
  rmSync(dir, { recursive: true, force: true })
})

function issuerConfig(config: Partial<IssuerConfig> & Pick<IssuerConfig, 'name'>): IssuerConfig {
  return {
    issuer: ISS,
    audiences: ['api'],
    algorithms: ['ES256'],
    clock_skew: '60s',
    required_claims: ['exp'],
    scope_claim: 'scope',
    max_token_size: '8KiB',
    cache_size: 100,
    ...config,
  } as IssuerConfig
}

function token(claims: Record<string, unknown>): string {
  const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const body = { iss: ISS, aud: 'api', exp: Math.floor(Date.now() / 1000) + 600, ...claims }
  const input = `${b64({ alg: 'ES256' })}.${b64(body)}`
  const signature = cryptoSign('sha256', Buffer.from(input), {
    key: privateKey,
    dsaEncoding: 'ieee-p1363',
  })
  return `${input}.${signature.toString('base64url')}`
}

function consumers(): ConsumerInput[] {
  return [
    { name: 'payments', certificates: [{ uri: SPIFFE }] },
    { name: 'billing', certificates: [{ dns: 'billing.example.org' }] },
    { name: 'other', certificates: [{ cn: 'reports' }] },
    // openssl's colon form, upper case: compared as lower-case hex.
    {
      name: 'pinned',
      certificates: [{ sha256: byFingerprint.sha256.toUpperCase().match(/../g)!.join(':') }],
    },
    { name: 'gone', disabled: true, certificates: [{ cn: 'gone' }] },
  ]
}

function route(auth: RouteConfig['auth'], extra: Partial<RouteConfig> = {}): RouteConfig {
  return {
    name: 'r',
    match: { paths: ['/*'] },
    upstream: 'u',
    auth,
    forward: { claims: {}, strip_credentials: true },
    strip_path: false,
    websocket: false,
    ...extra,
  }
}

function stage(config: RouteConfig): AuthenticateStage {
  const problems: { path: string; reason: string }[] = []
  const context = new JwtContext(null, new RevocationList())
  context.resize(100)
  const compiled = compileAuthenticate(
    config,
    { name: config.name, path: 'routes[0]', problems },
    {
      issuers,
      introspectors: new Map(),
      jwt: context,
      logger: createLogger('silent', {}),
      audit: false,
      ...keyServices(consumers()),
    },
  )
  expect(problems).toEqual([])
  return compiled!
}

function exchange(certificate: ClientCertificate | null, authorization?: string): FakeExchange {
  const ex = new FakeExchange()
  ex.method = 'GET'
  ex.clientCertificate = certificate
  ex.headers = authorization === undefined ? [] : ['authorization', authorization]
  return ex
}

function descriptionOf(verdict: unknown): string | undefined {
  const headers = (verdict as Rejection | undefined)?.headers ?? []
  return headers[1]?.match(/error_description="([^"]*)"/)?.[1]
}

const JWT = { issuers: ['idp'], header: true, realm: 'portcullis' }

describe('auth: mtls', () => {
  let mtls: AuthenticateStage
  beforeAll(async () => {
    mtls = stage(route('mtls'))
  })

  it('maps a certificate to its consumer by a SAN URI (a SPIFFE ID)', () => {
    const ex = exchange(byUri)
    expect(mtls.onRequest(ex)).toBeUndefined()
    expect(ex.consumer?.name).toBe('payments')
    expect(ex.identity).toMatchObject({
      method: 'mtls',
      issuer: 'mtls',
      subject: SPIFFE,
      consumer: 'payments',
      credentialId: byUri.sha256,
    })
  })

  it('maps by a SAN DNS name without letter case', () => {
    const ex = exchange(byDns)
    expect(mtls.onRequest(ex)).toBeUndefined()
    expect(ex.consumer?.name).toBe('billing')
  })

  it('maps by the subject CN', () => {
    const ex = exchange(byCn)
    expect(mtls.onRequest(ex)).toBeUndefined()
    expect(ex.consumer?.name).toBe('other')
    expect(ex.identity?.subject).toBe('reports')
  })

  it('maps by the SHA-256 fingerprint, written with colons in any case', () => {
    const ex = exchange(byFingerprint)
    expect(mtls.onRequest(ex)).toBeUndefined()
    expect(ex.consumer?.name).toBe('pinned')
  })

  it('prefers the more specific rule when a certificate matches two consumers', () => {
    const ex = exchange(twoRules)
    expect(mtls.onRequest(ex)).toBeUndefined()
    expect(ex.consumer?.name).toBe('payments')
  })

  it('refuses a valid certificate that maps to no consumer with 401', () => {
    const ex = exchange(unmapped)
    expect(mtls.onRequest(ex)).toMatchObject({ status: 401, code: 'unauthorized' })
    expect(ex.identity).toBeNull()
  })

  it('refuses the certificate of a disabled consumer with the same 401', () => {
    const verdict = mtls.onRequest(exchange(ofDisabled))
    expect(verdict).toBe(mtls.challenges.invalidCertificate)
  })

  it('refuses a request without a certificate (a non-mTLS listener) with 401', () => {
    const verdict = mtls.onRequest(exchange(null))
    expect(verdict).toMatchObject({ status: 401, code: 'unauthorized' })
    expect((verdict as Rejection).message).toContain('a client certificate')
  })

  it('hands every request of a certificate the same identity object', () => {
    const first = exchange(byUri)
    const second = exchange(byUri)
    mtls.onRequest(first)
    mtls.onRequest(second)
    expect(second.identity).toBe(first.identity)
  })

  describe('when the route allows unmapped certificates', () => {
    it('admits one without a consumer, its SAN URI as the subject', () => {
      const open = stage(route('mtls', { mtls: { allow_unmapped: true } }))
      const ex = exchange(unmapped)
      expect(open.onRequest(ex)).toBeUndefined()
      expect(ex.consumer).toBeNull()
      expect(ex.identity).toMatchObject({
        method: 'mtls',
        subject: 'spiffe://example.org/ns/x/sa/y',
        consumer: null,
      })
    })

    it('still refuses the certificate of a disabled consumer', () => {
      const open = stage(route('mtls', { mtls: { allow_unmapped: true } }))
      expect(open.onRequest(exchange(ofDisabled))).toMatchObject({ status: 401 })
    })
  })
})

describe('certificate-bound tokens (RFC 8705 §3) on a jwt route', () => {
  let jwt: AuthenticateStage
  let strict: AuthenticateStage
  beforeAll(() => {
    jwt = stage(route('jwt', { jwt: JWT }))
    strict = stage(route('jwt', { jwt: { ...JWT, require_bound_tokens: true } }))
  })

  const boundTo = (certificate: ClientCertificate) =>
    token({ sub: 'svc', cnf: { 'x5t#S256': certificate.x5tS256 } })

  it('admits a bound token over a connection presenting its certificate', () => {
    const ex = exchange(byUri, `Bearer ${boundTo(byUri)}`)
    expect(jwt.onRequest(ex)).toBeUndefined()
    expect(ex.identity?.subject).toBe('svc')
  })

  it('refuses the same (cached) token over a connection presenting another certificate', () => {
    const t = boundTo(byUri)
    expect(jwt.onRequest(exchange(byUri, `Bearer ${t}`))).toBeUndefined()
    const verdict = jwt.onRequest(exchange(byDns, `Bearer ${t}`))
    expect(verdict).toMatchObject({ status: 401, code: 'invalid_token' })
    expect(descriptionOf(verdict)).toBe('The token is bound to another client certificate.')
    // …and the verdict cached for the token still admits its own certificate.
    expect(jwt.onRequest(exchange(byUri, `Bearer ${t}`))).toBeUndefined()
  })

  it('refuses a bound token over a connection without a certificate', () => {
    const verdict = jwt.onRequest(exchange(null, `Bearer ${boundTo(byUri)}`))
    expect(descriptionOf(verdict)).toBe(
      'The token is bound to a client certificate and none was presented.',
    )
  })

  it('refuses a cnf whose x5t#S256 is not a string', () => {
    const t = token({ sub: 'svc', cnf: { 'x5t#S256': 42 } })
    expect(jwt.onRequest(exchange(byUri, `Bearer ${t}`))).toMatchObject({
      status: 401,
    })
  })

  it('admits an unbound token unless the route requires bound tokens', () => {
    const t = token({ sub: 'svc' })
    expect(jwt.onRequest(exchange(byUri, `Bearer ${t}`))).toBeUndefined()
    const verdict = strict.onRequest(exchange(byUri, `Bearer ${t}`))
    expect(verdict).toMatchObject({ status: 401, code: 'invalid_token' })
    expect(descriptionOf(verdict)).toBe(
      'This route accepts only tokens bound to the client certificate.',
    )
    const jkt = token({ sub: 'svc', cnf: { jkt: 'abc' } })
    expect(descriptionOf(strict.onRequest(exchange(byUri, `Bearer ${jkt}`)))).toBe(
      'This route accepts only tokens bound to the client certificate.',
    )
  })

  it('admits a bound token on a route that requires them', () => {
    const ex = exchange(byDns, `Bearer ${boundTo(byDns)}`)
    expect(strict.onRequest(ex)).toBeUndefined()
  })
})

describe('mtls with jwt', () => {
  describe('any: [mtls, jwt]', () => {
    let any: AuthenticateStage
    beforeAll(() => {
      any = stage(route({ any: ['mtls', 'jwt'] }, { jwt: JWT }))
    })

    it('lets the certificate decide when the request carries no token', () => {
      const ex = exchange(byUri)
      expect(any.onRequest(ex)).toBeUndefined()
      expect(ex.identity?.method).toBe('mtls')
    })

    it('lets a token decide when the request carries one, over a mapped certificate', () => {
      const ex = exchange(byUri, `Bearer ${token({ sub: 'alice' })}`)
      expect(any.onRequest(ex)).toBeUndefined()
      expect(ex.identity).toMatchObject({ method: 'jwt', subject: 'alice' })
    })

    it('refuses an invalid token without falling back to the certificate', () => {
      const ex = exchange(byUri, `Bearer ${token({ sub: 'alice', exp: 1 })}`)
      expect(any.onRequest(ex)).toMatchObject({ status: 401, code: 'invalid_token' })
    })

    it('admits a token without a certificate, and refuses a request with neither', () => {
      expect(any.onRequest(exchange(null, `Bearer ${token({ sub: 'alice' })}`))).toBeUndefined()
      const verdict = any.onRequest(exchange(null))
      expect(verdict).toMatchObject({ status: 401, code: 'unauthorized' })
      expect((verdict as Rejection).message).toBe(
        'This route requires a client certificate or a bearer token.',
      )
    })

    it('refuses an unmapped certificate when no token decides', () => {
      expect(any.onRequest(exchange(unmapped))).toMatchObject({ status: 401 })
    })
  })

  describe('all: [mtls, jwt]', () => {
    let all: AuthenticateStage
    beforeAll(() => {
      all = stage(route({ all: ['mtls', 'jwt'] }, { jwt: JWT }))
    })

    it('admits a certificate and a token of the same consumer; the token’s identity stands', () => {
      const ex = exchange(byUri, `Bearer ${token({ sub: 'a', client_id: 'payments' })}`)
      expect(all.onRequest(ex)).toBeUndefined()
      expect(ex.consumer?.name).toBe('payments')
      expect(ex.identity).toMatchObject({ method: 'jwt', subject: 'a' })
    })

    it('refuses a certificate and a token of different consumers', () => {
      const ex = exchange(byUri, `Bearer ${token({ sub: 'a', client_id: 'billing' })}`)
      expect(all.onRequest(ex)).toBe(all.challenges.consumerMismatch)
    })

    it('refuses a token without a certificate, and a certificate without a token', () => {
      const t = `Bearer ${token({ sub: 'a', client_id: 'payments' })}`
      expect(all.onRequest(exchange(null, t))).toMatchObject({ status: 401 })
      expect(all.onRequest(exchange(byUri))).toMatchObject({ status: 401 })
    })

    it('refuses an unmapped certificate even beside a valid token', () => {
      const ex = exchange(unmapped, `Bearer ${token({ sub: 'a', client_id: 'payments' })}`)
      expect(all.onRequest(ex)).toBe(all.challenges.invalidCertificate)
    })
  })
})

describe('route config of auth: mtls', () => {
  it('refuses mtls: on a route whose auth does not name mtls', () => {
    const problems: { path: string; reason: string }[] = []
    const config = route('jwt', { jwt: JWT, mtls: { allow_unmapped: true } })
    const context = new JwtContext(null, new RevocationList())
    compileAuthenticate(
      config,
      { name: 'r', path: 'routes[0]', problems },
      {
        issuers,
        introspectors: new Map(),
        jwt: context,
        logger: createLogger('silent', {}),
        audit: false,
        ...keyServices(),
      },
    )
    expect(problems).toEqual([
      {
        path: 'routes[0].mtls',
        reason: 'auth does not name mtls, so mtls would not apply; add it to auth or remove it',
      },
    ])
  })
})
