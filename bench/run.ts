/**
 * `npm run bench -- [--scenario passthrough] [--workers N] [--duration 10] [--connections 64]
 *   [--rate R] [--pin] [--front uws|node] …` (see `--help`).
 *
 * Upstream, gateway and every loader run as separate processes so that each one's CPU is read from
 * its own /proc counters. Targets are measured in rounds (direct, passthrough, direct, …) so slow
 * drift on the machine lands on all of them alike; each figure is a median with its min–max.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, release, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { request, type Dispatcher } from 'undici'
import {
  Child,
  RssSampler,
  cpuDelta,
  descendants,
  describeExit,
  killAllNow,
  machineBusyTicks,
  portAccepts,
  reapedChildrenCpuTicks,
  clockTicksPerSecond,
  sleep,
  snapshotCpu,
  stopAll,
  type CpuSnapshot,
} from './processes.js'
import type { LoadEngine, LoadResult, LoadSpec, LoaderLine } from './protocol.js'
import {
  medianOf,
  renderMarkdown,
  updateResultsFile,
  type BenchReport,
  type Phase,
  type RunRecord,
  type TargetReport,
} from './report.js'
import { scenarios } from './scenarios/index.js'
import type { ScenarioContext, ScenarioTarget } from './scenarios/types.js'
import { parseWrkOutput, writeWrkScript, wrkArgs, wrkVersion } from './wrk.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const HOST = '127.0.0.1'
/** Gateway, its status listener and the upstream, from `--port-base` (default 18080). */
let PORTS = { gateway: 18080, status: 18081, upstream: 18090 }
/** Core layout under --pin: the gateway alone on one core, everything else on the other. */
const GATEWAY_CPU = '0'
const LOAD_CPU = '1'
/** A process this close to its CPU ceiling is taken to be the bottleneck. */
const LIMIT = 0.9
const REQUEST_TIMEOUT_S = 10
/** CPU used by processes outside the run above which a window is flagged NOISY, in cores. */
const NOISE = 0.1

const USAGE = `usage: npm run bench -- [options]

  --scenario NAME       ${[...scenarios.keys()].join(', ')} (default passthrough)
  --targets a,b         measure only these targets of the scenario (e.g. direct)
  --workers N           gateway --workers (default 1; 0 = single process)
  --front uws|node      gateway --front (default: the gateway's own default)
  --duration S          measured seconds per run (default 10)
  --warmup S            warm-up seconds before each measured run (default 2)
  --runs N              runs per target and phase, interleaved (default 3)
  --connections N       connections for every loader (default 64)
  --rate R              fixed offered rate for the latency runs (default: half the slowest
                        gateway target's saturation median)
  --rate-engine E       paced (default: open loop, evenly spaced) or autocannon (overallRate)
  --loaders N           autocannon processes for saturation runs (default 1)
  --no-wrk              skip the wrk saturation runs even if wrk is installed
  --pin                 gateway on core ${GATEWAY_CPU}; upstream, loaders and this harness on core ${LOAD_CPU}
  --upstream uws|node   bench upstream implementation (default uws)
  --gateway-cmd "CMD"   run CMD instead of the portcullis CLI; {config} {workers} {front} {port}
                        {status_port} {upstream} are substituted; ready when the port accepts
  --write-results       also update bench/RESULTS.md between the scenario's markers
  --timeout S           hard limit for the whole run (default: estimated from the plan)
  --port-base P         gateway on P, status on P+1, upstream on P+10 (default 18080)
`

interface Options {
  readonly scenario: string
  readonly targets: readonly string[] | undefined
  readonly workers: number
  readonly front: 'uws' | 'node' | undefined
  readonly duration: number
  readonly warmup: number
  readonly runs: number
  readonly connections: number
  readonly rate: number | undefined
  readonly rateEngine: 'paced' | 'autocannon'
  readonly loaders: number
  readonly wrk: boolean
  readonly pin: boolean
  readonly upstream: 'uws' | 'node'
  readonly gatewayCmd: string | undefined
  readonly writeResults: boolean
  readonly timeout: number | undefined
  readonly portBase: number
}

class UsageError extends Error {}

