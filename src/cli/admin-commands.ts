/**
 * `portcullis consumers add|list|show|rm`, `keys create|list|show|revoke|rotate|usage|hash` and
 * `revoke`: each a call of the admin API (admin-client.ts) printed as a table, or with --json as
 * the API's JSON for scripts. `keys hash` runs locally: it prints what a config declares a key by.
 */
import { readFileSync } from 'node:fs'
import { DURATION_PATTERN } from '../config/units.js'
import { PortcullisError } from '../errors.js'
import { isWellFormedApiKey } from '../keys/format.js'
import { KeyHasher } from '../keys/hash.js'
import { createLogger } from '../observability/logger.js'
import type { AdminArgs } from './admin-args.js'
import { AdminClient } from './admin-client.js'
import { formatRecord, formatTable } from './table.js'

type Json = Record<string, unknown>

const CONSUMER_COLUMNS = ['name', 'source', 'groups', 'tier', 'disabled', 'metadata'] as const
const KEY_COLUMNS = [
  'id',
  'consumer',
  'prefix',
  'last4',
  'state',
  'label',
  'scopes',
  'expires_at',
] as const

/** Runs the command and returns the exit code; writes its output to `out`. */
export async function runAdminCommand(
  args: AdminArgs,
  out: (text: string) => void = (text) => process.stdout.write(text),
): Promise<number> {
  if (args.command === 'keys' && args.verb === 'hash') {
    out(`${await hashKey(args)}\n`)
    return 0
  }
  const client = new AdminClient(args.adminUrl!, args.adminToken!)
  const print = (body: unknown, human: () => string) =>
    out(`${args.json ? JSON.stringify(body, null, 2) : human()}\n`)
  const [first] = args.positionals
  const id = encodeURIComponent(first ?? '')
  const one = (flag: string) => args.flags.get(flag)?.[0]
  const many = (flag: string) => args.flags.get(flag) ?? []

  switch (`${args.command} ${args.verb}`.trim()) {
    case 'consumers add': {
      const body: Json = { name: first }
      if (args.flags.has('--group')) body['groups'] = many('--group')
      if (one('--tier') !== undefined) body['tier'] = one('--tier')
      if (args.flags.has('--metadata')) body['metadata'] = parsePairs(many('--metadata'))
      if (args.flags.has('--disabled')) body['disabled'] = true
      const created = await client.call('POST', '/consumers', body)
      print(created, () => formatRecord(created as Json))
      return 0
    }
    case 'consumers list': {
      const page = await list(client, '/consumers', {}, args)
      print(page, () => pageTable(page, CONSUMER_COLUMNS))
      return 0
    }
    case 'consumers show': {
      const found = await client.call('GET', `/consumers/${id}`)
      print(found, () => formatRecord(found as Json))
      return 0
    }
    case 'consumers rm': {
      await client.call('DELETE', `/consumers/${id}`)
      print({ deleted: first }, () => `deleted consumer ${first} and its keys`)
      return 0
    }
    case 'keys create': {
      const body: Json = {}
      if (one('--prefix') !== undefined) body['prefix'] = one('--prefix')
      if (one('--label') !== undefined) body['label'] = one('--label')
      if (args.flags.has('--scope'))
        body['scopes'] = many('--scope').flatMap((s) => s.split(' ').filter(Boolean))
      if (one('--not-before') !== undefined) body['not_before'] = one('--not-before')
      if (one('--expires-at') !== undefined) body['expires_at'] = one('--expires-at')
      if (args.flags.has('--allow-ip')) body['allow_ips'] = many('--allow-ip')
      if (args.flags.has('--deny-ip')) body['deny_ips'] = many('--deny-ip')
      const created = (await client.call('POST', `/consumers/${id}/keys`, body)) as Json
      print(created, () => shownOnce(created))
      return 0
    }
    case 'keys list': {
      const query: Record<string, string> = {}
      if (one('--consumer') !== undefined) query['consumer'] = one('--consumer')!
      const page = await list(client, '/keys', query, args)
      print(page, () => pageTable(page, KEY_COLUMNS))
      return 0
    }
    case 'keys show': {
      const found = await client.call('GET', `/keys/${id}`)
      print(found, () => formatRecord(found as Json))
      return 0
    }
    case 'keys revoke': {
      const revoked = await client.call('POST', `/keys/${id}/revoke`)
      print(revoked, () => formatRecord(revoked as Json))
      return 0
    }
    case 'keys rotate': {
      const grace = one('--grace')
      if (grace !== undefined) checkDuration('--grace', grace)
      const rotated = (await client.call(
        'POST',
        `/keys/${id}/rotate`,
        grace === undefined ? {} : { grace },
      )) as Json
      print(rotated, () => {
        const previous = rotated['previous'] as Json
        return `${shownOnce(rotated)}\n\n${previous['id']} stays valid until ${previous['expires_at']}`
      })
      return 0
    }
    case 'keys usage': {
      const usage = await client.call('GET', `/keys/${id}/usage`)
      print(usage, () => formatRecord(usage as Json))
      return 0
    }
    case 'revoke': {
      const body: Json = { jti: one('--jti') }
      const exp = one('--exp')
      if (exp !== undefined) {
        if (!/^[0-9]{1,12}$/.test(exp)) usage(`--exp takes unix seconds (got "${exp}")`)
        body['exp'] = Number(exp)
      } else {
        checkDuration('--ttl', one('--ttl')!)
        body['ttl'] = one('--ttl')
      }
      const revoked = (await client.call('POST', '/revocations', body)) as Json
      print(
        revoked,
        () => `revoked jti ${JSON.stringify(revoked['jti'])} until ${revoked['expires_at']}`,
      )
      return 0
    }
  }
  throw new Error(`no handler for ${args.command} ${args.verb}`)
}

