import { describe, expect, it } from 'vitest'
import type { Stage } from '../../../src/pipeline/stage.js'
import {
  buildUpstreamHeaders,
  clientResponseFields,
  clientResponseHeaders,
} from '../../../src/proxy/headers.js'
import { RequestHeaderRules } from '../../../src/proxy/request-header-rules.js'
import { METHOD_OVERRIDE_HEADERS } from '../../../src/proxy/schema.js'
import type { Target, UpstreamTimings } from '../../../src/proxy/upstream.js'
import type { CompiledRoute } from '../../../src/router/compile.js'
import {
  DEFAULT_IDENTITY_HEADERS,
  IDENTITY_HEADER_PREFIXES,
} from '../../../src/http/field-names.js'
import { FakeExchange } from '../../helpers/exchange.js'

function exchangeWithResponseStage(onResponse: Stage['onResponse']): FakeExchange {
  const exchange = new FakeExchange()
  exchange.requestId = 'req-1'
  const stage = { name: 'cors', onRequest: () => undefined, onResponse, onFinish: null } as Stage
  exchange.route = { responseStages: [stage] } as unknown as CompiledRoute
  return exchange
}

describe('clientResponseHeaders', () => {
  it("keeps a header a stage adds in its onResponse hook, after the upstream's", () => {
    const exchange = exchangeWithResponseStage((x) => x.addResponseHeader('x-stage', 'yes'))
    expect(clientResponseHeaders(exchange, { 'content-type': 'text/plain' })).toEqual([
      'content-type',
      'text/plain',
      'x-request-id',
      'req-1',
      'x-stage',
      'yes',
    ])
  })

  it('drops hop-by-hop fields and those the upstream names in Connection', () => {
    const exchange = exchangeWithResponseStage(() => undefined)
    const out = clientResponseHeaders(exchange, {
      connection: 'x-up, keep-alive',
      'keep-alive': 'timeout=5',
      'x-up': 'secret',
      'transfer-encoding': 'chunked',
      'content-length': '5',
      date: 'Mon',
      'set-cookie': ['a=1', 'b=2'],
    })
    expect(out).toEqual(['set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-request-id', 'req-1'])
  })

  it('drops the fields named by every one of repeated Connection lines (undici gives an array)', () => {
    const exchange = exchangeWithResponseStage(() => undefined)
    const out = clientResponseHeaders(exchange, {
      connection: ['x-first', 'X-Second, keep-alive'],
      'x-first': 'secret',
      'x-second': 'secret',
      'x-kept': 'yes',
    })
    expect(out).toEqual(['x-kept', 'yes', 'x-request-id', 'req-1'])
  })
})

describe('clientResponseFields (the native transport’s field list)', () => {
  it('drops what clientResponseHeaders drops, from every Connection line', () => {
    const exchange = exchangeWithResponseStage(() => undefined)
    const out = clientResponseFields(exchange, [
      'connection',
      'x-up',
      'keep-alive',
      'timeout=5',
      'x-up',
      'secret',
      'connection',
      'X-Two, keep-alive',
      'x-two',
      'also secret',
      'transfer-encoding',
      'chunked',
      'content-length',
      '5',
      'date',
      'Mon',
      'set-cookie',
      'a=1',
      'set-cookie',
      'b=2',
    ])
    expect(out).toEqual(['set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-request-id', 'req-1'])
  })

  it('keeps repeated fields as separate lines in their order, and the upstream’s request id', () => {
    const exchange = exchangeWithResponseStage((x) => x.addResponseHeader('x-stage', 'yes'))
    const out = clientResponseFields(exchange, [
      'vary',
      'a',
      'x-request-id',
      'from-upstream',
      'vary',
      'b',
    ])
    expect(out).toEqual([
      'vary',
      'a',
      'x-request-id',
      'from-upstream',
      'vary',
      'b',
      'x-stage',
      'yes',
    ])
  })
})

