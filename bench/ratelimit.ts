/**
 * Accuracy half of `--scenario ratelimit`: how many requests a cluster admits on one key against
 * what its limit allows, for each way the members share counters.
 *
 * Per case: a fresh redis-server when the mode uses one, fresh gateways (so no counter carries
 * over), a probe on another key, a pause for gossip members to hear each other, then one wrk per
 * gateway instance hammering the same `x-client` value for `DURATION_S`, all at once. 200s and
 * 429s are counted by wrk itself (a Lua `response` hook), so nothing the gateway reports is
 * trusted. Everything is stopped before the next case, also on failure.
 */
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { listenFor, probe, startInstance, type Instance } from './instances.js'
import { HOST, REQUEST_TIMEOUT_S, firstLine, log } from './options.js'
import { createPortcullisPeer } from './peers/portcullis.js'
import { Child, describeExit, portAccepts, sleep } from './processes.js'
import {
  medianOf,
  spread,
  type BenchReport,
  type Phase,
  type Spread,
  type TargetReport,
} from './report.js'
import { benchPreamble } from './scenarios/passthrough.js'
import { CLIENT_HEADER } from './scenarios/ratelimit.js'
import type { Listen } from './scenarios/types.js'

/** The limit: L = RATE_PER_S × DURATION_S requests over the run. */
const DURATION_S = 10
const RATE_PER_S = 200
/** Token bucket capacity: a tenth of a second of the rate, so start-up bursts stay small. */
const BURST = 20
const LIMIT = RATE_PER_S * DURATION_S
/** Connections over all loaders of a case. */
const CONNECTIONS = 64
/** Heartbeats go every member_timeout / 4 (500 ms): three rounds for every member to be known. */
const GOSSIP_SETTLE_MS = 1500
/** Redis-killed mode: SIGKILL this far into the load. */
const KILL_AT_MS = 5000
const MARK = 'RL_JSON '
/** Every core: under --pin the harness is pinned to one, and its children would inherit that. */
const ALL_CPUS = `0-${cpus().length - 1}`

export type Algorithm = 'token_bucket' | 'fixed_window'
export type Mode = 'gossip' | 'redis' | 'gossip+redis' | 'redis-killed'

const ALGORITHMS: readonly Algorithm[] = ['token_bucket', 'fixed_window']
const MODES: readonly Mode[] = ['gossip', 'redis', 'gossip+redis', 'redis-killed']

/** How each mode is built: instances × workers, and whether they seed each other and use Redis. */
const LAYOUT: Readonly<Record<Mode, { instances: number; workers: number; gossip: boolean }>> = {
  gossip: { instances: 2, workers: 2, gossip: true },
  // Gossip starts only with several workers or seeds: 4 single-worker instances without seeds
  // have no gossip at all, so Redis alone carries the limit between the 4 members.
  redis: { instances: 4, workers: 1, gossip: false },
  'gossip+redis': { instances: 2, workers: 2, gossip: true },
  'redis-killed': { instances: 2, workers: 2, gossip: true },
}

export interface AccuracyRow {
  readonly algorithm: Algorithm
  readonly mode: Mode
  readonly layout: string
  readonly status: 'ok' | 'failed'
  readonly error?: string
  /** What the limit allows over the measured span. */
  readonly allowed?: number
  readonly admitted?: number
  readonly limited?: number
  readonly otherStatus?: number
  readonly socketErrors?: number
  /** Span of the load, first wrk start to last wrk end, seconds. */
  readonly spanSeconds?: number
  readonly offeredPerSecond?: number
  readonly notes: readonly string[]
}

export interface AccuracyInput {
  readonly root: string
  readonly workDir: string
  readonly upstreamOrigin: string
  readonly portBase: number
  readonly budget: (seconds: number) => void
}

export interface AccuracyResult {
  readonly rows: readonly AccuracyRow[]
  readonly markdown: string
}

// ---- configs ------------------------------------------------------------------------------------

function policy(algorithm: Algorithm): string {
  return algorithm === 'token_bucket'
    ? `    algorithm: token_bucket\n    rate: ${RATE_PER_S}/s\n    burst: ${BURST}\n`
    : // An hour's window aligned to the epoch: the run is kept inside one (waitOutHour).
      `    algorithm: fixed_window\n    rate: ${LIMIT}/h\n`
}

