/**
 * Command-line parsing of the commands that go through the admin API (`portcullis consumers …`,
 * `keys …`, `revoke`) and of `keys hash`, which runs locally. Each verb names the flags it takes;
 * anything else is a usage error (exit 2).
 */
import { PortcullisError } from '../errors.js'

type FlagKind = 'value' | 'repeat' | 'switch'

interface VerbSpec {
  /** Names of the positional arguments, `?` marking the optional last one. */
  readonly positionals: readonly string[]
  readonly flags: Readonly<Record<string, FlagKind>>
  /** Runs locally: no admin URL or token needed. */
  readonly local?: boolean
}

const PAGING = { '--limit': 'value', '--cursor': 'value', '--all': 'switch' } as const

const VERBS: Readonly<Record<string, Readonly<Record<string, VerbSpec>>>> = {
  consumers: {
    add: {
      positionals: ['NAME'],
      flags: {
        '--group': 'repeat',
        '--tier': 'value',
        '--metadata': 'repeat',
        '--disabled': 'switch',
      },
    },
    list: { positionals: [], flags: PAGING },
    show: { positionals: ['NAME'], flags: {} },
    rm: { positionals: ['NAME'], flags: {} },
  },
  keys: {
    create: {
      positionals: ['CONSUMER'],
      flags: {
        '--label': 'value',
        '--scope': 'repeat',
        '--not-before': 'value',
        '--expires-at': 'value',
        '--allow-ip': 'repeat',
        '--deny-ip': 'repeat',
        '--prefix': 'value',
      },
    },
    list: { positionals: [], flags: { ...PAGING, '--consumer': 'value' } },
    show: { positionals: ['ID'], flags: {} },
    revoke: { positionals: ['ID'], flags: {} },
    rotate: { positionals: ['ID'], flags: { '--grace': 'value' } },
    usage: { positionals: ['ID'], flags: {} },
    hash: { positionals: ['KEY?'], flags: { '--config': 'value' }, local: true },
  },
  revoke: {
    '': { positionals: [], flags: { '--jti': 'value', '--exp': 'value', '--ttl': 'value' } },
  },
}

/** Flags every admin command takes. */
const COMMON: Readonly<Record<string, FlagKind>> = {
  '--admin-url': 'value',
  '--admin-token': 'value',
  '--json': 'switch',
}

export const ADMIN_COMMANDS: ReadonlySet<string> = new Set(Object.keys(VERBS))

export interface AdminArgs {
  readonly command: 'consumers' | 'keys' | 'revoke'
  /** `add`, `list`…; '' for revoke. */
  readonly verb: string
  readonly positionals: readonly string[]
  /** Every flag given, its values in order (a switch has one empty value). */
  readonly flags: ReadonlyMap<string, readonly string[]>
  readonly json: boolean
  /** --admin-url or $PORTCULLIS_ADMIN_URL; null for a local command. */
  readonly adminUrl: string | null
  readonly adminToken: string | null
}

export function parseAdminArgs(argv: readonly string[], env = process.env): AdminArgs {
  const command = argv[0] as AdminArgs['command']
  const verbs = VERBS[command]
  if (verbs === undefined) usage(`unknown command "${argv[0]}"`)
  let rest = argv.slice(1)
  let verb = ''
  if (!('' in verbs)) {
    verb = rest[0] ?? ''
    if (!(verb in verbs)) {
      usage(
        `${command} takes one of ${Object.keys(verbs).join(', ')}${verb === '' ? '' : ` (got "${verb}")`}`,
      )
    }
    rest = rest.slice(1)
  }
  const spec = verbs[verb]!
  const kinds = { ...COMMON, ...spec.flags }
  const flags = new Map<string, string[]>()
  const positionals: string[] = []
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    const kind = kinds[flag]
    if (command === 'revoke' && flag === '--config') {
      // It took the config's Redis before the admin API existed.
      usage(
        'revoke goes through the admin API now: give --admin-url and --admin-token, not --config',
      )
    }
    if (kind === undefined) usage(`${[command, verb].join(' ').trim()} takes no ${flag}`)
    let value = ''
    if (kind !== 'switch') {
      const v = eq === -1 ? rest[++i] : arg.slice(eq + 1)
      if (v === undefined || v === '') usage(`${flag} needs a value`)
      value = v
    }
    const values = flags.get(flag) ?? []
    if (kind === 'value' && values.length > 0) usage(`${flag} is given twice`)
    values.push(value)
    flags.set(flag, values)
  }
  const required = spec.positionals.filter((p) => !p.endsWith('?'))
  if (positionals.length < required.length || positionals.length > spec.positionals.length) {
    const shape = spec.positionals.map((p) => (p.endsWith('?') ? `[${p.slice(0, -1)}]` : p))
    usage(`usage: portcullis ${[command, verb, ...shape].filter((p) => p !== '').join(' ')}`)
  }
  if (command === 'revoke') {
    if (!flags.has('--jti') || flags.has('--exp') === flags.has('--ttl')) {
      usage('revoke needs --jti and one of --exp or --ttl')
    }
  }
  const adminUrl = flags.get('--admin-url')?.[0] ?? (env['PORTCULLIS_ADMIN_URL'] || null)
  const adminToken = flags.get('--admin-token')?.[0] ?? (env['PORTCULLIS_ADMIN_TOKEN'] || null)
  if (spec.local !== true && (adminUrl === null || adminToken === null)) {
    usage(
      `${[command, verb].join(' ').trim()} goes through the admin API: give --admin-url and ` +
        '--admin-token (or $PORTCULLIS_ADMIN_URL and $PORTCULLIS_ADMIN_TOKEN)',
    )
  }
  return {
    command,
    verb,
    positionals,
    flags,
    json: flags.has('--json'),
    adminUrl,
    adminToken,
  }
}

function usage(message: string): never {
  throw new PortcullisError('PCL_ERR_CLI_USAGE', `${message} (portcullis --help)`)
}
