/**
 * forward on routes whose identities name a consumer: headers.consumer goes to the upstream, a
 * changed consumer is seen through the identity's memo, and an API key never goes out.
 */
import { describe, expect, it } from 'vitest'
import { createConsumer, type Consumer } from '../../../src/consumers/consumer.js'
import type { ConfigProblem } from '../../../src/errors.js'
import type { RouteConfig } from '../../../src/gateway/route-schema.js'
import type { Identity } from '../../../src/identity.js'
import { apiKeyScheme, challengesFor } from '../../../src/stages/authenticate/challenge.js'
import type { KeySources } from '../../../src/stages/authenticate/credentials.js'
import { compileConsumerHeaders } from '../../../src/stages/forward/consumer-headers.js'
import { compileForward, type ForwardStage } from '../../../src/stages/forward/index.js'
import { FakeExchange } from '../../helpers/exchange.js'

const KEY = 'pc_test_0123456789abcdefghijABCDEFGHIJ_000000'

function compile(
  keySources: KeySources | null,
  stripCredentials = true,
  claims: Record<string, string> = {},
): { stage: ForwardStage | null; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = []
  const headers = compileConsumerHeaders(
    { id: 'X-Consumer-Id', groups: 'X-Consumer-Groups', metadata: { tenant: 'X-Tenant' } },
    problems,
  )
  const route: RouteConfig = {
    name: 'keys',
    match: { paths: ['/*'] },
    upstream: 'u',
    auth: 'api_key',
    forward: { claims, strip_credentials: stripCredentials },
    strip_path: false,
    websocket: false,
  }
  const stage = compileForward(
    route,
    { name: 'keys', path: 'routes[0]', problems },
    {
      sources: null,
      keySources,
      namesConsumers: true,
      challenges: challengesFor([apiKeyScheme('portcullis')]),
    },
    headers,
  )
  return { stage, problems }
}

function consumer(fields: { groups?: string[]; metadata?: Record<string, string> } = {}): Consumer {
  return createConsumer(
    { name: 'acme', groups: fields.groups ?? [], metadata: fields.metadata ?? {}, disabled: false },
    'config',
  )
}

const identity: Identity = {
  method: 'api_key',
  issuer: 'api_key',
  subject: 'acme',
  consumer: 'acme',
  credentialId: 'cfg_x',
  scopes: new Set(),
  claims: {},
  forwarded: null,
}

function request(of: Consumer | null, headers: string[] = [], query = ''): FakeExchange {
  const exchange = new FakeExchange()
  exchange.method = 'GET'
  exchange.identity = identity
  exchange.consumer = of
  exchange.headers = headers
  exchange.query = query
  exchange.upstreamPath = query === '' ? '/orders' : `/orders?${query}`
  return exchange
}

const SOURCES: KeySources = { header: 'x-api-key', authorization: true, query: 'api_key' }

describe('forward with headers.consumer', () => {
  it('sends the consumer id, its groups and the mapped metadata', () => {
    const { stage } = compile(SOURCES)
    const exchange = request(
      consumer({ groups: ['partners', 'eu'], metadata: { tenant: 'acme-eu', other: 'x' } }),
    )
    expect(stage!.onRequest(exchange)).toBeUndefined()
    expect(exchange.forwardHeaders).toEqual([
      'x-consumer-id',
      'acme',
      'x-consumer-groups',
      'partners, eu',
      'x-tenant',
      'acme-eu',
    ])
  })

  it('leaves out groups and metadata a consumer does not have', () => {
    const exchange = request(consumer())
    compile(SOURCES).stage!.onRequest(exchange)
    expect(exchange.forwardHeaders).toEqual(['x-consumer-id', 'acme'])
  })

  it('sees a consumer replaced since the last request, though the identity is the same', () => {
    const { stage } = compile(SOURCES)
    const first = request(consumer({ groups: ['partners'] }))
    stage!.onRequest(first)
    const second = request(consumer({ groups: ['gold'] }))
    stage!.onRequest(second)
    expect(second.forwardHeaders).toContain('gold')
    expect(second.forwardHeaders).not.toContain('partners')
  })

  it('sends no consumer headers for an identity without a consumer', () => {
    const exchange = request(null)
    compile(SOURCES).stage!.onRequest(exchange)
    expect(exchange.forwardHeaders ?? []).toEqual([])
  })

  it('refuses a claim header that would carry a consumer field, at load', () => {
    const { problems } = compile(SOURCES, true, { sub: 'X-Consumer-Id' })
    expect(problems).toEqual([
      { path: 'routes[0].forward.claims.sub', reason: expect.stringContaining('consumer') },
    ])
  })
})

describe('forward on a route that takes API keys', () => {
  it('removes the key header in every spelling, the ApiKey field and the query parameter', () => {
    for (const strip of [true, false]) {
      const exchange = request(
        consumer(),
        [
          'x-api-key',
          KEY,
          'x_api_key',
          KEY,
          'authorization',
          `ApiKey ${KEY}`,
          'accept',
          'application/json',
        ],
        `a=1&api_key=${KEY}&b=2`,
      )
      compile(SOURCES, strip).stage!.onRequest(exchange)
      expect(exchange.headers).toEqual(['accept', 'application/json'])
      expect(exchange.upstreamPath).toBe('/orders?a=1&b=2')
    }
  })

  it('leaves an Authorization field of another scheme to the upstream', () => {
    const exchange = request(consumer(), ['authorization', 'Basic dXNlcjpwYXNz'])
    compile(SOURCES, false).stage!.onRequest(exchange)
    expect(exchange.headers).toEqual(['authorization', 'Basic dXNlcjpwYXNz'])
  })
})
