/**
 * `npm run bench -- [--scenario passthrough] [--workers N] [--duration 10] [--pin] …` and
 * `npm run bench:peers` (= `--peers --pin --write-results`); every flag in `--help`.
 *
 * Upstream, gateways and every loader run as separate processes so that each one's CPU is read
 * from its own /proc counters. Subjects are measured in rounds (direct, passthrough, direct, …) so
 * slow drift on the machine lands on all of them alike; each figure is a median with its min–max.
 * With `--peers`, every scenario is also measured through nginx, HAProxy and fastify, each started
 * once per scenario with its own config (bench/peers/), taking turns with portcullis.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, release, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { listenFor, startUpstream } from './instances.js'
import {
  GATEWAY_CPU,
  HOST,
  LOAD_CPU,
  USAGE,
  UsageError,
  firstLine,
  log,
  parseCli,
  startedAt,
  type Options,
} from './options.js'
import { PACED_SOURCE, pacedLoader, type PacedLoader } from './paced-native.js'
import { allPeers } from './peers/index.js'
import { ensureDebianBinary } from './peers/install.js'
import { createPortcullisPeer } from './peers/portcullis.js'
import type { Peer, PeerEnv } from './peers/types.js'
import { killAllNow, portAccepts, stopAll } from './processes.js'
import { renderMarkdown, updateResultsFile, type BenchReport } from './report.js'
import { renderRateLimitSection, runAccuracy, type AccuracyResult } from './ratelimit.js'
import type { PeerInfo } from './report-peers.js'
import { scenarios } from './scenarios/index.js'
import type { PreparedScenario, Scenario } from './scenarios/types.js'
import { runScenario, scenarioDir, type RunMeta } from './session.js'
import { comparisonOf, writePeers } from './write-peers.js'
import { wrkVersion } from './wrk.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** Setup before the first measured run: installs, key generation, token minting. */
const SETUP_BUDGET_S = 900

// ---- description of the run --------------------------------------------------------------------

function machine(): string {
  let model = 'unknown CPU'
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? model
  } catch {
    // Not Linux: the harness needs /proc anyway and fails later with a clearer message.
  }
  return `${cpus().length} × ${model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}`
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    return 'none (no commit yet)'
  }
}

function autocannonVersion(): string {
  try {
    const text = readFileSync(join(ROOT, 'node_modules/autocannon/package.json'), 'utf8')
    return (JSON.parse(text) as { version?: string }).version ?? '?'
  } catch {
    return '?'
  }
}

/** The fixed-rate loader in the report's words; `paced` is undefined unless that engine runs. */
function rateEngine(options: Options, paced: PacedLoader | undefined): string {
  if (options.rateEngine !== 'paced') {
    return 'autocannon overallRate (per-connection bursts each second)'
  }
  const latency = 'latency from hand-off to the client to the last byte'
  if (paced?.kind === 'native') {
    return `paced open-loop loader, native (${PACED_SOURCE}: epoll, a timerfd per send), ${latency}`
  }
  return `paced open-loop loader (bench/paced-client.ts, Node), ${latency}`
}

