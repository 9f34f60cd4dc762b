/** The bench's command line, its constants and its log line: what every part of the harness reads. */
import { parseArgs } from 'node:util'
import { scenarios } from './scenarios/index.js'

export const HOST = '127.0.0.1'
/** Core layout under --pin: the gateway alone on one core, everything else on the other. */
export const GATEWAY_CPU = '0'
export const LOAD_CPU = '1'
/** A process this close to its CPU ceiling is taken to be the bottleneck. */
export const LIMIT = 0.9
export const REQUEST_TIMEOUT_S = 10
/** CPU used by processes outside the run above which a window is flagged NOISY, in cores. */
export const NOISE = 0.1
/**
 * `--peers` defaults: 4 scenarios, 21 targets, 2 phases, 3 runs of 1 + 4 s fit in about 13 minutes
 * with the installs, inside the 15 the issue allows for a fresh machine.
 */
const PEERS_DEFAULTS = { duration: '4', warmup: '1', runs: '3', instanceWarmup: '3' }
const DEFAULTS = { duration: '10', warmup: '2', runs: '3', instanceWarmup: '3' }

export const USAGE = `usage: npm run bench -- [options]
       npm run bench:peers -- [options]    (= --peers --pin --write-results)

  --scenario a,b        ${[...scenarios.keys()].join(', ')}
                        (default passthrough; with --peers every scenario)
  --peers               measure every scenario on each peer gateway too: nginx, HAProxy, fastify
                        and portcullis side by side, installed on demand (bench/peers/)
  --peer NAME           with --peers: only these peers (repeatable)
  --targets a,b         measure only these targets of the scenario (e.g. direct)
  --workers N           gateway --workers (default 1; 0 = single process); peers get as many
                        nginx workers, HAProxy threads, fastify cluster workers
  --front uws|node      gateway --front (default: the gateway's own default)
  --verify-threads V    gateway --verify-threads N|auto (default: the gateway's own default)
  --duration S          measured seconds per run (default ${DEFAULTS.duration}; --peers ${PEERS_DEFAULTS.duration})
  --warmup S            warm-up seconds before each measured run (default ${DEFAULTS.warmup}; --peers ${PEERS_DEFAULTS.warmup})
  --instance-warmup S   unmeasured load on each gateway instance once, after it starts (default
                        ${DEFAULTS.instanceWarmup}; --peers ${PEERS_DEFAULTS.instanceWarmup}): JIT-compiled gateways tier up first
  --runs N              runs per target and phase, interleaved (default ${DEFAULTS.runs})
  --connections N       connections for every loader (default 64)
  --rate R              fixed offered rate for the latency runs (default: half the slowest
                        gateway target's saturation median, per scenario)
  --rate-engine E       paced (default: open loop, evenly spaced) or autocannon (overallRate)
  --saturation L        autocannon, wrk or both (default both; --peers: wrk, or autocannon when
                        wrk is missing)
  --loaders N           autocannon processes for saturation runs (default 1)
  --no-wrk              skip the wrk saturation runs even if wrk is installed
  --pin                 gateway on core ${GATEWAY_CPU}; upstream, loaders and this harness on core ${LOAD_CPU}
  --upstream uws|node   bench upstream implementation (default uws)
  --gateway-cmd "CMD"   run CMD instead of the portcullis CLI; {config} {workers} {front} {port}
                        {status_port} {upstream} are substituted; ready when the port accepts
  --write-results       also update bench/RESULTS.md between the scenario's markers; with
                        --peers, bench/results/peers.{json,svg} and README's short table
  --timeout S           hard limit for the whole run (default: estimated from the plan)
  --port-base P         first gateway on P (status P+1), upstream on P+10, further gateways
                        from P+20 (default 18080)
`

export type SaturationLoaders = 'autocannon' | 'wrk' | 'both'

export interface Options {
  readonly scenarios: readonly string[]
  readonly peers: boolean
  readonly peerNames: readonly string[] | undefined
  readonly targets: readonly string[] | undefined
  readonly workers: number
  readonly front: 'uws' | 'node' | undefined
  readonly verifyThreads: string | undefined
  readonly duration: number
  readonly warmup: number
  readonly instanceWarmup: number
  readonly runs: number
  readonly connections: number
  readonly rate: number | undefined
  readonly rateEngine: 'paced' | 'autocannon'
  readonly saturation: SaturationLoaders
  readonly loaders: number
  readonly wrk: boolean
  readonly pin: boolean
  readonly upstream: 'uws' | 'node'
  readonly gatewayCmd: string | undefined
  readonly writeResults: boolean
  readonly timeout: number | undefined
  readonly portBase: number
}

export class UsageError extends Error {}

