/**
 * /consumers: create, list, read, change and delete consumers of the credential store. Reads
 * merge the config's consumers (listed first, marked `source: config`) with the store's; a
 * consumer the config declares is the config's to change (409 config_owned), as a name the
 * config holds would shadow a stored one anyway.
 */
import type { ConsumerChangeInput, NewConsumerInput } from './api-schemas.js'
import { ConsumerChangeBody, ConsumerView, NewConsumerBody, Page } from './api-schemas.js'
import { AdminError, notFound, refuseProblems, storeUnavailable } from './admin-error.js'
import { readCursor, readLimit, writeCursor } from './paging.js'
import type { AdminCall, AdminRoute } from './route.js'
import type { AdminServices } from './services.js'
import { configConsumerView, storedConsumerView } from './views.js'
import type { ConsumerIpInput, CredentialStore } from '../state/credential-store.js'
import { parseAddressList } from '../consumers/address-list.js'

const LIST_QUERY = [
  { name: 'cursor', kind: 'string', description: 'next_cursor of the previous page.' },
  { name: 'limit', kind: 'limit', description: 'Items per page, 1 to 500 (default 50).' },
] as const

export const CONSUMER_ROUTES: readonly AdminRoute[] = [
  {
    method: 'POST',
    path: '/consumers',
    operationId: 'createConsumer',
    summary: 'Create a consumer in the store.',
    body: NewConsumerBody,
    ok: { status: 201, description: 'Created.', schema: ConsumerView },
    failures: [409, 503],
    change: 'consumer.create',
    async handle({ body, services }) {
      const input = body as NewConsumerInput
      refuseConfigOwned(services, input.name)
      checkIp(input.ip)
      const created = await requireStore(services).createConsumer({
        name: input.name,
        ...(input.groups === undefined ? {} : { groups: input.groups }),
        ...(input.tier === undefined ? {} : { tier: input.tier }),
        ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
        ...(input.disabled === undefined ? {} : { disabled: input.disabled }),
        ...(input.ip === undefined ? {} : { ip: ipInput(input.ip) }),
      })
      return { status: 201, body: storedConsumerView(created), target: created.name }
    },
  },
  {
    method: 'GET',
    path: '/consumers',
    operationId: 'listConsumers',
    summary: "List consumers: the config's first, then the store's.",
    query: LIST_QUERY,
    ok: { status: 200, description: 'A page.', schema: Page(ConsumerView) },
    failures: [503],
    change: null,
    handle: listConsumers,
  },
  {
    method: 'GET',
    path: '/consumers/{name}',
    operationId: 'getConsumer',
    summary: 'Read a consumer, from the config or the store.',
    ok: { status: 200, description: 'The consumer.', schema: ConsumerView },
    failures: [404, 503],
    change: null,
    async handle({ params, services }) {
      const name = params['name']!
      const configured = configOwned(services, name)
      if (configured !== null) return { status: 200, body: configured }
      const found = await requireStore(services).getConsumer(name)
      if (found === null) throw notFound(`Consumer "${name}"`)
      return { status: 200, body: storedConsumerView(found) }
    },
  },
  {
    method: 'PATCH',
    path: '/consumers/{name}',
    operationId: 'updateConsumer',
    summary: "Change a stored consumer's groups, tier, metadata, disabled flag or IP rules.",
    body: ConsumerChangeBody,
    ok: { status: 200, description: 'The changed consumer.', schema: ConsumerView },
    failures: [404, 409, 503],
    change: 'consumer.update',
    async handle({ params, body, services }) {
      const name = params['name']!
      refuseConfigOwned(services, name)
      const input = body as ConsumerChangeInput
      checkIp(input.ip)
      const changed = await requireStore(services).updateConsumer(name, {
        ...(input.groups === undefined ? {} : { groups: input.groups }),
        ...(input.tier === undefined ? {} : { tier: input.tier }),
        ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
        ...(input.disabled === undefined ? {} : { disabled: input.disabled }),
        ...(input.ip === undefined ? {} : { ip: ipInput(input.ip) }),
      })
      if (changed === null) throw notFound(`Consumer "${name}"`)
      return { status: 200, body: storedConsumerView(changed), target: name }
    },
  },
  {
    method: 'DELETE',
    path: '/consumers/{name}',
    operationId: 'deleteConsumer',
    summary: 'Delete a stored consumer and every key of it.',
    ok: { status: 204, description: 'Deleted, with its keys.', schema: null },
    failures: [404, 409, 503],
    change: 'consumer.delete',
    async handle({ params, services }) {
      const name = params['name']!
      refuseConfigOwned(services, name)
      if (!(await requireStore(services).deleteConsumer(name))) {
        throw notFound(`Consumer "${name}"`)
      }
      return { status: 204, body: null, target: name }
    },
  },
]

async function listConsumers({ query, services }: AdminCall) {
  const limit = readLimit(query)
  const cursor = readCursor(query, { phase: 'config', position: '0' })
  const items = []
  let storeCursor: string | null = cursor.phase === 'store' ? cursor.position : null
  if (cursor.phase === 'config') {
    const configured = services.configConsumers()
    const from = Number(cursor.position)
    for (const consumer of configured.slice(from, from + limit)) {
      items.push(configConsumerView(consumer))
    }
    const end = from + items.length
    if (end < configured.length) {
      return {
        status: 200,
        body: { items, next_cursor: writeCursor({ phase: 'config', position: String(end) }) },
      }
    }
    // The config's last page goes on with the store's first, when there is a store.
    if (services.store() === null) return { status: 200, body: { items, next_cursor: null } }
    storeCursor = ''
  }
  const remaining = limit - items.length
  if (remaining === 0) {
    return {
      status: 200,
      body: { items, next_cursor: writeCursor({ phase: 'store', position: '' }) },
    }
  }
  const page = await requireStore(services).listConsumers(storeCursor || null, remaining)
  for (const stored of page.items) {
    // A stored consumer the config also names is shadowed: it was listed as the config's.
    if (services.consumer(stored.name)?.source !== 'config') items.push(storedConsumerView(stored))
  }
  const next =
    page.next_cursor === null ? null : writeCursor({ phase: 'store', position: page.next_cursor })
  return { status: 200, body: { items, next_cursor: next } }
}

function configOwned(services: AdminServices, name: string) {
  const consumer = services.consumer(name)
  return consumer !== undefined && consumer.source === 'config'
    ? configConsumerView(consumer)
    : null
}

function refuseConfigOwned(services: AdminServices, name: string): void {
  if (configOwned(services, name) !== null) {
    throw new AdminError(
      409,
      'config_owned',
      `Consumer "${name}" is declared in the config file: change it there and reload.`,
    )
  }
}

/** The store, or 503 store_unavailable when the config has no redis. */
export function requireStore(services: AdminServices): CredentialStore {
  const store = services.store()
  if (store === null) {
    throw storeUnavailable(
      'This gateway has no redis: configured: consumers and keys live in the config file only.',
    )
  }
  return store
}

type IpBody = NewConsumerInput['ip']

/** A consumer's IP rules must parse: 400 naming each bad entry, as the config would. */
function checkIp(ip: IpBody): void {
  if (ip === undefined || ip === null) return
  const problems = [
    ...parseAddressList(ip.allow ?? [], 'ip.allow').problems,
    ...parseAddressList(ip.deny ?? [], 'ip.deny').problems,
  ]
  refuseProblems(problems)
}

function ipInput(ip: IpBody): ConsumerIpInput | null {
  if (ip === undefined || ip === null) return null
  return { allow: [...(ip.allow ?? [])], deny: [...(ip.deny ?? [])] }
}
