/**
 * /keys and /consumers/{name}/keys: API keys of the credential store. A key exists in clear only
 * in the answer that creates it (create, rotate); every other answer shows its id, prefix and
 * last four characters. Keys of config-owned consumers are allowed: they live in the store.
 */
import { isIP } from 'node:net'
import { parseDuration } from '../config/units.js'
import type { ConfigProblem } from '../errors.js'
import { parseRfc3339 } from '../keys/time.js'
import { notFound, refuseProblems } from './admin-error.js'
import {
  KeyView,
  NewKeyBody,
  NewKeyView,
  Page,
  RotateBody,
  RotatedKeyView,
  UsageView,
  type NewKeyInput,
  type RotateInput,
} from './api-schemas.js'
import { requireStore } from './consumer-routes.js'
import { storePage } from './paging.js'
import type { AdminRoute } from './route.js'
import { keyView } from './views.js'

export const KEY_ROUTES: readonly AdminRoute[] = [
  {
    method: 'POST',
    path: '/consumers/{name}/keys',
    operationId: 'createKey',
    summary: 'Create a key for a consumer; the answer holds the key, this once.',
    body: NewKeyBody,
    ok: { status: 201, description: 'Created: the key and its record.', schema: NewKeyView },
    failures: [404, 503],
    change: 'key.create',
    async handle({ params, body, services }) {
      const consumer = params['name']!
      const input = body as NewKeyInput
      const problems = checkNewKey(input, services.keyPrefixes)
      refuseProblems(problems)
      const store = requireStore(services)
      // The store, not this worker's copy of it: a consumer created a moment ago may not be here.
      if (
        services.consumer(consumer) === undefined &&
        (await store.getConsumer(consumer)) === null
      ) {
        throw notFound(`Consumer "${consumer}"`)
      }
      const { key, record } = await store.createKey({
        consumer,
        prefix: input.prefix ?? services.keyPrefixes[0]!,
        label: input.label ?? null,
        scopes: input.scopes ?? [],
        not_before: input.not_before ?? null,
        expires_at: input.expires_at ?? null,
        allow_ips: input.allow_ips ?? [],
        deny_ips: input.deny_ips ?? [],
      })
      return { status: 201, body: { key, record: keyView(record) }, target: record.id }
    },
  },
  {
    method: 'GET',
    path: '/keys',
    operationId: 'listKeys',
    summary: 'List keys of the store, or of one consumer; never the keys themselves.',
    query: [
      { name: 'consumer', kind: 'string', description: 'Only the keys of this consumer.' },
      { name: 'cursor', kind: 'string', description: 'next_cursor of the previous page.' },
      { name: 'limit', kind: 'limit', description: 'Items per page, 1 to 500 (default 50).' },
    ],
    ok: { status: 200, description: 'A page.', schema: Page(KeyView) },
    failures: [503],
    change: null,
    handle({ query, services }) {
      const store = requireStore(services)
      return storePage(query, '/keys', store.listKeys.bind(store), keyView)
    },
  },
  {
    method: 'GET',
    path: '/keys/{id}',
    operationId: 'getKey',
    summary: 'Read a key record.',
    ok: { status: 200, description: 'The record.', schema: KeyView },
    failures: [404, 503],
    change: null,
    async handle({ params, services }) {
      const found = await requireStore(services).getKey(params['id']!)
      if (found === null) throw notFound(`Key "${params['id']}"`)
      return { status: 200, body: keyView(found) }
    },
  },
  {
    method: 'POST',
    path: '/keys/{id}/revoke',
    operationId: 'revokeKey',
    summary: 'Revoke a key: every worker refuses it within a second.',
    ok: { status: 200, description: 'The revoked record.', schema: KeyView },
    failures: [404, 409, 503],
    change: 'key.revoke',
    async handle({ params, services }) {
      const id = params['id']!
      const revoked = await requireStore(services).revokeKey(id)
      if (revoked === null) throw notFound(`Key "${id}"`)
      return { status: 200, body: keyView(revoked), target: id }
    },
  },
  {
    method: 'POST',
    path: '/keys/{id}/rotate',
    operationId: 'rotateKey',
    summary:
      'Replace a key with a new one; the old one stays valid for the grace period. The answer ' +
      'holds the new key, this once.',
    body: RotateBody,
    ok: {
      status: 201,
      description: 'The new key, its record and the old record.',
      schema: RotatedKeyView,
    },
    failures: [404, 409, 503],
    change: 'key.rotate',
    async handle({ params, body, services }) {
      const id = params['id']!
      const { grace } = body as RotateInput
      const rotated = await requireStore(services).rotateKey(id, parseDuration(grace))
      if (rotated === null) throw notFound(`Key "${id}"`)
      return {
        status: 201,
        body: {
          key: rotated.key,
          record: keyView(rotated.record),
          previous: keyView(rotated.previous),
        },
        target: `${id} -> ${rotated.record.id}`,
      }
    },
  },
  {
    method: 'GET',
    path: '/keys/{id}/usage',
    operationId: 'getKeyUsage',
    summary: 'Requests admitted and refused with a key, and its last use (flushed each second).',
    ok: { status: 200, description: 'The counts.', schema: UsageView },
    failures: [404, 503],
    change: null,
    async handle({ params, services }) {
      const id = params['id']!
      const store = requireStore(services)
      const usage = await store.keyUsage(id)
      if (usage === null) throw notFound(`Key "${id}"`)
      return { status: 200, body: { id, ...usage } }
    },
  },
]

/** What the schema cannot say: a known prefix, real dates in order, addresses and CIDR blocks. */
function checkNewKey(input: NewKeyInput, prefixes: readonly string[]): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  if (input.prefix !== undefined && !prefixes.includes(input.prefix)) {
    problems.push({
      path: 'prefix',
      reason: `must be one of api_keys.prefixes (${prefixes.join(', ')})`,
    })
  }
  const times: Record<string, number> = {}
  for (const field of ['not_before', 'expires_at'] as const) {
    const value = input[field]
    if (value === undefined || value === null) continue
    const ms = parseRfc3339(value)
    if (Number.isNaN(ms)) problems.push({ path: field, reason: 'is not a date that exists' })
    else times[field] = ms
  }
  if (times['not_before'] !== undefined && times['expires_at'] !== undefined) {
    if (times['expires_at'] <= times['not_before']) {
      problems.push({ path: 'expires_at', reason: 'must be later than not_before' })
    }
  }
  for (const field of ['allow_ips', 'deny_ips'] as const) {
    input[field]?.forEach((entry, i) => {
      if (!isAddressOrBlock(entry)) {
        problems.push({
          path: `${field}[${i}]`,
          reason: `must be an IPv4 or IPv6 address or CIDR block such as 10.0.0.0/8 or 2001:db8::/32 (got "${entry}")`,
        })
      }
    })
  }
  return problems
}

function isAddressOrBlock(entry: string): boolean {
  const slash = entry.indexOf('/')
  const address = slash === -1 ? entry : entry.slice(0, slash)
  const family = isIP(address)
  if (family === 0) return false
  if (slash === -1) return true
  const bits = entry.slice(slash + 1)
  return /^[0-9]{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)
}