interface ConfigInput {
  readonly at: Listen
  readonly algorithm: Algorithm
  readonly upstreamOrigin: string
  readonly gossipPort: number
  readonly seeds: readonly number[]
  readonly redisUrl: string | undefined
  readonly keyPrefix: string
}

function accuracyConfig(input: ConfigInput): string {
  const seeds = input.seeds.map((port) => `'${HOST}:${port}'`).join(', ')
  const redis =
    input.redisUrl === undefined
      ? ''
      : `redis: { url: '${input.redisUrl}', key_prefix: '${input.keyPrefix}' }\n`
  return `${benchPreamble(input.at)}gossip: { port: ${input.gossipPort}, seeds: [${seeds}] }
${redis}rate_limits:
  one-key:
    key: header:${CLIENT_HEADER}
${policy(input.algorithm)}upstreams:
  bench: { targets: [${input.upstreamOrigin}] }
routes:
  - name: limited
    match: { paths: [/*] }
    upstream: bench
    auth: none
    rate_limit: one-key
`
}

/** wrk with one fixed request and a Lua `response` hook counting 200s, 429s and the rest. */
function writeCountingScript(path: string, key: string): void {
  writeFileSync(
    path,
    `-- generated by bench/ratelimit.ts
wrk.method = 'GET'
wrk.path = '/bench'
wrk.headers['${CLIENT_HEADER}'] = '${key}'
ok, limited, other = 0, 0, 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
  if status == 200 then ok = ok + 1
  elseif status == 429 then limited = limited + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local o, l, x = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get('ok'); l = l + t:get('limited'); x = x + t:get('other')
  end
  local e = summary.errors
  io.write(string.format('${MARK}{"ok":%d,"limited":%d,"other":%d,"requests":%d,"duration_us":%d,"errors":%d}\\n',
    o, l, x, summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout))
end
`,
  )
}

interface WrkCount {
  readonly ok: number
  readonly limited: number
  readonly other: number
  readonly requests: number
  readonly duration_us: number
  readonly errors: number
}

// ---- processes ----------------------------------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

async function startRedis(): Promise<{ child: Child; url: string }> {
  const port = await freePort()
  const child = new Child({
    name: 'redis-server',
    command: 'redis-server',
    args: ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no'],
    cpus: ALL_CPUS,
  })
  const deadline = Date.now() + 10_000
  while (!(await portAccepts(HOST, port, 200))) {
    if (child.exitInfo !== undefined) {
      throw new Error(`redis-server exited (${describeExit(child.exitInfo)})\n${child.tail()}`)
    }
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}`)
    await sleep(50)
  }
  return { child, url: `redis://${HOST}:${port}` }
}

/** A fixed window of an hour must not be cut by the hour while the case runs. */
async function waitOutHour(): Promise<void> {
  const left = 3_600_000 - (Date.now() % 3_600_000)
  const needed = (DURATION_S + 20) * 1000
  if (left < needed) {
    log(`ratelimit: waiting ${Math.ceil(left / 1000)} s for the next hour's fixed window`)
    await sleep(left + 500)
  }
}

function runWrk(
  origin: string,
  script: string,
  connections: number,
): { child: Child; done: Promise<WrkCount> } {
  const child = new Child({
    name: 'wrk',
    command: 'wrk',
    args: [
      '-t1',
      `-c${connections}`,
      `-d${DURATION_S}s`,
      '--timeout',
      `${REQUEST_TIMEOUT_S}s`,
      '-s',
      script,
      `${origin}/bench`,
    ],
    cpus: ALL_CPUS,
  })
  const lines: string[] = []
  child.onLine((line) => lines.push(line))
  const done = child.exited.then((info) => {
    if (info.code !== 0) throw new Error(`wrk exited (${describeExit(info)})\n${child.tail()}`)
    const line = lines.find((candidate) => candidate.startsWith(MARK))
    if (line === undefined) throw new Error(`wrk printed no count\n${child.tail()}`)
    return JSON.parse(line.slice(MARK.length)) as WrkCount
  })
  return { child, done }
}

// ---- one case -----------------------------------------------------------------------------------

let caseCount = 0

