/**
 * Command-line parsing of `portcullis start|check|token …` (see USAGE); the admin API's commands
 * are parsed by admin-args.ts.
 */
import { availableParallelism } from 'node:os'
import { PortcullisError } from '../errors.js'
import type { VerifierChoice } from '../jwt/native-verify.js'
import type { UpstreamSocketChoice } from '../proxy/h1/socket-choice.js'

export const USAGE = `portcullis — zero-trust API gateway

Usage:
  portcullis start --config FILE [--workers N|auto] [--verify-threads N|auto] [--front uws|node]
                   [--verifier native|node] [--upstream-sockets native|node] [--native auto|off]
  portcullis check --config FILE
  portcullis token --key FILE --issuer ISS --audience AUD [--subject SUB] [--scope SCOPE]…
                   [--ttl DURATION] [--alg ALG] [--kid KID] [--typ TYP] [--claim NAME=VALUE]…
  portcullis consumers add NAME [--group G]… [--tier T] [--metadata K=V]… [--disabled]
  portcullis consumers list [--limit N] [--cursor C] [--all] | show NAME | rm NAME
  portcullis keys create CONSUMER [--label L] [--scope S]… [--expires-at T] [--not-before T]
                   [--allow-ip CIDR]… [--deny-ip CIDR]… [--prefix P]
  portcullis keys list [--consumer C] [--limit N] [--cursor C] [--all]
  portcullis keys show|revoke|usage ID | keys rotate ID [--grace 24h]
  portcullis keys hash [KEY] [--config FILE]
  portcullis revoke --jti ID (--exp UNIX_SECONDS | --ttl DURATION)
  portcullis audit verify FILE [--key-env NAME]
  portcullis --help | --version

Commands:
  start   Serve with the config FILE. SIGHUP reloads it (an invalid file is refused and the
          running config kept), SIGTERM drains in-flight requests and exits 0.
  check   Validate FILE and print the compiled route table; exit 1 if it is invalid.
  consumers, keys  Manage consumers and API keys through the admin API (listeners.admin):
          human tables, or --json for scripts. keys create and rotate print the key once.
  keys hash  Print the hash of a key (argument or stdin) for consumers[].keys[].hash, with
          the pepper of --config's api_keys.pepper, else $PORTCULLIS_KEY_PEPPER. Local.
  revoke  Revoke a token by its jti until its exp, through the admin API: every worker of
          every gateway sharing its Redis refuses it within a second.
  audit verify  Check the HMAC chain of an audit file (log.audit_chain_key), the key read
          from $NAME (default PORTCULLIS_AUDIT_CHAIN_KEY); exit 1 naming the first bad line.
  token   Sign a test token with a private key (or HMAC secret) file and print it, to try a
          route of your config. Never a substitute for an identity provider.

Options:
  --config FILE     YAML (or JSON) config; required by start and check (or set
                    $PORTCULLIS_CONFIG).
  --admin-url URL   (consumers, keys, revoke) the admin listener, e.g. http://127.0.0.1:8082
                    (or $PORTCULLIS_ADMIN_URL).
  --admin-token T   (consumers, keys, revoke) a token whose SHA-256 is in admin.tokens (or
                    $PORTCULLIS_ADMIN_TOKEN).
  --json            (consumers, keys, revoke) print the admin API's JSON.
  --workers N       Worker processes; auto = one per core (default: cluster.workers of the
                    config). 0 serves from a single process without node:cluster.
  --verify-threads N  Signature-verification threads per worker (default: cluster.verify_threads
                    of the config, 0). 0 verifies on the event loop; auto = the cores no worker uses.
  --front uws|node  uws: native uWebSockets.js front (default). node: node:http front.
  --verifier native|node  JWT signatures (RS*, ES*): native = OpenSSL through src/native, built
                    by npm install; node = node:crypto. Default: native when built, else
                    node:crypto, named in the startup line.
  --upstream-sockets native|node  Sockets of the native HTTP/1.1 upstream transport: native =
                    src/native, built by npm install; node = node:net. Default: native when
                    built, else node:net, named in the startup line.
  --native auto|off  off: no module of src/native runs: the uws front reads requests through
                    uWS.js's calls, upstream sockets are node:net's, JWT signatures node:crypto's.
                    Default auto: each one native when built. Not with --verifier native or
                    --upstream-sockets native.
  --jti ID          (revoke) the token id to refuse.
  --exp S           (revoke) the token's exp, unix seconds: the entry lives until then.
  --ttl DURATION    (revoke) instead of --exp: how long the entry lives (e.g. 1h).
                    (token) the token's lifetime, exp - iat (default 1h).
  --key FILE        (token) PEM private key (PKCS#8, PKCS#1 or SEC1), a private JWK, or with
                    --alg HS256|HS384|HS512 a file holding the secret.
  --issuer ISS      (token) iss: the issuer's \`issuer\` in the config.
  --audience AUD    (token) aud: one of the issuer's \`audiences\`; repeat for several.
  --subject SUB     (token) sub.
  --scope SCOPE     (token) scopes, space-separated or repeated; joined into the scope claim.
  --alg ALG         (token) RS256, ES256, EdDSA…; default: the one the key implies.
  --kid KID         (token) kid header; default: the JWK's kid, else the key's RFC 7638
                    thumbprint (none for a secret).
  --typ TYP         (token) typ header (default JWT; at+jwt for an issuer with typ: at+jwt).
  --claim N=V       (token) another claim; V is read as JSON when it parses (n=3, a=[1]),
                    else as a string. Repeatable; set last.
  -h, --help        This text.
  -v, --version     The version.
`

