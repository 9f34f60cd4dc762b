/**
 * One measured run of one subject (a target through one gateway instance, or straight at the
 * upstream): its loader processes, and the CPU and RSS of every process around the measured
 * window. bench/record.ts turns that into figures and flags.
 */
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { instancePids, type Instance, type Upstream } from './instances.js'
import { LOAD_CPU, REQUEST_TIMEOUT_S, type Options } from './options.js'
import { HANDSHAKE_CLIENTS, parseSTime, sTimeArgs } from './handshakes.js'
import { pacedLoader, writeNativeSpec } from './paced-native.js'
import {
  Child,
  RssSampler,
  clockTicksPerSecond,
  cpuDelta,
  describeExit,
  machineBusyTicks,
  reapedChildrenCpuTicks,
  snapshotCpu,
  type CpuSnapshot,
} from './processes.js'
import type { LoadEngine, LoadResult, LoadSpec, LoaderLine } from './protocol.js'
import type { RunRecord } from './report.js'
import type { ScenarioTarget } from './scenarios/types.js'
import { wrkArgs, parseWrkOutput } from './wrk.js'

/**
 * autocannon builds every request of the list once per connection before it starts (64 × 10 000
 * heads for a token rotation: seconds of CPU and hundreds of MB), so it gets the start of a long
 * list. wrk and the paced loader rotate over the whole list.
 */
const AUTOCANNON_MAX_REQUESTS = 256

/** Where a subject's load goes: its instance (https for a TLS target) or the upstream. */
export function originOf(subject: Subject, upstream: Upstream): string {
  const origin = subject.instance?.origin ?? upstream.origin
  return subject.target.tls === undefined ? origin : origin.replace(/^http:/, 'https:')
}

/** What is measured: a scenario target, through `instance` or (without one) at the upstream. */
export interface Subject {
  /** Report column: the target's name, or `peer/target` in a peers run. */
  readonly name: string
  readonly target: ScenarioTarget
  readonly instance: Instance | undefined
  /** The gateway's peer (`portcullis` in a plain run); undefined for the upstream alone. */
  readonly peer?: string
}

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

export interface Measured {
  readonly result: LoadResult
  /** CPU seconds of each loader process over the window. */
  readonly loaderCpu: readonly number[]
  /** Cores each loader process could use: its ceiling for LOADER-LIMITED. */
  readonly loaderCap: number
  readonly label: string
  readonly window: Window
  /** Remarks on how the load was made, for the report. */
  readonly notes?: readonly string[]
}

export class Harness {
  private specCount = 0

  constructor(
    private readonly options: Options,
    private readonly root: string,
    private readonly work: string,
    private readonly upstream: Upstream,
  ) {}

  private originOf(subject: Subject): string {
    return originOf(subject, this.upstream)
  }