async function runCase(
  input: AccuracyInput,
  algorithm: Algorithm,
  mode: Mode,
  index: number,
): Promise<AccuracyRow> {
  const layout = LAYOUT[mode]
  const layoutText =
    `${layout.instances} × ${layout.workers} worker${layout.workers > 1 ? 's' : ''}` +
    (layout.gossip ? ', seeded to each other' : ', no gossip')
  const instances: Instance[] = []
  let redis: { child: Child; url: string } | undefined
  const loaders: Child[] = []
  const notes: string[] = []
  const peer = createPortcullisPeer({
    front: undefined,
    verifyThreads: undefined,
    gatewayCmd: undefined,
  })
  const key = `${algorithm}-${mode}-${process.pid}`
  try {
    if (mode !== 'gossip') redis = await startRedis()
    // Gossip base ports: 200 above the HTTP ports, 10 apart per instance (room for the workers).
    const gossipPorts = Array.from(
      { length: layout.instances },
      (_, i) => input.portBase + 200 + 10 * i,
    )
    for (let i = 0; i < layout.instances; i++) {
      const at = listenFor(input.portBase, 1 + i)
      const id = `portcullis-rl${++caseCount}-${i + 1}`
      const config = accuracyConfig({
        at,
        algorithm,
        upstreamOrigin: input.upstreamOrigin,
        gossipPort: gossipPorts[i]!,
        seeds: layout.gossip ? gossipPorts.filter((_, j) => j !== i) : [],
        redisUrl: redis?.url,
        keyPrefix: `bench${index}:`,
      })
      const cli = peer.launch(
        { work: undefined, gatewayConfig: () => config },
        at,
        {
          root: input.root,
          workDir: input.workDir,
          upstream: { host: HOST, port: 0 },
          workers: layout.workers,
          log,
        },
        id,
      )
      const launch = {
        ...cli,
        command: 'taskset',
        args: ['-c', ALL_CPUS, cli.command, ...cli.args],
      }
      instances.push(await startInstance(peer, launch, at, id, false, input.root, input.workDir))
    }
    // Another key: proves the route answers 200 without spending the measured key's quota.
    for (const instance of instances) {
      await probe(instance.origin, {
        name: 'probe',
        via: 'gateway',
        requests: [{ method: 'GET', path: '/bench', headers: { [CLIENT_HEADER]: 'probe' } }],
      })
    }
    if (layout.gossip) await sleep(GOSSIP_SETTLE_MS)
    if (algorithm === 'fixed_window') await waitOutHour()

    const script = join(input.workDir, `ratelimit-${index}.lua`)
    writeCountingScript(script, key)
    const perLoader = Math.max(1, Math.floor(CONNECTIONS / instances.length))
    const t0 = performance.now()
    const runs = instances.map((instance) => {
      const run = runWrk(instance.origin, script, perLoader)
      loaders.push(run.child)
      return run.done
    })
    let killedAt: number | undefined
    const killer =
      mode === 'redis-killed'
        ? setTimeout(() => {
            killedAt = performance.now() - t0
            try {
              process.kill(redis!.child.pid, 'SIGKILL')
            } catch {
              // Already gone: the note below says when it went.
            }
          }, KILL_AT_MS)
        : undefined
    const counts = await Promise.all(runs)
    clearTimeout(killer)
    const spanSeconds = (performance.now() - t0) / 1000
    const sum = (pick: (count: WrkCount) => number) => counts.reduce((s, c) => s + pick(c), 0)
    const admitted = sum((c) => c.ok)
    const limited = sum((c) => c.limited)
    // The bucket's refill over the span (process start included: a few ms too generous); a window
    // allows its count once.
    const allowed =
      algorithm === 'token_bucket' ? Math.round(BURST + RATE_PER_S * spanSeconds) : LIMIT
    if (killedAt !== undefined)
      notes.push(`redis-server SIGKILLed ${(killedAt / 1000).toFixed(1)} s in`)
    for (const instance of instances) {
      if (instance.child.exitInfo !== undefined) {
        notes.push(
          `${instance.id} exited (${describeExit(instance.child.exitInfo)}) during the run`,
        )
      }
    }
    return {
      algorithm,
      mode,
      layout: layoutText,
      status: 'ok',
      allowed,
      admitted,
      limited,
      otherStatus: sum((c) => c.other),
      socketErrors: sum((c) => c.errors),
      spanSeconds,
      offeredPerSecond: sum((c) => c.requests) / spanSeconds,
      notes,
    }
  } catch (error) {
    log(`ratelimit: ${algorithm} ${mode} FAILED: ${firstLine(error)}`)
    return { algorithm, mode, layout: layoutText, status: 'failed', error: firstLine(error), notes }
  } finally {
    for (const loader of loaders) if (loader.exitInfo === undefined) await loader.stop(1000)
    await Promise.all(instances.map((instance) => instance.child.stop(5000)))
    if (redis !== undefined) await redis.child.stop(2000)
  }
}