function parseCli(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      scenario: { type: 'string', default: 'passthrough' },
      targets: { type: 'string' },
      workers: { type: 'string', default: '1' },
      front: { type: 'string' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      runs: { type: 'string', default: '3' },
      connections: { type: 'string', default: '64' },
      rate: { type: 'string' },
      'rate-engine': { type: 'string', default: 'paced' },
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
  return {
    scenario: values.scenario,
    targets: values.targets
      ?.split(',')
      .map((name) => name.trim())
      .filter((name) => name !== ''),
    workers: Math.floor(number('workers', values.workers, 0)),
    front: oneOf('front', values.front, ['uws', 'node'] as const),
    duration: number('duration', values.duration, 1),
    warmup: number('warmup', values.warmup, 0),
    runs: Math.floor(number('runs', values.runs, 1)),
    connections: Math.floor(number('connections', values.connections, 1)),
    rate: values.rate === undefined ? undefined : number('rate', values.rate, 1),
    rateEngine:
      oneOf('rate-engine', values['rate-engine'], ['paced', 'autocannon'] as const) ?? 'paced',
    loaders: Math.floor(number('loaders', values.loaders, 1)),
    wrk: !values['no-wrk'],
    pin: values.pin,
    upstream: oneOf('upstream', values.upstream, ['uws', 'node'] as const) ?? 'uws',
    gatewayCmd: values['gateway-cmd'],
    writeResults: values['write-results'],
    timeout: values.timeout === undefined ? undefined : number('timeout', values.timeout, 10),
    portBase: Math.floor(number('port-base', values['port-base'], 1024)),
  }
}

const started = Date.now()
function log(message: string): void {
  process.stderr.write(`[bench +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}\n`)
}

function firstLine(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

const pct = (cores: number): string => `${Math.round(cores * 100)} %`

// ---- processes of the run -----------------------------------------------------------------------

interface Upstream {
  readonly child: Child
  readonly origin: string
}

async function startUpstream(options: Options): Promise<Upstream> {
  const child = new Child({
    name: `upstream (${options.upstream})`,
    command: process.execPath,
    args: [
      join(ROOT, 'dist/bench/upstream.js'),
      '--impl',
      options.upstream,
      '--host',
      HOST,
      '--port',
      String(PORTS.upstream),
    ],
    ...(options.pin ? { cpus: LOAD_CPU } : {}),
    cwd: ROOT,
  })
  await child.waitForLine(
    (line) => (line.includes('"event":"ready"') ? true : undefined),
    15_000,
    'ready line',
  )
  return { child, origin: `http://${HOST}:${PORTS.upstream}` }
}

interface Gateway {
  readonly child: Child
  readonly origin: string
  readonly command: string
  /** Pids from the startup line; the primary and its descendants are added at every read. */
  readonly announcedPids: readonly number[]
  readonly readySignal: 'startup line' | 'port'
}

function gatewayCommand(options: Options, config: string): string[] {
  if (options.gatewayCmd === undefined) {
    return [
      process.execPath,
      join(ROOT, 'dist/src/cli/main.js'),
      'start',
      '--config',
      config,
      '--workers',
      String(options.workers),
      ...(options.front === undefined ? [] : ['--front', options.front]),
    ]
  }
  const substitutions: Record<string, string> = {
    config,
    workers: String(options.workers),
    front: options.front ?? 'uws',
    port: String(PORTS.gateway),
    status_port: String(PORTS.status),
    upstream: `http://${HOST}:${PORTS.upstream}`,
  }
  return options.gatewayCmd
    .trim()
    .split(/\s+/)
    .map((word) => word.replace(/\{(\w+)\}/g, (whole, key: string) => substitutions[key] ?? whole))
}

function parseStartupLine(line: string): readonly number[] | undefined {
  if (!line.includes('portcullis started')) return undefined
  try {
    const parsed: unknown = JSON.parse(line)
    if (typeof parsed !== 'object' || parsed === null) return undefined
    const record = parsed as Record<string, unknown>
    if (record['msg'] !== 'portcullis started') return undefined
    const pids = record['pids']
    return Array.isArray(pids) ? pids.filter((pid): pid is number => Number.isInteger(pid)) : []
  } catch {
    return undefined
  }
}

async function startGateway(options: Options, config: string): Promise<Gateway> {
  const entry = join(ROOT, 'dist/src/cli/main.js')
  if (options.gatewayCmd === undefined && !existsSync(entry)) {
    throw new Error(
      `${entry} does not exist: the gateway CLI (src/cli/main.ts) is not built. ` +
        'Build it, or pass --gateway-cmd to measure another proxy.',
    )
  }
  const [command, ...args] = gatewayCommand(options, config)
  if (command === undefined) throw new UsageError('--gateway-cmd is empty')
  const child = new Child({
    name: 'gateway',
    command,
    args,
    ...(options.pin ? { cpus: GATEWAY_CPU } : {}),
    cwd: ROOT,
  })
  const commandText = [command === process.execPath ? 'node' : command, ...args].join(' ')
  let announced: readonly number[] | undefined
  const off = child.onLine((line) => {
    announced ??= parseStartupLine(line)
  })
  const deadline = Date.now() + 30_000
  let portOpenAt: number | undefined
  try {
    for (;;) {
      if (announced !== undefined) break
      if (child.exitInfo !== undefined) {
        throw new Error(
          `gateway exited (${describeExit(child.exitInfo)}) before it was ready\n${child.tail()}`,
        )
      }
      if (Date.now() > deadline) {
        throw new Error(
          `gateway not ready within 30 s (no startup line, port ${PORTS.gateway} closed)\n${child.tail()}`,
        )
      }
      if (await portAccepts(HOST, PORTS.gateway, 200)) {
        portOpenAt ??= Date.now()
        // Our own CLI promises a startup line once every listener is bound: give it a moment.
        if (options.gatewayCmd !== undefined || Date.now() - portOpenAt > 3000) break
      }
      await sleep(100)
    }
  } catch (error) {
    off()
    await child.stop(2000)
    throw error
  }
  off()
  return {
    child,
    origin: `http://${HOST}:${PORTS.gateway}`,
    command: commandText,
    announcedPids: announced ?? [],
    readySignal: announced === undefined ? 'port' : 'startup line',
  }
}

function gatewayPids(gateway: Gateway): number[] {
  const pids = new Set<number>([gateway.child.pid, ...gateway.announcedPids])
  for (const pid of descendants(gateway.child.pid)) pids.add(pid)
  return [...pids]
}

/** A few requests of the target's list, one at a time, before any load: a 401 or a 404 measured at
 * full speed would look like a fast gateway. */
async function probe(origin: string, target: ScenarioTarget): Promise<void> {
  const accept = target.acceptStatus ?? [200]
  for (const item of target.requests.slice(0, 20)) {
    let status: number
    let text: string
    try {
      const response = await request(`${origin}${item.path}`, {
        method: item.method as Dispatcher.HttpMethod,
        ...(item.headers === undefined ? {} : { headers: { ...item.headers } }),
        ...(item.body === undefined ? {} : { body: item.body }),
        headersTimeout: 5000,
        bodyTimeout: 5000,
      })
      status = response.statusCode
      text = await response.body.text()
    } catch (error) {
      throw new Error(`probe ${item.method} ${origin}${item.path} failed: ${firstLine(error)}`)
    }
    if (!accept.includes(status)) {
      throw new Error(
        `probe ${item.method} ${origin}${item.path} answered ${status} (accepted: ${accept.join(', ')}): ${text.slice(0, 300)}`,
      )
    }
  }
}

// ---- one measured run ---------------------------------------------------------------------------

interface Window {
  readonly wallSeconds: number
  /** CPU seconds of the whole machine and of this harness over the window. */
  readonly machineCpu: number
  readonly harnessCpu: number
  readonly gatewayCpu?: number
  readonly upstreamCpu: number
  readonly lostGatewayPids: readonly number[]
  readonly gatewayRss?: RunRecord['rss']['gateway']
  readonly upstreamRss: RunRecord['rss']['upstream']
}

interface Measured {
  readonly result: LoadResult
  /** CPU seconds of each loader process over the window. */
  readonly loaderCpu: readonly number[]
  /** Cores each loader process could use: its ceiling for LOADER-LIMITED. */
  readonly loaderCap: number
  readonly label: string
  readonly window: Window
}

class Harness {
  private specCount = 0

  constructor(
    private readonly options: Options,
    private readonly work: string,
    private readonly upstream: Upstream,
    private readonly gateway: Gateway | undefined,
  ) {}

  private originOf(target: ScenarioTarget): string {
    if (target.via === 'upstream') return this.upstream.origin
    if (this.gateway === undefined) throw new Error('gateway is not running')
    return this.gateway.origin
  }

  /**
   * Brackets `body` (which starts the load and resolves when it is over) with CPU counters and RSS
   * sampling of the gateway and upstream processes.
   */
  private async window<T>(
    target: ScenarioTarget,
    body: (begin: () => void) => Promise<T>,
  ): Promise<{ value: T; window: Window }> {
    const withGateway = target.via === 'gateway' && this.gateway !== undefined
    const gatewayPidsAtStart = withGateway ? gatewayPids(this.gateway!) : []
    const upstreamPids = [this.upstream.child.pid]
    const gatewayRss = withGateway ? new RssSampler(() => gatewayPidsAtStart) : undefined
    const upstreamRss = new RssSampler(() => upstreamPids)
    let gatewayBefore: CpuSnapshot = new Map()
    let upstreamBefore: CpuSnapshot = new Map()
    let t0 = 0
    let machineBefore = 0
    let harnessBefore = process.cpuUsage()
    const value = await body(() => {
      gatewayBefore = snapshotCpu(gatewayPidsAtStart)
      upstreamBefore = snapshotCpu(upstreamPids)
      machineBefore = machineBusyTicks()
      harnessBefore = process.cpuUsage()
      t0 = performance.now()
    })
    const wallSeconds = (performance.now() - t0) / 1000
    const machineCpu = (machineBusyTicks() - machineBefore) / clockTicksPerSecond()
    const harness = process.cpuUsage(harnessBefore)
    const harnessCpu = (harness.user + harness.system) / 1e6
    const gatewayAfterPids = withGateway
      ? [...new Set([...gatewayPidsAtStart, ...gatewayPids(this.gateway!)])]
      : []
    const gatewayCpu = withGateway
      ? cpuDelta(gatewayBefore, snapshotCpu(gatewayAfterPids))
      : undefined
    const upstreamCpu = cpuDelta(upstreamBefore, snapshotCpu(upstreamPids))
    return {
      value,
      window: {
        wallSeconds,
        machineCpu,
        harnessCpu,
        ...(gatewayCpu === undefined ? {} : { gatewayCpu: gatewayCpu.seconds }),
        upstreamCpu: upstreamCpu.seconds,
        lostGatewayPids: gatewayCpu?.lostPids ?? [],
        ...(gatewayRss === undefined ? {} : { gatewayRss: gatewayRss.stop() }),
        upstreamRss: upstreamRss.stop(),
      },
    }
  }

  /** autocannon or paced, through bench/load.ts children. */
  async runLoader(target: ScenarioTarget, engine: LoadEngine, processes: number, rate?: number) {
    const { options } = this
    const origin = this.originOf(target)
    const connections = Math.max(1, Math.floor(options.connections / processes))
    const children: Child[] = []
    try {
      for (let index = 0; index < processes; index++) {
        const spec: LoadSpec = {
          engine,
          origin,
          requests: target.requests,
          connections,
          ...(rate === undefined ? {} : { rate: rate / processes }),
          warmupSeconds: options.warmup,
          durationSeconds: options.duration,
          timeoutSeconds: REQUEST_TIMEOUT_S,
        }
        const file = join(this.work, `load-${++this.specCount}.json`)
        writeFileSync(file, JSON.stringify(spec))
        children.push(
          new Child({
            name: `loader ${index + 1}`,
            command: process.execPath,
            args: [join(ROOT, 'dist/bench/load.js'), file],
            ...(options.pin ? { cpus: LOAD_CPU } : {}),
            cwd: ROOT,
          }),
        )
      }
      const line = (wanted: LoaderLine['event']) => (text: string) => {
        if (!text.startsWith('{')) return undefined
        const parsed = JSON.parse(text) as LoaderLine
        if (parsed.event === 'error') throw new Error(`loader: ${parsed.message}`)
        return parsed.event === wanted ? parsed : undefined
      }
      const warmMs = (options.warmup + REQUEST_TIMEOUT_S + 30) * 1000
      await Promise.all(
        children.map((child) => child.waitForLine(line('warmed'), warmMs, 'warm-up')),
      )
      const runMs = (options.duration + 2 * REQUEST_TIMEOUT_S + 30) * 1000
      let loaderBefore: CpuSnapshot = new Map()
      const { value: lines, window } = await this.window(target, (begin) => {
        const results = Promise.all(
          children.map((child) => child.waitForLine(line('result'), runMs, 'result')),
        )
        loaderBefore = snapshotCpu(children.map((child) => child.pid))
        begin()
        for (const child of children) child.send('go')
        return results
      })
      const loaderAfter = snapshotCpu(children.map((child) => child.pid))
      const loaderCpu = children.map(
        (child) =>
          cpuDelta(
            new Map([[child.pid, loaderBefore.get(child.pid) ?? 0]]),
            new Map([[child.pid, loaderAfter.get(child.pid) ?? 0]]),
          ).seconds,
      )
      await Promise.all(children.map((child) => child.exited))
      const results = lines.map((parsed) => (parsed.event === 'result' ? parsed.result : undefined))
      return {
        result: combine(results.filter((result): result is LoadResult => result !== undefined)),
        loaderCpu,
        // autocannon and the paced loader drive everything from one JS thread.
        loaderCap: 1,
        label: engine === 'paced' ? 'paced' : `${engine} ×${processes}`,
        window,
      } satisfies Measured
    } finally {
      for (const child of children) if (child.exitInfo === undefined) await child.stop(1000)
    }
  }

  async runWrk(target: ScenarioTarget, script: string): Promise<Measured> {
    const { options } = this
    const origin = this.originOf(target)
    // Under --pin wrk shares one core with the upstream: a second thread would only contend.
    const threads = options.pin ? 1 : 2
    const base = {
      origin,
      path: target.requests[0]!.path,
      connections: options.connections,
      threads,
      timeoutSeconds: REQUEST_TIMEOUT_S,
      script,
    }
    const cpuOpt = options.pin ? { cpus: LOAD_CPU } : {}
    const runWrk = async (seconds: number): Promise<string> => {
      const child = new Child({
        name: 'wrk',
        command: 'wrk',
        args: wrkArgs({ ...base, seconds }),
        ...cpuOpt,
      })
      const lines: string[] = []
      child.onLine((text) => lines.push(text))
      const timer = setTimeout(
        () => void child.stop(1000),
        (seconds + REQUEST_TIMEOUT_S + 30) * 1000,
      )
      const info = await child.exited
      clearTimeout(timer)
      if (info.code !== 0) throw new Error(`wrk exited (${describeExit(info)})\n${child.tail()}`)
      return lines.join('\n')
    }
    if (options.warmup > 0) await runWrk(Math.max(1, Math.round(options.warmup)))
    let reapedBefore = 0
    const { value: stdout, window } = await this.window(target, (begin) => {
      // wrk is gone by the time its counters could be read from /proc; once reaped, its CPU
      // shows up in this process's cutime/cstime instead.
      reapedBefore = reapedChildrenCpuTicks()
      begin()
      return runWrk(Math.max(1, Math.round(options.duration)))
    })
    const loaderSeconds = (reapedChildrenCpuTicks() - reapedBefore) / clockTicksPerSecond()
    return {
      result: parseWrkOutput(stdout),
      loaderCpu: [loaderSeconds],
      loaderCap: options.pin ? 1 : Math.min(threads, cpus().length),
      label: `wrk -t${threads}`,
      window,
    }
  }
}

/** Several loader processes as one: counts add up; latency only from a lone loader, since
 * percentiles of separate histograms cannot be merged. */
function combine(results: readonly LoadResult[]): LoadResult {
  if (results.length === 1) return results[0]!
  const statusCounts: Record<string, number> = {}
  for (const result of results) {
    for (const [code, count] of Object.entries(result.statusCounts)) {
      statusCounts[code] = (statusCounts[code] ?? 0) + count
    }
  }
  return {
    engine: results[0]!.engine,
    elapsedSeconds: Math.max(...results.map((result) => result.elapsedSeconds)),
    completed: results.reduce((sum, result) => sum + result.completed, 0),
    errors: results.reduce((sum, result) => sum + result.errors, 0),
    timeouts: results.reduce((sum, result) => sum + result.timeouts, 0),
    statusCounts,
    latencyMs: undefined,
  }
}

function record(
  options: Options,
  target: ScenarioTarget,
  phase: Phase,
  rep: number,
  measured: Measured,
  rate: number | undefined,
): RunRecord {
  const { result, window } = measured
  const accept = (target.acceptStatus ?? [200]).map(String)
  const unexpectedStatus = Object.entries(result.statusCounts)
    .filter(([code]) => !accept.includes(code))
    .reduce((sum, [, count]) => sum + count, 0)
  const wall = window.wallSeconds > 0 ? window.wallSeconds : options.duration
  const perRequest = (seconds: number): number =>
    result.completed > 0 ? (seconds * 1e6) / result.completed : Number.NaN
  const loaderCores = measured.loaderCpu.reduce((sum, seconds) => sum + seconds, 0) / wall
  const upstreamCores = window.upstreamCpu / wall
  const gatewayCores = window.gatewayCpu === undefined ? undefined : window.gatewayCpu / wall
  const rps = result.elapsedSeconds > 0 ? result.completed / result.elapsedSeconds : 0
  const ownSeconds =
    (window.gatewayCpu ?? 0) +
    window.upstreamCpu +
    measured.loaderCpu.reduce((sum, seconds) => sum + seconds, 0) +
    window.harnessCpu
  const otherCores = Math.max(0, window.machineCpu - ownSeconds) / wall

  const flags = new Set<string>()
  const notes: string[] = []
  measured.loaderCpu.forEach((seconds, index) => {
    const cores = seconds / wall
    if (cores >= LIMIT * measured.loaderCap) {
      flags.add('LOADER-LIMITED')
      notes.push(
        `${measured.label} process ${index + 1} used ${pct(cores)} of its ${measured.loaderCap} core(s)`,
      )
    }
  })
  if (options.pin && loaderCores + upstreamCores >= LIMIT) {
    flags.add('LOADER-LIMITED')
    notes.push(
      `core ${LOAD_CPU} (loader ${pct(loaderCores)} + upstream ${pct(upstreamCores)}) was saturated: ` +
        `the load side${target.via === 'gateway' ? ', not the gateway,' : ''} set this figure`,
    )
  }
  if (!options.pin && loaderCores + upstreamCores + (gatewayCores ?? 0) >= LIMIT * cpus().length) {
    flags.add('MACHINE-SATURATED')
    notes.push(
      `unpinned and every core busy (gateway ${pct(gatewayCores ?? 0)}, upstream ${pct(upstreamCores)}, ` +
        `loader ${pct(loaderCores)}): the processes competed for CPU`,
    )
  }
  if (otherCores >= NOISE) {
    flags.add('NOISY')
    notes.push(
      `processes outside the run used ${pct(otherCores)} of a core meanwhile: the machine was shared`,
    )
  }
  if (result.errors > 0 || unexpectedStatus > 0) {
    flags.add('ERRORS')
    notes.push(
      `${result.errors} connection errors/timeouts, ${unexpectedStatus} unexpected statuses ` +
        `(${JSON.stringify(result.statusCounts)})`,
    )
  }
  if (phase === 'fixed-rate' && rate !== undefined && rps < 0.95 * rate) {
    flags.add('RATE-NOT-MET')
    notes.push(`offered ${Math.round(rate)} req/s, completed ${Math.round(rps)} req/s`)
  }
  if (result.maxSendLagMs !== undefined && result.maxSendLagMs > 20) {
    notes.push(
      `the paced loader ran up to ${result.maxSendLagMs.toFixed(0)} ms behind its schedule`,
    )
  }
  if (window.lostGatewayPids.length > 0) {
    notes.push(
      `gateway pids ${window.lostGatewayPids.join(', ')} exited mid-run: CPU figure is low`,
    )
  }

  return {
    target: target.name,
    phase,
    rep,
    loader: measured.label,
    elapsedSeconds: result.elapsedSeconds,
    completed: result.completed,
    rps,
    errors: result.errors,
    unexpectedStatus,
    statusCounts: result.statusCounts,
    ...(result.latencyMs === undefined ? {} : { latencyMs: result.latencyMs }),
    ...(result.scheduledLatencyMs === undefined
      ? {}
      : { scheduledLatencyMs: result.scheduledLatencyMs }),
    ...(result.offeredRate === undefined ? {} : { offeredRate: result.offeredRate }),
    ...(result.maxSendLagMs === undefined ? {} : { maxSendLagMs: result.maxSendLagMs }),
    cpu: {
      ...(window.gatewayCpu === undefined
        ? {}
        : { gatewayUsPerReq: perRequest(window.gatewayCpu), gatewayCores: gatewayCores! }),
      upstreamUsPerReq: perRequest(window.upstreamCpu),
      upstreamCores,
      loaderCores,
      otherCores,
    },
    rss: {
      ...(window.gatewayRss === undefined ? {} : { gateway: window.gatewayRss }),
      upstream: window.upstreamRss,
    },
    flags: [...flags],
    notes,
  }
}

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

function estimateSeconds(options: Options, targets: number, phases: number): number {
  const perRun = options.warmup + options.duration + 3
  return perRun * phases * options.runs * targets + 60
}

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const options = parseCli(process.argv.slice(2))
  if (options.portBase > 65525) throw new UsageError('--port-base must leave room for +10')
  PORTS = {
    gateway: options.portBase,
    status: options.portBase + 1,
    upstream: options.portBase + 10,
  }
  const scenario = scenarios.get(options.scenario)
  if (scenario === undefined) {
    throw new UsageError(
      `unknown scenario ${options.scenario}; known: ${[...scenarios.keys()].join(', ')}`,
    )
  }
  if (!existsSync('/proc/self/stat')) throw new Error('the bench reads /proc: Linux only')
  if (options.pin) {
    if (spawnSync('taskset', ['--version']).error !== undefined) {
      throw new UsageError('--pin needs taskset (util-linux)')
    }
    if (cpus().length < 2) throw new UsageError('--pin needs at least 2 cores')
    // The harness samples /proc while the gateway runs: keep that off the gateway's core too.
    execFileSync('taskset', ['-a', '-p', '-c', LOAD_CPU, String(process.pid)], { stdio: 'ignore' })
  }

  const work = mkdtempSync(join(tmpdir(), 'portcullis-bench-'))
  process.on('exit', () => {
    killAllNow()
    rmSync(work, { recursive: true, force: true })
  })

  const context: ScenarioContext = {
    upstreamOrigin: `http://${HOST}:${PORTS.upstream}`,
    gatewayHost: HOST,
    gatewayPort: PORTS.gateway,
    statusPort: PORTS.status,
    workDir: work,
  }
  const prepared = await scenario.prepare(context)
  const selected = prepared.targets.filter(
    (target) => options.targets === undefined || options.targets.includes(target.name),
  )
  for (const name of options.targets ?? []) {
    if (!prepared.targets.some((target) => target.name === name)) {
      throw new UsageError(
        `scenario ${scenario.name} has no target ${name}; it has ${prepared.targets.map((t) => t.name).join(', ')}`,
      )
    }
  }
  const config = join(work, 'gateway.yaml')
  writeFileSync(config, prepared.gatewayConfig)

  const wrk = options.wrk ? wrkVersion() : undefined
  const phases = 2 + (wrk === undefined ? 0 : 1)
  const budget =
    options.timeout ?? Math.ceil(estimateSeconds(options, selected.length, phases) * 1.5 + 60)
  setTimeout(() => {
    log(`run exceeded its ${budget} s limit (--timeout): killing every child`)
    killAllNow()
    process.exit(1)
  }, budget * 1000).unref()
  log(
    `scenario ${scenario.name}: targets ${selected.map((t) => t.name).join(', ')}; ` +
      `${options.runs} runs × ${phases} phases × (${options.warmup}+${options.duration} s); limit ${budget} s`,
  )

  const needGateway = selected.some((target) => target.via === 'gateway')
  for (const [what, port] of [
    ['upstream', PORTS.upstream],
    ...(needGateway
      ? [['gateway', PORTS.gateway] as const, ['gateway status', PORTS.status] as const]
      : []),
  ] as const) {
    if (await portAccepts(HOST, port)) {
      throw new Error(`port ${port} (${what}) is already in use on ${HOST}: stop whatever holds it`)
    }
  }

  const warnings: string[] = []
  const state = new Map<string, { target: ScenarioTarget; error?: string; runs: RunRecord[] }>()
  for (const target of selected) state.set(target.name, { target, runs: [] })
  const fail = (target: ScenarioTarget, error: string): void => {
    log(`${target.name}: FAILED: ${error}`)
    state.get(target.name)!.error ??= error
  }
  const active = (): ScenarioTarget[] =>
    selected.filter((target) => state.get(target.name)!.error === undefined)

  const upstream = await startUpstream(options)
  log(`upstream ${options.upstream} ready (pid ${upstream.child.pid})`)

  let gateway: Gateway | undefined
  let gatewayCommandText = gatewayCommand(options, config)
    .join(' ')
    .replace(process.execPath, 'node')
  if (needGateway) {
    try {
      gateway = await startGateway(options, config)
      gatewayCommandText = gateway.command
      log(`gateway ready by ${gateway.readySignal}; pids ${gatewayPids(gateway).join(', ')}`)
      if (gateway.readySignal === 'port' && options.gatewayCmd === undefined) {
        warnings.push(
          'the gateway opened its port but printed no `"msg":"portcullis started"` line',
        )
      }
    } catch (error) {
      for (const target of selected) if (target.via === 'gateway') fail(target, firstLine(error))
    }
  }

  for (const target of active()) {
    try {
      await probe(target.via === 'upstream' ? upstream.origin : gateway!.origin, target)
    } catch (error) {
      fail(target, firstLine(error))
    }
  }

  const harness = new Harness(options, work, upstream, gateway)
  const measure = async (
    target: ScenarioTarget,
    phase: Phase,
    rep: number,
    run: () => Promise<Measured>,
    rate?: number,
  ) => {
    const entry = state.get(target.name)!
    if (entry.error !== undefined) return
    try {
      const measured = await run()
      const result = record(options, target, phase, rep, measured, rate)
      entry.runs.push(result)
      const latency =
        result.latencyMs === undefined
          ? ''
          : `, p50 ${result.latencyMs.p50.toFixed(2)} ms, p99 ${result.latencyMs.p99.toFixed(2)} ms`
      log(
        `${phase} #${rep} ${target.name} [${measured.label}]: ${Math.round(result.rps)} req/s${latency}` +
          `${result.cpu.gatewayUsPerReq === undefined ? '' : `, gateway ${result.cpu.gatewayUsPerReq.toFixed(1)} µs/req`}` +
          `, loader ${pct(result.cpu.loaderCores)}${result.flags.length > 0 ? ` [${result.flags.join(' ')}]` : ''}`,
      )
    } catch (error) {
      fail(target, `${phase} run ${rep}: ${firstLine(error)}`)
    }
    // A target that died mid-run (its process exited) fails every later run the same way.
    if (target.via === 'gateway' && gateway?.child.exitInfo !== undefined) {
      fail(
        target,
        `gateway exited (${describeExit(gateway.child.exitInfo)})\n${gateway.child.tail()}`,
      )
    }
  }

  for (let rep = 1; rep <= options.runs; rep++) {
    for (const target of active()) {
      await measure(target, 'saturation', rep, () =>
        harness.runLoader(target, 'autocannon', options.loaders),
      )
    }
  }

  if (wrk !== undefined) {
    const scripts = new Map<string, string>()
    for (const target of active()) {
      const file = join(work, `wrk-${target.name}.lua`)
      writeWrkScript(file, target.requests)
      scripts.set(target.name, file)
    }
    for (let rep = 1; rep <= options.runs; rep++) {
      for (const target of active()) {
        await measure(target, 'saturation-wrk', rep, () =>
          harness.runWrk(target, scripts.get(target.name)!),
        )
      }
    }
  } else if (options.wrk) {
    warnings.push(
      'wrk is not installed (apt-get install wrk): saturation measured with autocannon only',
    )
  }

  let rate: BenchReport['rate']
  const saturation = (name: string) =>
    medianOf(
      state.get(name)!.runs.filter((run) => run.phase === 'saturation'),
      (run) => run.rps,
    )
  if (options.rate !== undefined) {
    rate = { value: options.rate, source: 'set by --rate' }
  } else {
    const gatewaySat = active()
      .filter((target) => target.via === 'gateway')
      .map((target) => ({ name: target.name, median: saturation(target.name)?.median }))
      .filter((entry): entry is { name: string; median: number } => entry.median !== undefined)
      .sort((a, b) => a.median - b.median)
    const slowest = gatewaySat[0]
    const base = active().find((target) => target.via === 'upstream')
    const baseSat = base === undefined ? undefined : saturation(base.name)?.median
    if (slowest !== undefined) {
      rate = {
        value: Math.max(1, Math.round(slowest.median / 2)),
        source: `half the ${slowest.name} saturation median`,
      }
    } else if (base !== undefined && baseSat !== undefined) {
      rate = {
        value: Math.max(1, Math.round(baseSat / 2)),
        source: `half the ${base.name} saturation median: no gateway target was measured`,
      }
    }
  }
  if (rate !== undefined) {
    const engine: LoadEngine = options.rateEngine === 'paced' ? 'paced' : 'autocannon-rate'
    log(`fixed-rate runs at ${rate.value} req/s (${rate.source}), ${engine}`)
    for (let rep = 1; rep <= options.runs; rep++) {
      for (const target of active()) {
        await measure(
          target,
          'fixed-rate',
          rep,
          () => harness.runLoader(target, engine, 1, rate.value),
          rate.value,
        )
      }
    }
  }

  if (gateway !== undefined) {
    const info = await gateway.child.stop(10_000)
    if (
      info.code !== 0 &&
      gateway.child.exitInfo !== undefined &&
      options.gatewayCmd === undefined
    ) {
      warnings.push(`the gateway did not exit 0 on SIGTERM (${describeExit(info)})`)
    }
  }
  await upstream.child.stop(5000)

  const targets: TargetReport[] = selected.map((target) => {
    const entry = state.get(target.name)!
    return {
      name: target.name,
      via: target.via,
      status: entry.error === undefined ? 'ok' : 'failed',
      ...(entry.error === undefined ? {} : { error: entry.error }),
      runs: entry.runs,
    }
  })
  const startedAt = new Date(started).toISOString()
  const loaders = [
    `autocannon ${autocannonVersion()} (${options.loaders} process${options.loaders > 1 ? 'es' : ''})`,
    ...(wrk === undefined
      ? []
      : [`wrk ${wrk} (${options.pin ? 1 : 2} thread${options.pin ? '' : 's'})`]),
  ].join(', ')
  const report: BenchReport = {
    meta: {
      scenario: scenario.name,
      description: scenario.description,
      startedAt,
      command: `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
      machine: machine(),
      node: process.version,
      commit: commit(),
      layout: options.pin
        ? `pinned: gateway on core ${GATEWAY_CPU}; upstream, loaders and harness on core ${LOAD_CPU}`
        : 'unpinned: every process on every core',
      gatewayCommand: needGateway ? gatewayCommandText.replace(work, '$TMP') : '(not run)',
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
      phases: [
        'saturation',
        ...(wrk === undefined ? [] : (['saturation-wrk'] as const)),
        ...(rate === undefined ? [] : (['fixed-rate'] as const)),
      ],
      rateEngine:
        options.rateEngine === 'paced'
          ? 'paced open-loop loader (bench/paced-client.ts), latency from hand-off to the client to the last byte'
          : 'autocannon overallRate (per-connection bursts each second)',
    },
    ...(rate === undefined ? {} : { rate }),
    targets,
    warnings,
  }

  const markdown = renderMarkdown(report)
  process.stdout.write(`\n${markdown}`)
  const runsDir = join(ROOT, 'bench/.runs')
  mkdirSync(runsDir, { recursive: true })
  const stamp = startedAt.replace(/[:.]/g, '-')
  writeFileSync(join(runsDir, `${stamp}.md`), markdown)
  writeFileSync(join(runsDir, `${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`)
  log(`written bench/.runs/${stamp}.md and .json`)
  if (options.writeResults) {
    updateResultsFile(join(ROOT, 'bench/RESULTS.md'), scenario.name, markdown)
    log('bench/RESULTS.md updated')
  }
  return targets.some((target) => target.status === 'failed') ? 1 : 0
}

function autocannonVersion(): string {
  try {
    const text = readFileSync(join(ROOT, 'node_modules/autocannon/package.json'), 'utf8')
    return (JSON.parse(text) as { version?: string }).version ?? '?'
  } catch {
    return '?'
  }
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