  /**
   * Brackets `body` (which starts the load and resolves when it is over) with CPU counters and RSS
   * sampling of the gateway and upstream processes.
   */
  private async window<T>(
    subject: Subject,
    body: (begin: () => void) => Promise<T>,
  ): Promise<{ value: T; window: Window }> {
    const gateway = subject.instance
    const withGateway = gateway !== undefined
    const gatewayPidsAtStart = withGateway ? instancePids(gateway) : []
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
      ? [...new Set([...gatewayPidsAtStart, ...instancePids(gateway)])]
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

  /**
   * The loader child for one spec: the native paced loader (bench/paced/paced-load.c) when it
   * built, else bench/load.ts (autocannon, or the Node paced loader).
   */
  private loaderCommand(spec: LoadSpec, native: string | undefined): [string, string[]] {
    const file = join(this.work, `load-${++this.specCount}`)
    if (native !== undefined) return [native, writeNativeSpec(spec, `${file}.requests`)]
    writeFileSync(`${file}.json`, JSON.stringify(spec))
    // --expose-gc: the loader collects its garbage before the window (load.ts).
    return [
      process.execPath,
      ['--expose-gc', join(this.root, 'dist/bench/load.js'), `${file}.json`],
    ]
  }

  /** autocannon or paced, through bench/load.ts children or the native paced loader. */
  async runLoader(subject: Subject, engine: LoadEngine, processes: number, rate?: number) {
    const { options, root } = this
    const { target } = subject
    const origin = this.originOf(subject)
    const connections = Math.max(1, Math.floor(options.connections / processes))
    const requests =
      engine === 'paced' ? target.requests : target.requests.slice(0, AUTOCANNON_MAX_REQUESTS)
    const notes =
      requests.length < target.requests.length
        ? [
            `autocannon rotated over the first ${requests.length} of the ${target.requests.length} ` +
              'requests (it builds each one per connection up front)',
          ]
        : []
    const paced = engine === 'paced' ? pacedLoader(root) : undefined
    if (paced?.kind === 'node') {
      notes.push(`the native paced loader did not build (${paced.reason}): the Node loader ran`)
    }
    const native = paced?.kind === 'native' ? paced.binary : undefined
    const children: Child[] = []
    try {
      for (let index = 0; index < processes; index++) {
        const spec: LoadSpec = {
          engine,
          origin,
          requests,
          connections,
          ...(rate === undefined ? {} : { rate: rate / processes }),
          warmupSeconds: options.warmup,
          durationSeconds: options.duration,
          timeoutSeconds: REQUEST_TIMEOUT_S,
          ...(target.tls === undefined
            ? {}
            : {
                tls: {
                  servername: target.tls.servername,
                  ...(target.tls.client === undefined ? {} : target.tls.client),
                },
              }),
        }
        const [command, args] = this.loaderCommand(spec, native)
        children.push(
          new Child({
            name: `loader ${index + 1}`,
            command,
            args,
            ...(options.pin ? { cpus: LOAD_CPU } : {}),
            cwd: root,
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
      const { value: lines, window } = await this.window(subject, (begin) => {
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
        // autocannon and the Node paced loader drive everything from one JS thread; the native
        // paced loader is one thread too.
        loaderCap: 1,
        label: paced === undefined ? `${engine} ×${processes}` : `paced (${paced.kind})`,
        notes,
        window,
      } satisfies Measured
    } finally {
      for (const child of children) if (child.exitInfo === undefined) await child.stop(1000)
    }
  }

  /** wrk against the subject for `seconds`; resolves to its stdout. */
  private async wrk(subject: Subject, script: string, seconds: number): Promise<string> {
    const { options } = this
    const child = new Child({
      name: 'wrk',
      command: 'wrk',
      args: wrkArgs({
        origin: this.originOf(subject),
        path: subject.target.requests[0]!.path,
        connections: options.connections,
        threads: this.wrkThreads(),
        timeoutSeconds: REQUEST_TIMEOUT_S,
        script,
        seconds,
      }),
      ...(options.pin ? { cpus: LOAD_CPU } : {}),
    })
    const lines: string[] = []
    child.onLine((text) => lines.push(text))
    const timer = setTimeout(() => void child.stop(1000), (seconds + REQUEST_TIMEOUT_S + 30) * 1000)
    const info = await child.exited
    clearTimeout(timer)
    if (info.code !== 0) throw new Error(`wrk exited (${describeExit(info)})\n${child.tail()}`)
    return lines.join('\n')
  }

  private wrkThreads(): number {
    // Under --pin wrk shares one core with the upstream: a second thread would only contend.
    return this.options.pin ? 1 : 2
  }

  /**
   * Load that is not measured, once per gateway instance before its first run: a JIT-compiled
   * gateway (fastify, portcullis) is still tiering up for its first few thousand requests, and a
   * run's own warm-up of a second or two does not cover that at a few thousand req/s.
   */
  async warmUp(subject: Subject, script: string | undefined, seconds: number): Promise<void> {
    if (subject.target.load === 'handshakes') {
      await this.handshakes(subject, seconds)
    } else if (script !== undefined) {
      await this.wrk(subject, script, Math.max(1, Math.round(seconds)))
    } else {
      await this.runLoader(subject, 'autocannon', 1)
    }
  }

  async runWrk(subject: Subject, script: string): Promise<Measured> {
    const { options } = this
    const threads = this.wrkThreads()
    const runWrk = (seconds: number) => this.wrk(subject, script, seconds)
    if (options.warmup > 0) await runWrk(Math.max(1, Math.round(options.warmup)))
    let reapedBefore = 0
    const { value: stdout, window } = await this.window(subject, (begin) => {
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

  /** s_time processes against the subject for `seconds`; resolves to the handshakes made. */
  private async handshakes(subject: Subject, seconds: number): Promise<number> {
    const { options } = this
    const tls = subject.target.tls
    const port = subject.instance?.at.port
    if (tls === undefined || port === undefined) throw new Error('handshakes need a TLS gateway')
    const children: Child[] = []
    try {
      for (let index = 0; index < HANDSHAKE_CLIENTS; index++) {
        children.push(
          new Child({
            name: `s_time ${index + 1}`,
            command: 'openssl',
            args: sTimeArgs(port, tls, seconds),
            ...(options.pin ? { cpus: LOAD_CPU } : {}),
          }),
        )
      }
      const outputs = children.map((child) => {
        const lines: string[] = []
        child.onLine((text) => lines.push(text))
        return lines
      })
      const timer = setTimeout(
        () => children.forEach((child) => void child.stop(1000)),
        (seconds + REQUEST_TIMEOUT_S + 30) * 1000,
      )
      const exits = await Promise.all(children.map((child) => child.exited))
      clearTimeout(timer)
      exits.forEach((info, index) => {
        if (info.code !== 0) {
          throw new Error(`s_time exited (${describeExit(info)})
${children[index]!.tail()}`)
        }
      })
      return outputs.reduce((sum, lines) => sum + parseSTime(lines.join('\n')), 0)
    } finally {
      for (const child of children) if (child.exitInfo === undefined) await child.stop(1000)
    }
  }

  /** Full handshakes at saturation: `completed` counts handshakes, CPU is per handshake. */
  async runHandshakes(subject: Subject): Promise<Measured> {
    const { options } = this
    if (options.warmup > 0) await this.handshakes(subject, options.warmup)
    let reapedBefore = 0
    const { value: completed, window } = await this.window(subject, (begin) => {
      // Like wrk: the s_time processes are reaped before /proc could be read, so their CPU is
      // this process's cutime/cstime.
      reapedBefore = reapedChildrenCpuTicks()
      begin()
      return this.handshakes(subject, options.duration)
    })
    const loaderSeconds = (reapedChildrenCpuTicks() - reapedBefore) / clockTicksPerSecond()
    return {
      result: {
        engine: 's_time',
        elapsedSeconds: window.wallSeconds,
        completed,
        errors: 0,
        timeouts: 0,
        statusCounts: {},
        latencyMs: undefined,
      },
      loaderCpu: [loaderSeconds],
      // Every s_time process shares the one load core under --pin.
      loaderCap: options.pin ? 1 : cpus().length,
      label: `openssl s_time -new ×${HANDSHAKE_CLIENTS}`,
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