/** One page, or with --all every page, merged. */
async function list(
  client: AdminClient,
  path: string,
  query: Record<string, string>,
  args: AdminArgs,
): Promise<{ items: Json[]; next_cursor: string | null }> {
  const limit = args.flags.get('--limit')?.[0]
  let cursor = args.flags.get('--cursor')?.[0] ?? null
  const items: Json[] = []
  for (;;) {
    const params = new URLSearchParams(query)
    if (limit !== undefined) params.set('limit', limit)
    if (cursor !== null) params.set('cursor', cursor)
    const search = params.size === 0 ? '' : `?${params}`
    const page = (await client.call('GET', `${path}${search}`)) as {
      items: Json[]
      next_cursor: string | null
    }
    items.push(...page.items)
    cursor = page.next_cursor
    if (cursor === null || !args.flags.has('--all')) return { items, next_cursor: cursor }
  }
}

function pageTable(
  page: { items: Json[]; next_cursor: string | null },
  columns: readonly string[],
): string {
  const table = formatTable(
    columns.map((c) => c.toUpperCase()),
    page.items.map((item) => columns.map((c) => item[c])),
  )
  return page.next_cursor === null
    ? table
    : `${table}\n(more: --cursor ${page.next_cursor}, or --all)`
}

function shownOnce(created: Json): string {
  const record = created['record'] as Json
  return (
    `${created['key']}\n\n` +
    'This is the only time the key is shown: store it now.\n\n' +
    formatRecord(record)
  )
}

/** `name=value` pairs of --metadata. */
function parsePairs(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    if (at <= 0) usage(`--metadata takes KEY=VALUE (got "${pair}")`)
    out[pair.slice(0, at)] = pair.slice(at + 1)
  }
  return out
}

/**
 * `keys hash`: the hash a config declares a key by (consumers[].keys[].hash), with the pepper
 * the gateway uses: --config's api_keys.pepper, else $PORTCULLIS_KEY_PEPPER. The key's format
 * and checksum are checked first, so a mistyped key is not declared.
 */
async function hashKey(args: AdminArgs): Promise<string> {
  const key = (args.positionals[0] ?? readFileSync(0, 'utf8')).trim()
  if (key === '') usage('keys hash needs the key, as an argument or on stdin')
  let pepper = process.env['PORTCULLIS_KEY_PEPPER'] || null
  let prefixes: readonly string[] | null = null
  const file = args.flags.get('--config')?.[0]
  if (file !== undefined) {
    const { loadGatewayConfig } = await import('../config/gateway-config.js')
    const { config } = loadGatewayConfig(file, createLogger('silent', {}))
    pepper = config.api_keys.pepper ?? null
    prefixes = config.api_keys.prefixes
  }
  // <prefix>_<random>_<checksum>, the prefix itself possibly holding one "_".
  const prefix = key.slice(0, Math.max(0, key.lastIndexOf('_', key.lastIndexOf('_') - 1)))
  if (!isWellFormedApiKey(key, prefixes ?? [prefix])) {
    const known = prefixes === null ? '' : ` under api_keys.prefixes (${prefixes.join(', ')})`
    usage(`not an API key${known}: a key reads <prefix>_<30 characters>_<6-character checksum>`)
  }
  return new KeyHasher(pepper).hash(key)
}

function checkDuration(flag: string, value: string): void {
  if (!new RegExp(DURATION_PATTERN).test(value)) {
    usage(`${flag} takes a duration like 24h (got "${value}")`)
  }
}

function usage(message: string): never {
  throw new PortcullisError('PCL_ERR_CLI_USAGE', message)
}
