/**
 * One scenario of a run: its gateway instances (one per peer and distinct config, each started
 * once, on ports of its own), then every phase in interleaved rounds over all its subjects
 * (subject A run 1, subject B run 1, …, A run 2, …), then the instances stopped. A subject that
 * fails (its gateway did not start, a probe was refused, a run broke) is reported as FAILED with
 * the reason, and the others go on.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { evaluateChecks } from './checks.js'
import { Harness, originOf, type Measured, type Subject } from './harness.js'
import { isLoaderGap, loaderCaveat, phaseGap } from './loader-fit.js'
import { record } from './record.js'
import { instancePids, probe, startInstance, type Instance, type Upstream } from './instances.js'
import { firstLine, log, pct, type Options } from './options.js'
import { describeExit } from './processes.js'
import type { LoadEngine } from './protocol.js'
import type { Peer, PeerEnv, PeerInput } from './peers/types.js'
import {
  medianOf,
  type BenchMeta,
  type BenchReport,
  type Phase,
  type RunRecord,
  type TargetReport,
} from './report.js'
import type { Listen, PreparedScenario, Scenario, ScenarioTarget } from './scenarios/types.js'
import { negotiated } from './tls-probe.js'
import { writeWrkScript } from './wrk.js'

export interface SessionInput {
  readonly options: Options
  readonly root: string
  readonly upstream: Upstream
  /** Peers that prepared fine. A plain run has portcullis alone. */
  readonly peers: readonly Peer[]
  readonly env: PeerEnv
  /** The next free listen address of the run. */
  readonly nextListen: () => Listen
  /** false: leave the scenario's upstream-only targets out (--peers measures them once per run). */
  readonly measureUpstream: boolean
  /** wrk's version when it is installed and wanted. */
  readonly wrk: string | undefined
  /** Called once the plan is known, with its estimated seconds, to extend the run's time limit. */
  readonly budget: (seconds: number) => void
  /** What the report says about the run as a whole. */
  readonly runMeta: RunMeta
}

/** The report header's lines that are the same for every scenario of a run. */
export type RunMeta = Omit<
  BenchMeta,
  'scenario' | 'description' | 'startedAt' | 'gatewayCommand' | 'phases'
>

export interface Skipped {
  readonly peer: string
  readonly target: string
  readonly reason: string
}

export interface SessionResult {
  readonly report: BenchReport
  readonly skipped: readonly Skipped[]
  /** Subjects by report name, for the peers summary. */
  readonly subjects: readonly Subject[]
}

interface Plan {
  readonly peer: Peer
  readonly input: PeerInput
  readonly targets: ScenarioTarget[]
  instance?: Instance
  error?: string
}

/** Seconds one run of one subject takes beyond warm-up and window: process starts, settling. */
const RUN_OVERHEAD_S = 1.5

/** The scenario's own temp dir, inside the run's: keys, configs, wrk scripts, loader specs. */
export function scenarioDir(runDir: string, scenario: Scenario): string {
  const dir = join(runDir, scenario.name)
  mkdirSync(dir, { recursive: true })
  return dir
}

