/**
 * One run's measurements → a RunRecord: req/s, CPU per request of each process group, and the
 * flags that say whose figure it is (LOADER-LIMITED, MACHINE-SATURATED, NOISY, ERRORS,
 * RATE-NOT-MET), each with a note that gives the numbers.
 */
import { cpus } from 'node:os'
import type { Measured, Subject } from './harness.js'
import { LIMIT, LOAD_CPU, NOISE, pct, type Options } from './options.js'
import type { Phase, RunRecord } from './report.js'

export function record(
  options: Options,
  subject: Subject,
  phase: Phase,
  rep: number,
  measured: Measured,
  rate: number | undefined,
): RunRecord {
  const { result, window } = measured
  const { target } = subject
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
  const notes: string[] = [...(measured.notes ?? [])]
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
        `the load side${subject.instance === undefined ? '' : ', not the gateway,'} set this figure`,
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
    target: subject.name,
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
