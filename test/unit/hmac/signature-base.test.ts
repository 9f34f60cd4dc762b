/**
 * The RFC 9421 signature base of a request, against the RFC's own examples: Appendix B.2.5
 * (hmac-sha256 over the test-request with the B.1.5 shared secret) and the component examples
 * of §2.2, and what the client signed when the gateway would see the request differently
 * (a path it normalizes, a default port, a missing query).
 */
import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { contentDigest } from '../../../src/hmac/content-digest.js'
import {
  BaseProblem,
  componentValue,
  signatureBase,
  type SignedMessage,
} from '../../../src/hmac/signature-base.js'
import {
  isInnerList,
  parseDictionary,
  type InnerList,
} from '../../../src/hmac/structured-fields.js'

/** RFC 9421 Appendix B.1.5, "test-shared-secret". */
const TEST_SHARED_SECRET = Buffer.from(
  'uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==',
  'base64',
)

/** RFC 9421 Appendix B.2, the test-request, as a front fills the exchange. */
const TEST_REQUEST: SignedMessage = {
  method: 'POST',
  rawPath: '/foo',
  query: 'param=Value&Pet=dog',
  hostHeader: 'example.com',
  host: 'example.com',
  listener: 'https',
  headers: [
    'host',
    'example.com',
    'date',
    'Tue, 20 Apr 2021 02:07:55 GMT',
    'content-type',
    'application/json',
    'content-digest',
    'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:',
    'content-length',
    '18',
  ],
}

function inputOf(field: string, label: string): InnerList {
  const member = parseDictionary(field)!.get(label)!
  if (!isInnerList(member)) throw new Error('not an inner list')
  return member
}

function message(fields: Partial<SignedMessage>): SignedMessage {
  return { ...TEST_REQUEST, ...fields }
}

describe('signature base', () => {
  describe('RFC 9421 Appendix B.2.5, signing a request using hmac-sha256', () => {
    const input = inputOf(
      'sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"',
      'sig-b25',
    )

    it('builds the base the RFC prints', () => {
      expect(signatureBase(input, TEST_REQUEST)).toBe(
        [
          '"date": Tue, 20 Apr 2021 02:07:55 GMT',
          '"@authority": example.com',
          '"content-type": application/json',
          '"@signature-params": ("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"',
        ].join('\n'),
      )
    })

    it('gives the signature the RFC prints with the B.1.5 shared secret', () => {
      const base = signatureBase(input, TEST_REQUEST) as string
      const mac = createHmac('sha256', TEST_SHARED_SECRET).update(base).digest('base64')
      expect(mac).toBe('pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=')
    })

    it('agrees with the Content-Digest of the test-request body (RFC 9530)', () => {
      expect(contentDigest('{"hello": "world"}', 'sha-512')).toBe(TEST_REQUEST.headers[7])
    })
  })

  describe('derived components (RFC 9421 §2.2)', () => {
    it('reconstructs @target-uri from scheme, Host, raw path and query (§2.2.2)', () => {
      const request = message({
        rawPath: '/path',
        query: 'param=value',
        hostHeader: 'www.example.com',
      })
      expect(componentValue('@target-uri', request)).toBe(
        'https://www.example.com/path?param=value',
      )
      expect(componentValue('@target-uri', message({ listener: 'http', query: '' }))).toBe(
        'http://example.com/foo',
      )
    })

    it('lowercases @authority and drops the default port of the scheme (§2.2.3)', () => {
      expect(componentValue('@authority', message({ hostHeader: 'WWW.Example.COM:443' }))).toBe(
        'www.example.com',
      )
      expect(componentValue('@authority', message({ hostHeader: 'example.com:8443' }))).toBe(
        'example.com:8443',
      )
      expect(
        componentValue('@authority', message({ hostHeader: 'example.com:80', listener: 'http' })),
      ).toBe('example.com')
    })

    it('takes @path as sent: percent-encoding and dot segments kept, empty as / (§2.2.6)', () => {
      expect(componentValue('@path', message({ rawPath: '/a/../b%2Fc' }))).toBe('/a/../b%2Fc')
      expect(componentValue('@path', message({ rawPath: '' }))).toBe('/')
    })

    it('gives @query its leading ?, and ? alone without a query (§2.2.7)', () => {
      expect(componentValue('@query', TEST_REQUEST)).toBe('?param=Value&Pet=dog')
      expect(componentValue('@query', message({ query: '' }))).toBe('?')
    })

    it('gives @method, @scheme and @request-target as sent', () => {
      expect(componentValue('@method', TEST_REQUEST)).toBe('POST')
      expect(componentValue('@scheme', TEST_REQUEST)).toBe('https')
      expect(componentValue('@scheme', message({ listener: 'mtls' }))).toBe('https')
      expect(componentValue('@request-target', TEST_REQUEST)).toBe('/foo?param=Value&Pet=dog')
    })
  })

  describe('header fields (RFC 9421 §2.1)', () => {
    it('joins repeated field lines with ", ", each trimmed', () => {
      const request = message({ headers: ['x-list', ' a ', 'x-list', 'b,  c '] })
      expect(componentValue('x-list', request)).toBe('a, b,  c')
    })

    it('fails a covered field the request does not carry', () => {
      expect(componentValue('x-absent', TEST_REQUEST)).toBe(BaseProblem.Absent)
    })
  })

  describe('what it will not build', () => {
    it('refuses a component listed twice', () => {
      const input = inputOf('s=("@method" "@method");created=1', 's')
      expect(signatureBase(input, TEST_REQUEST)).toBe(BaseProblem.Malformed)
    })

    it('refuses components with parameters and components it does not derive', () => {
      expect(signatureBase(inputOf('s=("date";sf);created=1', 's'), TEST_REQUEST)).toBe(
        BaseProblem.Unsupported,
      )
      expect(signatureBase(inputOf('s=("@status");created=1', 's'), TEST_REQUEST)).toBe(
        BaseProblem.Unsupported,
      )
      expect(signatureBase(inputOf('s=("@signature-params")', 's'), TEST_REQUEST)).toBe(
        BaseProblem.Malformed,
      )
    })

    it('refuses a component that is not a string', () => {
      expect(signatureBase(inputOf('s=(date)', 's'), TEST_REQUEST)).toBe(BaseProblem.Malformed)
    })
  })
})