function runMeta(
  options: Options,
  wrk: string | undefined,
  paced: PacedLoader | undefined,
): RunMeta {
  const autocannon = options.saturation !== 'wrk' || wrk === undefined
  const loaders = [
    ...(autocannon
      ? [
          `autocannon ${autocannonVersion()} (${options.loaders} process${options.loaders > 1 ? 'es' : ''})`,
        ]
      : []),
    ...(wrk === undefined || options.saturation === 'autocannon'
      ? []
      : [`wrk ${wrk} (${options.pin ? 1 : 2} thread${options.pin ? '' : 's'})`]),
    ...(paced === undefined ? [] : [`paced ${paced.kind} client (fixed rate)`]),
  ].join(', ')
  return {
    command: `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machine(),
    node: process.version,
    commit: commit(),
    layout: options.pin
      ? `pinned: gateway on core ${GATEWAY_CPU}; upstream, loaders and harness on core ${LOAD_CPU}`
      : 'unpinned: every process on every core',
    upstream:
      options.upstream === 'uws'
        ? 'bench/upstream.ts on uWebSockets.js, `{"ok":true}`'
        : 'scripts/demo-upstream.ts on node:http, `{"ok":true}` on /bench',
    workers: options.workers,
    front: options.front ?? 'default',
    connections: options.connections,
    runs: options.runs,
    durationSeconds: options.duration,
    warmupSeconds: options.warmup,
    loaders,
    rateEngine: rateEngine(options, paced),
  }
}

// ---- time limit ---------------------------------------------------------------------------------

/** Kills every child and exits once the run is past its limit; the limit grows as plans are known. */
class Watchdog {
  #deadline: number
  #timer: NodeJS.Timeout | undefined
  readonly #fixed: boolean

  constructor(seconds: number, fixed: boolean) {
    this.#fixed = fixed
    this.#deadline = Date.now() + seconds * 1000
    this.#arm()
  }

  extend(seconds: number): void {
    if (this.#fixed) return
    // 1.5×: loaders and gateways start slower on a busy machine than the plan assumes.
    this.#deadline = Math.max(this.#deadline, Date.now() + seconds * 1500)
    this.#arm()
  }

  #arm(): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(
      () => {
        log('run exceeded its time limit (--timeout): killing every child')
        killAllNow()
        process.exit(1)
      },
      Math.max(0, this.#deadline - Date.now()),
    )
    this.#timer.unref()
  }
}

// ---- main ---------------------------------------------------------------------------------------

async function preparePeers(
  options: Options,
  env: PeerEnv,
): Promise<{ ready: Peer[]; info: PeerInfo[] }> {
  const portcullis = {
    front: options.front,
    verifyThreads: options.verifyThreads,
    gatewayCmd: options.gatewayCmd,
  }
  const candidates = options.peers ? allPeers(portcullis) : [createPortcullisPeer(portcullis)]
  for (const name of options.peerNames ?? []) {
    if (!candidates.some((peer) => peer.name === name)) {
      throw new UsageError(
        `unknown peer ${name}; known: ${candidates.map((peer) => peer.name).join(', ')}`,
      )
    }
  }
  const ready: Peer[] = []
  const info: PeerInfo[] = []
  for (const peer of candidates) {
    if (options.peerNames !== undefined && !options.peerNames.includes(peer.name)) continue
    try {
      const version = await peer.prepare(env)
      ready.push(peer)
      info.push({ name: peer.name, version, setup: peer.describe(env) })
      log(`peer ${peer.name}: ${version}`)
    } catch (error) {
      const reason = firstLine(error)
      info.push({ name: peer.name, unavailable: reason })
      log(`peer ${peer.name} SKIPPED: ${reason}`)
    }
  }
  return { ready, info }
}

function wrkFor(options: Options): string | undefined {
  if (!options.wrk || options.saturation === 'autocannon') return undefined
  if (options.peers) {
    try {
      ensureDebianBinary('wrk', 'wrk', log)
    } catch (error) {
      log(`wrk unavailable (${firstLine(error)}): autocannon measures saturation`)
    }
  }
  return wrkVersion()
}

async function main(): Promise<number> {
  const options = parseCli(process.argv.slice(2))
  if (!existsSync('/proc/self/stat')) throw new Error('the bench reads /proc: Linux only')
  if (options.pin) {
    if (spawnSync('taskset', ['--version']).error !== undefined) {
      throw new UsageError('--pin needs taskset (util-linux)')
    }
    if (cpus().length < 2) throw new UsageError('--pin needs at least 2 cores')
  }
  const watchdog = new Watchdog(options.timeout ?? SETUP_BUDGET_S, options.timeout !== undefined)

  const work = mkdtempSync(join(tmpdir(), 'portcullis-bench-'))
  process.on('exit', () => {
    killAllNow()
    rmSync(work, { recursive: true, force: true })
  })
  const upstreamPort = options.portBase + 10
  const env: PeerEnv = {
    root: ROOT,
    workDir: work,
    upstream: { host: HOST, port: upstreamPort },
    workers: options.workers,
    log,
  }

  const peers = await preparePeers(options, env)
  const wrk = wrkFor(options)
  // Built here, before the harness is pinned, so the compile has every core.
  const paced = options.rateEngine === 'paced' ? pacedLoader(ROOT) : undefined
  if (paced !== undefined) {
    log(
      paced.kind === 'native'
        ? `paced loader: native (${paced.binary})`
        : `paced loader: Node (the native one did not build: ${paced.reason})`,
    )
  }
  const chosen = options.scenarios.map((name) => scenarios.get(name)!)
  // Keys and tokens first, on every core: 10 000 RS256 signatures take twice as long pinned.
  const prepared = new Map<Scenario, PreparedScenario>()
  for (const scenario of chosen) {
    log(`${scenario.name}: preparing (keys, tokens)`)
    prepared.set(
      scenario,
      await scenario.prepare({
        upstreamOrigin: `http://${HOST}:${upstreamPort}`,
        workDir: scenarioDir(work, scenario),
      }),
    )
  }
  if (options.pin) {
    // The harness samples /proc while the gateway runs: keep that off the gateway's core too.
    execFileSync('taskset', ['-a', '-p', '-c', LOAD_CPU, String(process.pid)], { stdio: 'ignore' })
  }

  if (await portAccepts(HOST, upstreamPort)) {
    throw new Error(
      `port ${upstreamPort} (upstream) is already in use on ${HOST}: stop whatever holds it`,
    )
  }
  const upstream = await startUpstream(options, ROOT, upstreamPort)
  log(`upstream ${options.upstream} ready (pid ${upstream.child.pid})`)

  const meta = runMeta(options, wrk, paced)
  let instances = 0
  let upstreamMeasured = false
  const reports: BenchReport[] = []
  /** `--scenario ratelimit`: the accuracy cases, run before its cost targets. */
  const accuracy = new Map<string, AccuracyResult>()
  for (const scenario of chosen) {
    const scenarioPrepared = prepared.get(scenario)!
    if (scenario.name === 'ratelimit' && !options.peers) {
      accuracy.set(
        scenario.name,
        await runAccuracy({
          root: ROOT,
          workDir: scenarioDir(work, scenario),
          upstreamOrigin: upstream.origin,
          portBase: options.portBase,
          budget: (seconds) => watchdog.extend(seconds),
        }),
      )
    }
    const hasUpstreamTarget = scenarioPrepared.targets.some((target) => target.via === 'upstream')
    const result = await runScenario(scenario, scenarioPrepared, {
      // The ratelimit cost is read from wrk's runs: autocannon would add minutes, not a figure.
      options:
        scenario.name === 'ratelimit' && options.saturation === 'both'
          ? { ...options, saturation: 'wrk' }
          : options,
      root: ROOT,
      upstream,
      peers: peers.ready,
      env,
      nextListen: () => listenFor(options.portBase, instances++),
      // The upstream alone does not change with the scenario: --peers measures it once.
      measureUpstream: !options.peers || !upstreamMeasured,
      wrk,
      budget: (seconds) => watchdog.extend(seconds),
      runMeta: meta,
    })
    if (hasUpstreamTarget) upstreamMeasured = true
    reports.push(result.report)
  }
  await upstream.child.stop(5000)

  const runsDir = join(ROOT, 'bench/.runs')
  mkdirSync(runsDir, { recursive: true })
  const stamp = new Date(startedAt()).toISOString().replace(/[:.]/g, '-')
  for (const report of reports) {
    // A peer that could not run fails no target, but the plain report must still say so.
    const unavailable = peers.info
      .filter((peer) => peer.unavailable !== undefined)
      .map((peer) => `peer ${peer.name} skipped: ${peer.unavailable}`)
    const table = renderMarkdown({ ...report, warnings: [...unavailable, ...report.warnings] })
    const extra = accuracy.get(report.meta.scenario)
    const markdown = extra === undefined ? table : renderRateLimitSection(extra, report, table)
    process.stdout.write(`\n${markdown}`)
    const name = options.peers ? `${stamp}-peers-${report.meta.scenario}` : stamp
    writeFileSync(join(runsDir, `${name}.md`), markdown)
    writeFileSync(join(runsDir, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`)
    log(`written bench/.runs/${name}.md and .json`)
    if (options.writeResults && !options.peers) {
      updateResultsFile(join(ROOT, 'bench/RESULTS.md'), report.meta.scenario, markdown)
      log('bench/RESULTS.md updated')
    }
  }
  if (options.peers) {
    const comparison = comparisonOf(
      {
        command: meta.command,
        startedAt: new Date(startedAt()).toISOString(),
        finishedAt: new Date().toISOString(),
        machine: meta.machine,
        node: meta.node,
        commit: meta.commit,
        layout: meta.layout,
        upstream: meta.upstream,
        workers: meta.workers,
        connections: meta.connections,
        runs: meta.runs,
        durationSeconds: meta.durationSeconds,
        warmupSeconds: meta.warmupSeconds,
        loaders: meta.loaders,
        rateEngine: meta.rateEngine,
        peers: peers.info,
      },
      reports,
    )
    writePeers(comparison, reports, stamp, options.writeResults, log)
  }

  const failed = reports.some((report) => report.targets.some((t) => t.status === 'failed'))
  return failed ? 1 : 0
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping every child`)
    void stopAll(1000).finally(() => process.exit(130))
  })
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`bench: ${error.message}\n\n${USAGE}`)
      process.exit(2)
    }
    log(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    killAllNow()
    process.exit(1)
  },
)
