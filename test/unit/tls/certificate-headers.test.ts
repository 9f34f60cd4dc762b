/**
 * headers.client_certificate: what the upstream is told of an mTLS connection's certificate, in
 * either format, as safe header values; and that a client can never send those headers itself,
 * in any spelling, on any route.
 */
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadGatewayConfig, type CheckedConfig } from '../../../src/config/gateway-config.js'
import { PortcullisError } from '../../../src/errors.js'
import { buildUpstreamHeaders } from '../../../src/proxy/headers.js'
import type { Target, UpstreamTimings } from '../../../src/proxy/upstream.js'
import { escapeDnValue, sanValue } from '../../../src/tls/certificate-headers.js'
import {
  clientCertificateOf,
  type ClientCertificate,
  type PeerCertificateFields,
} from '../../../src/tls/client-certificate.js'
import { createPki, type Pki } from '../../../scripts/pki.js'
import { FakeExchange } from '../../helpers/exchange.js'

const SPIFFE = 'spiffe://example.org/ns/payments/sa/api'
const HEADER_SAFE = /^[\x20-\x7e]*$/

let pki: Pki
let dir: string
let certificate: ClientCertificate

beforeAll(() => {
  pki = createPki()
  const ca = pki.ca()
  const issued = pki.issue(ca, {
    cn: 'payments, "api"',
    uris: [SPIFFE],
    dns: ['api.example.org'],
    client: true,
  })
  const legacy = new X509Certificate(issued.cert).toLegacyObject()
  certificate = clientCertificateOf(legacy as unknown as PeerCertificateFields)
  dir = mkdtempSync(join(tmpdir(), 'pcl-cert-headers-'))
})

afterAll(() => {
  pki.cleanup()
  rmSync(dir, { recursive: true, force: true })
})

function load(headers: Record<string, unknown> = {}): CheckedConfig {
  const file = join(dir, 'gateway.json')
  writeFileSync(
    file,
    JSON.stringify({
      upstreams: { svc: { targets: ['http://127.0.0.1:9'] } },
      routes: [],
      headers,
    }),
  )
  return loadGatewayConfig(file, pino({ level: 'silent' }), {})
}

const target = { hostHeader: 'upstream:9000' } as Target
const timings = { preserveHost: false } as UpstreamTimings

/** The upstream headers of a request on an mTLS connection whose client sent `sent`. */
function upstreamHeaders(runtime: CheckedConfig['runtime'], sent: string[]): string[] {
  const exchange = new FakeExchange()
  Object.assign(exchange.runtime, {
    headerRules: runtime.headerRules,
    certificateHeaders: runtime.certificateHeaders,
  })
  exchange.headers = sent
  exchange.clientCertificate = certificate
  return buildUpstreamHeaders(exchange, target, timings, '')
}

function valuesOf(out: readonly string[], name: string): string[] {
  return out.filter((_, i) => i % 2 === 1 && out[i - 1] === name)
}