const list = (text: string | undefined): string[] | undefined =>
  text
    ?.split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '')

export function parseCli(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      scenario: { type: 'string' },
      peers: { type: 'boolean', default: false },
      peer: { type: 'string', multiple: true },
      targets: { type: 'string' },
      workers: { type: 'string', default: '1' },
      front: { type: 'string' },
      'verify-threads': { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'instance-warmup': { type: 'string' },
      runs: { type: 'string' },
      connections: { type: 'string', default: '64' },
      rate: { type: 'string' },
      'rate-engine': { type: 'string', default: 'paced' },
      saturation: { type: 'string' },
      loaders: { type: 'string', default: '1' },
      'no-wrk': { type: 'boolean', default: false },
      pin: { type: 'boolean', default: false },
      upstream: { type: 'string', default: 'uws' },
      'gateway-cmd': { type: 'string' },
      'write-results': { type: 'boolean', default: false },
      timeout: { type: 'string' },
      'port-base': { type: 'string', default: '18080' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  const number = (name: string, text: string | undefined, min: number): number => {
    const value = Number(text)
    if (text === undefined || !Number.isFinite(value) || value < min) {
      throw new UsageError(`--${name} must be a number >= ${min}, got ${String(text)}`)
    }
    return value
  }
  const oneOf = <T extends string>(
    name: string,
    text: string | undefined,
    allowed: readonly T[],
  ) => {
    if (text === undefined) return undefined
    if (!(allowed as readonly string[]).includes(text)) {
      throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got ${text}`)
    }
    return text as T
  }
  const peers = values.peers
  const defaults = peers ? PEERS_DEFAULTS : DEFAULTS
  const everyPeerScenario = [...scenarios.values()]
    .filter((scenario) => scenario.peers !== false)
    .map((scenario) => scenario.name)
  const chosen = list(values.scenario) ?? (peers ? everyPeerScenario : ['passthrough'])
  for (const name of chosen) {
    if (!scenarios.has(name)) {
      throw new UsageError(`unknown scenario ${name}; known: ${[...scenarios.keys()].join(', ')}`)
    }
  }
  if (!peers && chosen.length > 1) {
    throw new UsageError('one --scenario at a time without --peers')
  }
  if (peers && values['gateway-cmd'] !== undefined) {
    throw new UsageError('--gateway-cmd replaces portcullis in a plain run; --peers runs its own')
  }
  if (!peers && values.peer !== undefined) throw new UsageError('--peer goes with --peers')
  const verifyThreads = values['verify-threads']
  if (verifyThreads !== undefined && !/^(auto|\d+)$/.test(verifyThreads)) {
    throw new UsageError(`--verify-threads must be a whole number or auto, got ${verifyThreads}`)
  }
  const portBase = Math.floor(number('port-base', values['port-base'], 1024))
  if (portBase > 65400) throw new UsageError('--port-base must leave room for the gateways')
  return {
    scenarios: chosen,
    peers,
    peerNames: values.peer,
    targets: list(values.targets),
    workers: Math.floor(number('workers', values.workers, 0)),
    front: oneOf('front', values.front, ['uws', 'node'] as const),
    verifyThreads,
    duration: number('duration', values.duration ?? defaults.duration, 1),
    warmup: number('warmup', values.warmup ?? defaults.warmup, 0),
    instanceWarmup: number(
      'instance-warmup',
      values['instance-warmup'] ?? defaults.instanceWarmup,
      0,
    ),
    runs: Math.floor(number('runs', values.runs ?? defaults.runs, 1)),
    connections: Math.floor(number('connections', values.connections, 1)),
    rate: values.rate === undefined ? undefined : number('rate', values.rate, 1),
    rateEngine:
      oneOf('rate-engine', values['rate-engine'], ['paced', 'autocannon'] as const) ?? 'paced',
    saturation:
      oneOf('saturation', values.saturation, ['autocannon', 'wrk', 'both'] as const) ??
      (peers ? 'wrk' : 'both'),
    loaders: Math.floor(number('loaders', values.loaders, 1)),
    wrk: !values['no-wrk'],
    pin: values.pin,
    upstream: oneOf('upstream', values.upstream, ['uws', 'node'] as const) ?? 'uws',
    gatewayCmd: values['gateway-cmd'],
    writeResults: values['write-results'],
    timeout: values.timeout === undefined ? undefined : number('timeout', values.timeout, 10),
    portBase,
  }
}

const started = Date.now()

export function log(message: string): void {
  process.stderr.write(`[bench +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}\n`)
}

export function startedAt(): number {
  return started
}

export function firstLine(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

export const pct = (cores: number): string => `${Math.round(cores * 100)} %`