describe('on a route that owns CORS', () => {
  function corsExchange(): FakeExchange {
    const exchange = exchangeWithResponseStage((x) =>
      x.addResponseHeader('access-control-allow-origin', 'https://app.test'),
    )
    Object.assign(exchange.route!, { ownsCors: true })
    return exchange
  }

  it("replaces the upstream's Access-Control-* fields with the stage's", () => {
    const out = clientResponseHeaders(corsExchange(), {
      'access-control-allow-origin': '*',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x-up',
      'x-kept': 'yes',
    })
    expect(out).toEqual([
      'x-kept',
      'yes',
      'x-request-id',
      'req-1',
      'access-control-allow-origin',
      'https://app.test',
    ])
  })

  it('replaces them in the native transport’s field list too', () => {
    const out = clientResponseFields(corsExchange(), [
      'access-control-allow-origin',
      '*',
      'x-kept',
      'yes',
      'access-control-max-age',
      '600',
    ])
    expect(out).toEqual([
      'x-kept',
      'yes',
      'x-request-id',
      'req-1',
      'access-control-allow-origin',
      'https://app.test',
    ])
  })

  it("passes the upstream's on to the client on a route that does not", () => {
    const exchange = exchangeWithResponseStage(() => undefined)
    const out = clientResponseFields(exchange, ['access-control-allow-origin', '*'])
    expect(out).toEqual(['access-control-allow-origin', '*', 'x-request-id', 'req-1'])
  })
})

describe('buildUpstreamHeaders', () => {
  function exchangeWith(headers: string[], listener: 'http' | 'https' = 'http'): FakeExchange {
    const exchange = new FakeExchange()
    Object.assign(exchange.runtime, {
      headerRules: new RequestHeaderRules(
        [...DEFAULT_IDENTITY_HEADERS, ...METHOD_OVERRIDE_HEADERS],
        IDENTITY_HEADER_PREFIXES,
      ),
    })
    Object.assign(exchange, { listener })
    exchange.headers = headers
    exchange.requestId = 'req-1'
    exchange.clientAddress = '10.0.0.9'
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === 'host') exchange.hostHeader = headers[i + 1]!
      if (headers[i] === 'connection') exchange.connectionHeader = headers[i + 1]!
    }
    return exchange
  }
  const target = { hostHeader: 'upstream:9000' } as Target
  const timings = { preserveHost: false } as UpstreamTimings

  function valuesOf(out: string[], name: string): string[] {
    return out.filter((_, i) => i % 2 === 1 && out[i - 1] === name)
  }

  it('sets its own Via, X-Forwarded-Host and X-Forwarded-Proto in place of the client’s', () => {
    const out = buildUpstreamHeaders(
      exchangeWith(
        [
          'host',
          'api.example.com:8080',
          'via',
          '1.0 corp-proxy',
          'x-forwarded-host',
          'evil.example',
          'x-forwarded-proto',
          'https',
          'x-forwarded-for',
          '6.6.6.6',
        ],
        'http',
      ),
      target,
      timings,
      '',
    )
    expect(valuesOf(out, 'via')).toEqual(['1.1 portcullis'])
    expect(valuesOf(out, 'x-forwarded-host')).toEqual(['api.example.com:8080'])
    expect(valuesOf(out, 'x-forwarded-proto')).toEqual(['http'])
    expect(valuesOf(out, 'x-forwarded-for')).toEqual(['10.0.0.9'])
    expect(valuesOf(out, 'host')).toEqual(['upstream:9000'])
  })

  it('says https in X-Forwarded-Proto on a TLS listener', () => {
    const out = buildUpstreamHeaders(
      exchangeWith(['host', 'a', 'x-forwarded-proto', 'http'], 'https'),
      target,
      timings,
      '',
    )
    expect(valuesOf(out, 'x-forwarded-proto')).toEqual(['https'])
  })

  it('drops identity headers by prefix and spelling, and method overrides, keeping the rest', () => {
    const out = buildUpstreamHeaders(
      exchangeWith([
        'host',
        'a',
        'x-consumer-custom-id',
        'root',
        'x_consumer_id',
        'root',
        'x-auth-user',
        'root',
        'x_auth_user',
        'root',
        'x-http-method-override',
        'DELETE',
        'x-method-override',
        'DELETE',
        'x_http_method',
        'DELETE',
        'x-kept',
        'yes',
      ]),
      target,
      timings,
      '',
    )
    const names = out.filter((_, i) => i % 2 === 0)
    expect(names.filter((n) => /consumer|auth|method/.test(n))).toEqual([])
    expect(valuesOf(out, 'x-kept')).toEqual(['yes'])
  })
})