describe('headers.client_certificate', () => {
  describe('in the default format (one header each)', () => {
    it('sends the subject (RFC 4514), the SANs and the fingerprint', () => {
      const out = upstreamHeaders(load().runtime, [])
      expect(valuesOf(out, 'x-client-cert-subject')).toEqual([
        'CN=payments\\, \\"api\\",O=portcullis-test',
      ])
      expect(valuesOf(out, 'x-client-cert-san')).toEqual([`URI=${SPIFFE}, DNS=api.example.org`])
      expect(valuesOf(out, 'x-client-cert-sha256')).toEqual([certificate.sha256])
      expect(valuesOf(out, 'x-forwarded-client-cert')).toEqual([])
    })

    it('builds the list once per certificate', () => {
      const { certificateHeaders } = load().runtime
      expect(certificateHeaders.of(certificate)).toBe(certificateHeaders.of(certificate))
    })
  })

  it('sends Envoy’s X-Forwarded-Client-Cert in the xfcc format', () => {
    const out = upstreamHeaders(load({ client_certificate: { format: 'xfcc' } }).runtime, [])
    expect(valuesOf(out, 'x-forwarded-client-cert')).toEqual([
      `Hash=${certificate.sha256};Subject="CN=payments\\\\, \\\\\\"api\\\\\\",O=portcullis-test";` +
        `URI=${SPIFFE};DNS=api.example.org`,
    ])
    expect(valuesOf(out, 'x-client-cert-sha256')).toEqual([])
  })

  it('sends nothing in the none format', () => {
    const out = upstreamHeaders(load({ client_certificate: { format: 'none' } }).runtime, [])
    expect(out.filter((name) => name.includes('cert'))).toEqual([])
  })

  it('uses the configured names', () => {
    const { runtime } = load({ client_certificate: { sha256: 'X-Peer-Fingerprint' } })
    const out = upstreamHeaders(runtime, [])
    expect(valuesOf(out, 'x-peer-fingerprint')).toEqual([certificate.sha256])
  })

  it.each([
    'x-client-cert-subject',
    'x_client_cert_subject',
    'x-client-cert-san',
    'x_client_cert_SAN',
    'x-client-cert-sha256',
    'X_Client-Cert_SHA256',
    'x-forwarded-client-cert',
    'x_forwarded_client_cert',
  ])('never passes a client’s %s, whichever format is chosen', (name) => {
    for (const format of ['headers', 'xfcc', 'none']) {
      const { runtime } = load({ client_certificate: { format } })
      expect(runtime.headerRules.removes(name.toLowerCase())).toBe(true)
      const out = upstreamHeaders(runtime, [name.toLowerCase(), 'forged'])
      expect(out).not.toContain('forged')
    }
  })

  it('never passes a client’s header under a configured name, nor under the default one', () => {
    const { runtime } = load({ client_certificate: { subject: 'X-Mtls-Subject' } })
    expect(runtime.headerRules.removes('x_mtls_subject')).toBe(true)
    expect(runtime.headerRules.removes('x-mtls-subject')).toBe(true)
    expect(runtime.headerRules.removes('x-client-cert-subject')).toBe(true)
  })

  it('refuses a name the gateway sets itself, or one headers.consumer already uses', () => {
    const problemsOf = (headers: Record<string, unknown>) => {
      try {
        load(headers)
      } catch (error) {
        if (error instanceof PortcullisError) return error.problems.map((p) => p.path)
        throw error
      }
      return []
    }
    expect(problemsOf({ client_certificate: { san: 'X-Forwarded-For' } })).toEqual([
      'headers.client_certificate.san',
    ])
    expect(
      problemsOf({ consumer: { id: 'X-Peer' }, client_certificate: { subject: 'x_peer' } }),
    ).toEqual(['headers.client_certificate.subject'])
  })
})

describe('certificate header values', () => {
  it.each([
    ['a,b+c;d<e>f"g\\h=i', 'a\\,b\\+c\\;d\\<e\\>f\\"g\\\\h\\=i'],
    [' lead and trail ', '\\20lead and trail\\20'],
    ['#hash', '\\#hash'],
    ['line\r\nbreak', 'line\\0d\\0abreak'],
    ['Zoë', 'Zo\\c3\\ab'],
  ])('escapes the DN value %j as %j (RFC 4514 §2.4)', (value, escaped) => {
    expect(escapeDnValue(value)).toBe(escaped)
    expect(escapeDnValue(value)).toMatch(HEADER_SAFE)
  })

  it.each([
    ['spiffe://example.org/a', 'spiffe://example.org/a'],
    ['https://a.example/?q=1', '"https://a.example/?q=1"'],
    ['spiffe://x, URI=evil', '"spiffe://x,%20URI=evil"'],
    ['a"b\\c;', '"a\\"b\\\\c;"'],
    ['crlf\r\nX-Injected: 1', 'crlf%0D%0AX-Injected:%201'],
    ['ünï', '%C3%BCn%C3%AF'],
  ])('writes the SAN value %j as %j', (value, written) => {
    expect(sanValue(value)).toBe(written)
    expect(sanValue(value)).toMatch(HEADER_SAFE)
  })
})
