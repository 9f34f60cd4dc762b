import { describe, expect, it } from 'vitest'
import type { Stage } from '../../../src/pipeline/stage.js'
import { clientResponseFields, clientResponseHeaders } from '../../../src/proxy/headers.js'
import type { CompiledRoute } from '../../../src/router/compile.js'
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
