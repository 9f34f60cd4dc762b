import { describe, expect, it } from 'vitest'
import { RequestHeaderRules } from '../../../src/proxy/request-header-rules.js'
import { METHOD_OVERRIDE_HEADERS } from '../../../src/proxy/schema.js'
import {
  DEFAULT_IDENTITY_HEADERS,
  IDENTITY_HEADER_PREFIXES,
} from '../../../src/http/field-names.js'

const rules = new RequestHeaderRules(
  [...DEFAULT_IDENTITY_HEADERS, 'X-Org', ...METHOD_OVERRIDE_HEADERS],
  IDENTITY_HEADER_PREFIXES,
)

describe('RequestHeaderRules', () => {
  it.each([
    'x-consumer-id',
    'x-consumer-custom-id',
    'x-consumer-anything-new',
    'x-auth-user',
    'x-auth-request-email',
    'x_consumer_id',
    'x_auth_user',
    'x-consumer_groups',
  ])('removes %s: every name under X-Consumer- and X-Auth-, in any spelling', (name) =>
    expect(rules.removes(name)).toBe(true),
  )

  it.each(['x-user-id', 'x_user_id', 'x-org', 'x_org', 'x-scopes', 'x-tenant-id'])(
    'removes the identity name %s that a route or the defaults set',
    (name) => expect(rules.removes(name)).toBe(true),
  )

  it.each(['x-http-method-override', 'x-http-method', 'x-method-override', 'x_http_method'])(
    'removes the method override %s (headers.drop)',
    (name) => expect(rules.removes(name)).toBe(true),
  )

  it.each([
    'via',
    'x-forwarded-host',
    'x_forwarded_proto',
    'host',
    'connection',
    'te',
    'forwarded',
  ])('removes the hop-by-hop or gateway-owned %s', (name) => expect(rules.removes(name)).toBe(true))

  it.each([
    'x-consumer',
    'x-authorization',
    'x-author',
    'authorization',
    'x-kept',
    'accept',
    'x_kept',
  ])('keeps %s', (name) => expect(rules.removes(name)).toBe(false))

  it('keeps the method overrides when headers.drop is empty', () => {
    const open = new RequestHeaderRules(DEFAULT_IDENTITY_HEADERS, IDENTITY_HEADER_PREFIXES)
    expect(open.removes('x-http-method-override')).toBe(false)
    expect(open.removes('x-consumer-id')).toBe(true)
  })
})