/** `portcullis token`'s options; null when absent. */
export interface TokenArgs {
  readonly key: string | null
  readonly issuer: string | null
  readonly audiences: readonly string[]
  readonly subject: string | null
  /** Every --scope value split on spaces, in order, without repeats. */
  readonly scopes: readonly string[]
  readonly alg: string | null
  readonly kid: string | null
  readonly typ: string | null
  /** --claim values as written (`name=value`). */
  readonly claims: readonly string[]
}

export interface CliArgs {
  readonly command: 'start' | 'check' | 'token' | 'help' | 'version'
  /** Set for start and check (parseArgs refuses them without it); else null. */
  readonly config: string | null
  readonly workers: number | 'auto' | null
  readonly verifyThreads: number | 'auto' | null
  readonly front: 'uws' | 'node'
  readonly verifier: VerifierChoice | null
  readonly upstreamSockets: UpstreamSocketChoice | null
  /** off: every native module's fallback (src/native/load.ts). */
  readonly native: 'auto' | 'off'
  readonly ttl: string | null
  readonly token: TokenArgs
}

/** Commands that read a config file: without --config they would guess one, so they refuse. */
const CONFIG_COMMANDS: ReadonlySet<CliArgs['command']> = new Set(['start', 'check'])

export function parseArgs(argv: readonly string[], env = process.env): CliArgs {
  let command: CliArgs['command'] | null = null
  // An explicit choice only: a gateway that quietly served a default file would answer with
  // routes its operator never wrote.
  let config = env['PORTCULLIS_CONFIG'] || null
  let workers: CliArgs['workers'] = null
  let verifyThreads: CliArgs['verifyThreads'] = null
  let front: CliArgs['front'] = 'uws'
  let verifier: CliArgs['verifier'] = null
  let upstreamSockets: CliArgs['upstreamSockets'] = null
  let native: CliArgs['native'] = 'auto'
  let ttl: string | null = null
  const token = {
    key: null as string | null,
    issuer: null as string | null,
    audiences: [] as string[],
    subject: null as string | null,
    scopes: [] as string[],
    alg: null as string | null,
    kid: null as string | null,
    typ: null as string | null,
    claims: [] as string[],
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined]
    const value = (): string => {
      const v = inline ?? argv[++i]
      if (v === undefined || v === '') usage(`${flag} needs a value`)
      return v
    }
    switch (flag) {
      case 'start':
      case 'check':
      case 'token':
        if (command !== null) usage(`unexpected "${arg}"`)
        command = flag
        break
      case '-h':
      case '--help':
        command = 'help'
        i = argv.length
        break
      case '-v':
      case '--version':
        command = 'version'
        i = argv.length
        break
      case '-c':
      case '--config':
        config = value()
        break
      case '-w':
      case '--workers': {
        const v = value()
        if (v === 'auto') workers = 'auto'
        else if (/^[0-9]{1,4}$/.test(v)) workers = Number(v)
        else usage(`--workers takes a whole number or auto (got "${v}")`)
        break
      }
      case '--verify-threads': {
        const v = value()
        if (v === 'auto') verifyThreads = 'auto'
        else if (/^[0-9]{1,2}$/.test(v)) verifyThreads = Number(v)
        else usage(`--verify-threads takes a whole number or auto (got "${v}")`)
        break
      }
      case '--ttl':
        ttl = value()
        break
      case '--key':
        token.key = value()
        break
      case '--issuer':
        token.issuer = value()
        break
      case '--audience':
        token.audiences.push(value())
        break
      case '--subject':
        token.subject = value()
        break
      case '--scope':
        for (const scope of value().split(' ')) {
          if (scope !== '' && !token.scopes.includes(scope)) token.scopes.push(scope)
        }
        break
      case '--alg':
        token.alg = value()
        break
      case '--kid':
        token.kid = value()
        break
      case '--typ':
        token.typ = value()
        break
      case '--claim':
        token.claims.push(value())
        break
      case '--front': {
        const v = value()
        if (v !== 'uws' && v !== 'node') usage(`--front takes uws or node (got "${v}")`)
        front = v
        break
      }
      case '--verifier': {
        const v = value()
        if (v !== 'native' && v !== 'node') usage(`--verifier takes native or node (got "${v}")`)
        verifier = v
        break
      }
      case '--upstream-sockets': {
        const v = value()
        if (v !== 'native' && v !== 'node') {
          usage(`--upstream-sockets takes native or node (got "${v}")`)
        }
        upstreamSockets = v
        break
      }
      case '--native': {
        const v = value()
        if (v !== 'auto' && v !== 'off') usage(`--native takes auto or off (got "${v}")`)
        native = v
        break
      }
      default:
        usage(`unknown argument "${arg}"`)
    }
  }
  if (command === null)
    usage('a command is required: start, check, token, consumers, keys or revoke')
  if (CONFIG_COMMANDS.has(command) && config === null) {
    usage(`${command} needs --config FILE: the gateway config to ${CONFIG_VERBS[command]}`)
  }
  if (native === 'off' && (verifier === 'native' || upstreamSockets === 'native')) {
    const flag = verifier === 'native' ? '--verifier native' : '--upstream-sockets native'
    usage(`--native off runs no native module: it cannot go with ${flag}`)
  }
  if (command === 'token') {
    const missing = [
      token.key === null ? '--key FILE' : null,
      token.issuer === null ? '--issuer ISS' : null,
      token.audiences.length === 0 ? '--audience AUD' : null,
    ].filter((flag) => flag !== null)
    if (missing.length > 0) usage(`token needs ${missing.join(', ')}`)
  }
  return {
    command,
    config,
    workers,
    verifyThreads,
    front,
    verifier,
    upstreamSockets,
    native,
    ttl,
    token,
  }
}

const CONFIG_VERBS: Readonly<Record<string, string>> = {
  start: 'serve',
  check: 'check',
}

export function resolveWorkers(flag: number | 'auto' | null, configured: number | 'auto'): number {
  const value = flag ?? configured
  return value === 'auto' ? availableParallelism() : value
}

/**
 * Verify threads per worker; `auto` gives the cores the workers leave idle.
 * availableParallelism() honours the CPU affinity mask (taskset, cgroup cpusets).
 */
export function resolveVerifyThreads(
  flag: number | 'auto' | null,
  configured: number | 'auto',
  workers: number,
): number {
  const value = flag ?? configured
  return value === 'auto' ? Math.max(0, availableParallelism() - Math.max(workers, 1)) : value
}

function usage(message: string): never {
  throw new PortcullisError('PCL_ERR_CLI_USAGE', `${message}\n\n${USAGE}`)
}