/** Runs a scenario prepared beforehand (token minting wants every core, before --pin). */
export async function runScenario(
  scenario: Scenario,
  prepared: PreparedScenario,
  input: SessionInput,
): Promise<SessionResult> {
  const { options, env } = input
  const startedAt = new Date()
  const workDir = scenarioDir(env.workDir, scenario)
  // --peers runs several scenarios: a --targets name need not be in each.
  for (const name of options.peers ? [] : (options.targets ?? [])) {
    if (!prepared.targets.some((target) => target.name === name)) {
      throw new Error(
        `scenario ${scenario.name} has no target ${name}; it has ${prepared.targets.map((t) => t.name).join(', ')}`,
      )
    }
  }
  const targets = prepared.targets.filter(
    (target) => options.targets === undefined || options.targets.includes(target.name),
  )

  // ---- plan: which instance serves which target -------------------------------------------------
  const skipped: Skipped[] = []
  const plans: Plan[] = []
  const planOf = new Map<ScenarioTarget, Map<Peer, Plan>>()
  for (const target of targets) {
    if (target.via === 'upstream') continue
    // --peers compares what every gateway can do; portcullis-only targets stay in plain runs.
    if (options.peers && target.work === undefined) continue
    for (const peer of input.peers) {
      const support = peer.supports(target.work)
      if (support !== true) {
        skipped.push({ peer: peer.name, target: target.name, reason: support })
        continue
      }
      const peerInput: PeerInput = {
        work: target.work,
        gatewayConfig: target.gatewayConfig ?? prepared.gatewayConfig,
      }
      const key = peer.instanceKey(peerInput)
      let plan = plans.find((p) => p.peer === peer && p.peer.instanceKey(p.input) === key)
      if (plan === undefined) {
        plan = { peer, input: peerInput, targets: [] }
        plans.push(plan)
      }
      plan.targets.push(target)
      const byPeer = planOf.get(target) ?? new Map<Peer, Plan>()
      byPeer.set(peer, plan)
      planOf.set(target, byPeer)
    }
  }

  // ---- instances --------------------------------------------------------------------------------
  for (const plan of plans) {
    const at = input.nextListen()
    const id = `${plan.peer.name}-${at.port}`
    try {
      const launch = plan.peer.launch(plan.input, at, { ...env, workDir }, id)
      plan.instance = await startInstance(
        plan.peer,
        launch,
        at,
        id,
        options.pin,
        input.root,
        env.workDir,
      )
      log(
        `${scenario.name}: ${id} ready by ${plan.instance.readySignal} on ${at.port}; ` +
          `pids ${instancePids(plan.instance).join(', ')}`,
      )
    } catch (error) {
      plan.error = firstLine(error)
      log(`${scenario.name}: ${id} FAILED to start: ${plan.error}`)
    }
  }

  // ---- subjects, in report order: per target, per peer ------------------------------------------
  const subjects: Subject[] = []
  const state = new Map<Subject, { error?: string; runs: RunRecord[]; command?: string }>()
  for (const target of targets) {
    if (target.via === 'upstream') {
      if (!input.measureUpstream) continue
      const subject: Subject = { name: target.name, target, instance: undefined }
      subjects.push(subject)
      state.set(subject, { runs: [] })
      continue
    }
    for (const [peer, plan] of planOf.get(target) ?? []) {
      const subject: Subject = {
        name: options.peers ? `${peer.name}/${target.name}` : target.name,
        target,
        instance: plan.instance,
        peer: peer.name,
      }
      subjects.push(subject)
      state.set(subject, {
        runs: [],
        ...(plan.error === undefined ? {} : { error: `${peer.name} did not start: ${plan.error}` }),
        ...(plan.instance === undefined ? {} : { command: plan.instance.command }),
      })
    }
  }
  const fail = (subject: Subject, error: string): void => {
    const entry = state.get(subject)!
    if (entry.error === undefined) log(`${subject.name}: FAILED: ${error}`)
    entry.error ??= error
  }
  const active = (): Subject[] =>
    subjects.filter((subject) => state.get(subject)!.error === undefined)

  const warnings: string[] = []
  /** What each TLS subject negotiated, by target: its peers must agree. */
  const tlsParams = new Map<string, Map<string, string>>()
  for (const subject of active()) {
    try {
      await probe(originOf(subject, input.upstream), subject.target)
      const at = subject.instance?.at
      if (subject.target.tls !== undefined && at !== undefined) {
        const { params, alpn } = await negotiated(at.host, at.port, subject.target.tls)
        log(`${subject.name}: negotiated ${params}, ALPN ${alpn}`)
        warnings.push(`${subject.name} negotiated ${params}, ALPN ${alpn}`)
        const byPeer = tlsParams.get(subject.target.name) ?? new Map<string, string>()
        byPeer.set(subject.name, params)
        tlsParams.set(subject.target.name, byPeer)
      }
    } catch (error) {
      fail(subject, firstLine(error))
    }
  }
  for (const [target, byPeer] of tlsParams) {
    if (new Set(byPeer.values()).size > 1) {
      warnings.push(`**the gateways of ${target} negotiated different TLS parameters**`)
    }
  }

  const autocannonSaturation = options.saturation !== 'wrk' || input.wrk === undefined
  const wrkSaturation = options.saturation !== 'autocannon' && input.wrk !== undefined
  const scripts = new Map<ScenarioTarget, string>()
  if (input.wrk !== undefined) {
    for (const subject of active()) {
      if (scripts.has(subject.target)) continue
      if (phaseGap(subject.target, 'saturation-wrk', options) !== undefined) continue
      const file = join(workDir, `wrk-${subject.target.name}.lua`)
      writeWrkScript(file, subject.target.requests)
      scripts.set(subject.target, file)
    }
  }
  const requests = active().some((subject) => subject.target.load !== 'handshakes')
  const handshakes = active().some((subject) => subject.target.load === 'handshakes')
  const phases: Phase[] = [
    ...(requests && autocannonSaturation ? (['saturation'] as const) : []),
    ...(requests && wrkSaturation ? (['saturation-wrk'] as const) : []),
    ...(handshakes ? (['handshakes'] as const) : []),
    ...(requests ? (['fixed-rate'] as const) : []),
  ]
  for (const target of targets) {
    for (const phase of phases) {
      if (isLoaderGap(target, phase, options)) {
        warnings.push(`${target.name}: no ${phase} runs, ${phaseGap(target, phase, options)}`)
      }
      const caveat = phaseGap(target, phase, options) === undefined && loaderCaveat(target, phase)
      if (caveat) warnings.push(`${target.name}, ${phase}: ${caveat}`)
    }
  }
  /** The active subjects `phase` measures. */
  const measuredIn = (phase: Phase): Subject[] =>
    active().filter((subject) => phaseGap(subject.target, phase, options) === undefined)
  const perRun = options.warmup + options.duration + RUN_OVERHEAD_S
  const runsPerRound = phases.reduce((sum, phase) => sum + measuredIn(phase).length, 0)
  input.budget(
    perRun * runsPerRound * options.runs +
      plans.length * (options.instanceWarmup + RUN_OVERHEAD_S) +
      30,
  )
  log(
    `${scenario.name}: ${active().length} subjects (${active()
      .map((s) => s.name)
      .join(
        ', ',
      )}); ${options.runs} runs × ${phases.length} phases × (${options.warmup}+${options.duration} s)`,
  )

  const harness = new Harness(options, input.root, workDir, input.upstream)
  if (options.instanceWarmup > 0) {
    for (const plan of plans) {
      const instance = plan.instance
      if (instance === undefined) continue
      const subject = active().find((candidate) => candidate.instance === instance)
      if (subject === undefined) continue
      log(`${scenario.name}: warming ${instance.id} up (${options.instanceWarmup} s)`)
      try {
        await harness.warmUp(subject, scripts.get(subject.target), options.instanceWarmup)
      } catch (error) {
        for (const other of active()) {
          if (other.instance === instance) fail(other, `warm-up: ${firstLine(error)}`)
        }
      }
    }
  }
  const measure = async (
    subject: Subject,
    phase: Phase,
    rep: number,
    run: () => Promise<Measured>,
    rate?: number,
  ) => {
    const entry = state.get(subject)!
    if (entry.error !== undefined || phaseGap(subject.target, phase, options) !== undefined) return
    try {
      const measured = await run()
      const result = record(options, subject, phase, rep, measured, rate)
      entry.runs.push(result)
      const latency =
        result.latencyMs === undefined
          ? ''
          : `, p50 ${result.latencyMs.p50.toFixed(2)} ms, p99 ${result.latencyMs.p99.toFixed(2)} ms`
      log(
        `${phase} #${rep} ${subject.name} [${measured.label}]: ${Math.round(result.rps)} req/s${latency}` +
          `${result.cpu.gatewayUsPerReq === undefined ? '' : `, gateway ${result.cpu.gatewayUsPerReq.toFixed(1)} µs/req`}` +
          `, loader ${pct(result.cpu.loaderCores)}${result.flags.length > 0 ? ` [${result.flags.join(' ')}]` : ''}`,
      )
    } catch (error) {
      fail(subject, `${phase} run ${rep}: ${firstLine(error)}`)
    }
    // Without the upstream every later run would fail the same way: stop here and say why.
    const upstream = input.upstream.child
    if (upstream.exitInfo !== undefined) {
      throw new Error(
        `the upstream exited (${describeExit(upstream.exitInfo)}) during ${phase} run ${rep} of ` +
          `${subject.name}\n${upstream.tail()}`,
      )
    }
    // A gateway that died mid-run (its process exited) fails every later run the same way.
    const child = subject.instance?.child
    if (child?.exitInfo !== undefined) {
      fail(
        subject,
        `${subject.instance!.id} exited (${describeExit(child.exitInfo)})\n${child.tail()}`,
      )
    }
  }

  if (autocannonSaturation) {
    for (let rep = 1; rep <= options.runs; rep++) {
      for (const subject of active()) {
        await measure(subject, 'saturation', rep, () =>
          harness.runLoader(subject, 'autocannon', options.loaders),
        )
      }
    }
  }
  if (wrkSaturation) {
    for (let rep = 1; rep <= options.runs; rep++) {
      for (const subject of active()) {
        await measure(subject, 'saturation-wrk', rep, () =>
          harness.runWrk(subject, scripts.get(subject.target)!),
        )
      }
    }
  }
  if (handshakes) {
    for (let rep = 1; rep <= options.runs; rep++) {
      for (const subject of active()) {
        await measure(subject, 'handshakes', rep, () => harness.runHandshakes(subject))
      }
    }
  }

  // ---- fixed rate: one offered rate for every subject of the scenario ---------------------------
  const saturationPhase: Phase = autocannonSaturation ? 'saturation' : 'saturation-wrk'
  const saturation = (subject: Subject) =>
    medianOf(
      state.get(subject)!.runs.filter((run) => run.phase === saturationPhase),
      (run) => run.rps,
    )?.median
  let rate: BenchReport['rate']
  if (options.rate !== undefined) {
    rate = { value: options.rate, source: 'set by --rate' }
  } else {
    const measured = active()
      .map((subject) => ({ subject, median: saturation(subject) }))
      .filter((entry): entry is { subject: Subject; median: number } => entry.median !== undefined)
    const gateways = measured
      .filter((entry) => entry.subject.instance !== undefined)
      .sort((a, b) => a.median - b.median)
    const slowest = gateways[0]
    const base = measured.find((entry) => entry.subject.instance === undefined)
    if (slowest !== undefined) {
      rate = {
        value: Math.max(1, Math.round(slowest.median / 2)),
        source: `half the ${slowest.subject.name} saturation median`,
      }
    } else if (base !== undefined) {
      rate = {
        value: Math.max(1, Math.round(base.median / 2)),
        source: `half the ${base.subject.name} saturation median: no gateway target was measured`,
      }
    }
  }
  if (rate !== undefined) {
    const engine: LoadEngine = options.rateEngine === 'paced' ? 'paced' : 'autocannon-rate'
    log(`${scenario.name}: fixed-rate runs at ${rate.value} req/s (${rate.source}), ${engine}`)
    for (let rep = 1; rep <= options.runs; rep++) {
      for (const subject of active()) {
        await measure(
          subject,
          'fixed-rate',
          rep,
          () => harness.runLoader(subject, engine, 1, rate.value),
          rate.value,
        )
      }
    }
  }

  for (const plan of plans) {
    const instance = plan.instance
    if (instance === undefined) continue
    const alive = instance.child.exitInfo === undefined
    const info = await instance.child.stop(10_000)
    if (alive && info.code !== 0 && plan.peer.name === 'portcullis' && !options.gatewayCmd) {
      warnings.push(`${instance.id} did not exit 0 on SIGTERM (${describeExit(info)})`)
    }
    if (
      instance.readySignal === 'port' &&
      plan.peer.name === 'portcullis' &&
      options.gatewayCmd === undefined
    ) {
      warnings.push(
        `${instance.id} opened its port but printed no \`"msg":"portcullis started"\` line`,
      )
    }
  }
  if (options.saturation === 'wrk' && input.wrk === undefined) {
    warnings.push('wrk is not installed: saturation measured with autocannon instead')
  } else if (options.saturation === 'both' && input.wrk === undefined && options.wrk) {
    warnings.push(
      'wrk is not installed (apt-get install wrk): saturation measured with autocannon only',
    )
  }

  const reports: TargetReport[] = subjects.map((subject) => {
    const entry = state.get(subject)!
    return {
      name: subject.name,
      via: subject.target.via,
      status: entry.error === undefined ? 'ok' : 'failed',
      ...(entry.error === undefined ? {} : { error: entry.error }),
      ...(subject.peer === undefined ? {} : { peer: subject.peer }),
      variant: subject.target.name,
      ...(subject.target.pricedAgainst === undefined
        ? {}
        : { pricedAgainst: subject.target.pricedAgainst }),
      ...(entry.command === undefined ? {} : { command: entry.command }),
      runs: entry.runs,
    }
  })
  const first = plans.find((plan) => plan.instance !== undefined)?.instance
  const report: BenchReport = {
    meta: {
      ...input.runMeta,
      scenario: scenario.name,
      description: scenario.description,
      startedAt: startedAt.toISOString(),
      gatewayCommand: options.peers
        ? 'one instance per peer and config (each target names its command)'
        : (first?.command ?? (plans.length === 0 ? '(not run)' : '(failed to start)')),
      phases: rate === undefined ? phases.filter((phase) => phase !== 'fixed-rate') : phases,
    },
    ...(rate === undefined ? {} : { rate }),
    targets: reports,
    ...(prepared.checks === undefined ? {} : { checks: evaluateChecks(prepared.checks, reports) }),
    warnings,
    ...(skipped.length === 0 ? {} : { skipped }),
  }
  return { report, skipped, subjects }
}
