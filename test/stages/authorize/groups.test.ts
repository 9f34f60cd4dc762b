/**
 * authorize with allow_groups / deny_groups: the consumer's groups decide, deny wins, and the
 * answer names no group.
 */
import { describe, expect, it } from 'vitest'
import { createConsumer, type Consumer } from '../../../src/consumers/consumer.js'
import type { ConfigProblem } from '../../../src/errors.js'
import type { RouteConfig } from '../../../src/gateway/route-schema.js'
import type { Identity } from '../../../src/identity.js'
import { apiKeyScheme, challengesFor } from '../../../src/stages/authenticate/challenge.js'
import { compileAuthorize, type AuthorizeStage } from '../../../src/stages/authorize/index.js'
import { FakeExchange } from '../../helpers/exchange.js'

function route(fields: Partial<RouteConfig>): RouteConfig {
  return {
    name: 'partners',
    match: { paths: ['/*'] },
    upstream: 'u',
    auth: 'api_key',
    forward: { claims: {}, strip_credentials: true },
    strip_path: false,
    websocket: false,
    ...fields,
  }
}

function compile(
  fields: Partial<RouteConfig>,
  isPublic = false,
): {
  stage: AuthorizeStage | null
  problems: ConfigProblem[]
} {
  const problems: ConfigProblem[] = []
  const stage = compileAuthorize(
    route(fields),
    { name: 'partners', path: 'routes[0]', problems },
    isPublic ? null : challengesFor([apiKeyScheme('portcullis')]),
    null,
  )
  return { stage, problems }
}

function consumer(groups: string[]): Consumer {
  return createConsumer({ name: 'acme', groups, metadata: {}, disabled: false }, 'config')
}

function request(groups: string[] | null, scopes: string[] = []): FakeExchange {
  const exchange = new FakeExchange()
  exchange.method = 'GET'
  const identity: Identity = {
    method: 'api_key',
    issuer: 'api_key',
    subject: groups === null ? null : 'acme',
    consumer: groups === null ? null : 'acme',
    credentialId: null,
    scopes: new Set(scopes),
    claims: {},
    forwarded: null,
  }
  exchange.identity = identity
  exchange.consumer = groups === null ? null : consumer(groups)
  return exchange
}

describe('authorize with allow_groups and deny_groups', () => {
  it('admits a consumer in one of the allowed groups', () => {
    const { stage } = compile({ allow_groups: ['partners', 'staff'] })
    expect(stage!.onRequest(request(['staff']))).toBeUndefined()
  })

  it('refuses a consumer in none of the allowed groups with 403 forbidden naming no group', () => {
    const { stage } = compile({ allow_groups: ['partners'] })
    const verdict = stage!.onRequest(request(['retail']))
    expect(verdict).toMatchObject({ status: 403, code: 'forbidden' })
    expect(JSON.stringify(verdict)).not.toMatch(/partners|retail/)
  })

  it('refuses a caller without a consumer when allow_groups is set', () => {
    const { stage } = compile({ allow_groups: ['partners'] })
    expect(stage!.onRequest(request(null))).toMatchObject({ status: 403, code: 'forbidden' })
  })

  it('refuses a consumer in a denied group even when an allowed group admits it', () => {
    const { stage } = compile({ allow_groups: ['partners'], deny_groups: ['suspended'] })
    const verdict = stage!.onRequest(request(['partners', 'suspended']))
    expect(verdict).toMatchObject({ status: 403, code: 'forbidden' })
    expect(JSON.stringify(verdict)).not.toMatch(/suspended|partners/)
    expect(stage!.onRequest(request(['partners']))).toBeUndefined()
  })

  it('lets any caller outside the denied groups through when only deny_groups is set', () => {
    const { stage } = compile({ deny_groups: ['suspended'] })
    expect(stage!.onRequest(request(null))).toBeUndefined()
    expect(stage!.onRequest(request(['other']))).toBeUndefined()
  })

  it('checks groups before scopes, then the scopes', () => {
    const { stage } = compile({ allow_groups: ['partners'], scopes: ['orders:read'] })
    expect(stage!.onRequest(request(['retail'], ['orders:read']))).toMatchObject({
      code: 'forbidden',
    })
    expect(stage!.onRequest(request(['partners']))).toMatchObject({ code: 'insufficient_scope' })
    expect(stage!.onRequest(request(['partners'], ['orders:read']))).toBeUndefined()
  })

  it('refuses groups on a public route, and a group both allowed and denied, at load', () => {
    expect(compile({ auth: 'none', allow_groups: ['a'] }, true).problems).toEqual([
      { path: 'routes[0].allow_groups', reason: expect.stringContaining('public') },
    ])
    expect(compile({ allow_groups: ['a'], deny_groups: ['a'] }).problems).toEqual([
      { path: 'routes[0].allow_groups', reason: expect.stringContaining('deny_groups') },
    ])
  })
})