// ---- report -------------------------------------------------------------------------------------

const ratio = (row: AccuracyRow): number | undefined =>
  row.admitted === undefined || row.allowed === undefined ? undefined : row.admitted / row.allowed

const TARGETS: Partial<Record<Mode, readonly [number, number]>> = {
  'gossip+redis': [0.97, 1.03],
  gossip: [0.95, 1.05],
}

export function verdict(row: AccuracyRow): string {
  const target = TARGETS[row.mode]
  const value = ratio(row)
  if (target === undefined || value === undefined) return '—'
  const met = value >= target[0] && value <= target[1]
  return `${target[0]}–${target[1]}: ${met ? 'met' : '**not met**'}`
}

function renderAccuracy(rows: readonly AccuracyRow[]): string {
  const n = (value: number | undefined) =>
    value === undefined ? '—' : Math.round(value).toLocaleString('en-US')
  const lines = [
    '| algorithm | mode | layout | allowed | admitted (200) | admitted/allowed | 429s | offered req/s | target | notes |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ]
  for (const row of rows) {
    const value = ratio(row)
    const notes = [
      ...(row.error === undefined ? [] : [`FAILED: ${row.error.split('\n')[0]}`]),
      ...((row.otherStatus ?? 0) > 0 ? [`${row.otherStatus} other statuses`] : []),
      ...((row.socketErrors ?? 0) > 0 ? [`${row.socketErrors} socket errors`] : []),
      ...row.notes,
    ]
    lines.push(
      `| ${row.algorithm} | ${row.mode} | ${row.layout} | ${n(row.allowed)} | ${n(row.admitted)} | ` +
        `${value === undefined ? '—' : value.toFixed(3)} | ${n(row.limited)} | ${n(row.offeredPerSecond)} | ` +
        `${verdict(row)} | ${notes.join('; ').replaceAll('|', '\\|')} |`,
    )
  }
  return lines.join('\n')
}

export function accuracySetup(): string {
  return [
    `- limit: one key (\`${CLIENT_HEADER}\` header), L = ${LIMIT.toLocaleString('en-US')} over ${DURATION_S} s. ` +
      `token_bucket: \`rate: ${RATE_PER_S}/s, burst: ${BURST}\`, allowed = burst + rate × span of the load ` +
      `(first wrk start to last wrk end). fixed_window: \`rate: ${LIMIT}/h\` (hour window aligned to ` +
      'the epoch, the run kept inside one hour), allowed = its count',
    `- load: one \`wrk -t1 -c${CONNECTIONS / 2} -d${DURATION_S}s\` per gateway instance (-c${CONNECTIONS / 4} with ` +
      `4 instances), all at once, ${CONNECTIONS} connections in all, every request on the same key; ` +
      '200s and 429s counted by wrk (Lua `response` hook). Unpinned: gateways, wrk, upstream and ' +
      'redis-server share both cores',
    '- modes (fresh gateways and a fresh redis-server for each): **gossip**: 2 instances × 2 workers, ' +
      'gossip base ports P and P+10, each seeding the other, no `redis:`. **redis**: 4 instances × ' +
      '1 worker and no seeds, so no gossip member starts and Redis alone is shared. **gossip+redis**: ' +
      'the gossip layout with `redis:` (`rate_limit_sync.interval` 1s, its default). ' +
      `**redis-killed**: gossip+redis with redis-server SIGKILLed ${KILL_AT_MS / 1000} s into the load`,
    `- gossip at its defaults (interval 50ms, member_timeout 2s), ${GOSSIP_SETTLE_MS / 1000} s after start-up for members to hear each other; ` +
      'a probe on another key checks each instance first',
  ].join('\n')
}

export async function runAccuracy(input: AccuracyInput): Promise<AccuracyResult> {
  const cases = ALGORITHMS.flatMap((algorithm) => MODES.map((mode) => ({ algorithm, mode })))
  input.budget(cases.length * (DURATION_S + 15))
  const rows: AccuracyRow[] = []
  for (const [index, { algorithm, mode }] of cases.entries()) {
    log(`ratelimit: ${algorithm}, ${mode}`)
    const row = await runCase(input, algorithm, mode, index)
    rows.push(row)
    if (row.status === 'ok') {
      log(
        `ratelimit: ${algorithm} ${mode}: admitted ${row.admitted} of ${row.allowed} allowed ` +
          `(${ratio(row)!.toFixed(3)}), ${row.limited} × 429, ${Math.round(row.offeredPerSecond!)} req/s offered`,
      )
    }
  }
  return { rows, markdown: renderAccuracy(rows) }
}

// ---- the RESULTS.md section ---------------------------------------------------------------------

const PHASE_TEXT: Readonly<Record<Phase, string>> = {
  saturation: 'saturation (autocannon)',
  'saturation-wrk': 'saturation (wrk)',
  'fixed-rate': 'fixed rate',
  handshakes: 'full TLS handshakes',
}

/** CPU µs per request of `limited` against `unlimited`, per phase, from the cost report. */
function renderCost(report: BenchReport): string {
  const target = (name: string) => report.targets.find((candidate) => candidate.name === name)
  const unlimited = target('unlimited')
  const limited = target('limited')
  if (unlimited?.status !== 'ok' || limited?.status !== 'ok') {
    return `Cost not measured: ${unlimited?.error ?? limited?.error ?? 'targets missing'}`
  }
  const lines = [
    '| phase | unlimited µs/req | limited µs/req | limited/unlimited (medians) | paired runs, median (min–max) | target ≤ 1.10 |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
  ]
  const cell = (value: Spread | undefined, digits = 1) =>
    value === undefined
      ? '—'
      : `${value.median.toFixed(digits)} (${value.min.toFixed(digits)}–${value.max.toFixed(digits)})`
  for (const phase of report.meta.phases) {
    const of = (t: TargetReport) => t.runs.filter((run) => run.phase === phase)
    const noisy = (t: TargetReport) => of(t).some((run) => run.flags.length > 0)
    const u = medianOf(of(unlimited), (run) => run.cpu.gatewayUsPerReq)
    const l = medianOf(of(limited), (run) => run.cpu.gatewayUsPerReq)
    const paired = spread(
      of(limited)
        .map((run) => {
          const base = of(unlimited).find((candidate) => candidate.rep === run.rep)
          const a = run.cpu.gatewayUsPerReq
          const b = base?.cpu.gatewayUsPerReq
          return a === undefined || b === undefined ? undefined : a / b
        })
        .filter((value): value is number => value !== undefined),
    )
    const flags = [unlimited, limited]
      .filter(noisy)
      .map((t) => `${t.name}: ${[...new Set(of(t).flatMap((run) => run.flags))].join(' ')}`)
    const ratioOfMedians = u !== undefined && l !== undefined ? l.median / u.median : undefined
    const met = ratioOfMedians === undefined ? '—' : ratioOfMedians <= 1.1 ? 'met' : '**not met**'
    lines.push(
      `| ${PHASE_TEXT[phase]}${flags.length > 0 ? ` (${flags.join('; ')})` : ''} | ${cell(u)} | ${cell(l)} | ` +
        `${ratioOfMedians === undefined ? '—' : `${ratioOfMedians.toFixed(3)}×`} | ${cell(paired, 3)} | ${met} |`,
    )
  }
  return lines.join('\n')
}

/** Accuracy first, then the cost in figures and the harness's full table of the cost run. */
export function renderRateLimitSection(
  accuracy: AccuracyResult,
  report: BenchReport,
  full: string,
): string {
  return [
    `### ratelimit: ${report.meta.startedAt}`,
    '',
    `- command: \`${report.meta.command}\``,
    `- machine: ${report.meta.machine}; Node ${report.meta.node}; commit ${report.meta.commit}`,
    '',
    '#### Accuracy: one key, limit shared by the cluster',
    '',
    accuracySetup(),
    '',
    accuracy.markdown,
    '',
    '#### Cost: the same route with and without a limit',
    '',
    '- `/limited/*` applies a token bucket keyed by `x-client` whose limit (10^9/min) is never ' +
      'reached; `/unlimited/*` is the same route without `rate_limit:`; both streams send the same ' +
      'header, so the difference is the stage (and its RateLimit / X-RateLimit-* response headers, ' +
      'on by default). One gateway instance serves both, measured in interleaved runs (table below)',
    `- ${report.meta.layout}; gateway \`--workers ${report.meta.workers}\`${report.meta.workers <= 1 ? ' (no gossip member: one worker shares with nobody)' : ''}`,
    '',
    renderCost(report),
    '',
    full.replace(/^### ratelimit: .*\n/, '#### Cost: full table\n'),
  ].join('\n')
}
