/**
 * Run records → medians with min–max spread → a markdown table. Pure functions: the harness
 * decides what was measured, this decides how it reads.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import type { LatencySummaryMs } from './protocol.js'
import type { RssPeak } from './processes.js'
import type { TargetVia } from './scenarios/types.js'

/** `handshakes`: new TLS connections at saturation, each a full handshake (no request). */
export type Phase = 'saturation' | 'saturation-wrk' | 'fixed-rate' | 'handshakes'

export interface CpuFigures {
  /** Gateway CPU (all its processes) per completed request, µs. Gateway targets only. */
  readonly gatewayUsPerReq?: number
  /** Gateway CPU over the window, in cores (1.0 = one core busy the whole time). */
  readonly gatewayCores?: number
  readonly upstreamUsPerReq: number
  readonly upstreamCores: number
  /** Every loader process of the run added up, in cores. */
  readonly loaderCores: number
  /** The machine's busy time minus the run's own processes: other people's work, in cores. */
  readonly otherCores: number
}

export interface RunRecord {
  readonly target: string
  readonly phase: Phase
  readonly rep: number
  /** e.g. `autocannon ×1`, `wrk -t1`, `paced`. */
  readonly loader: string
  readonly elapsedSeconds: number
  readonly completed: number
  readonly rps: number
  /** Connection errors and timeouts. */
  readonly errors: number
  /** Responses whose status the target does not accept. */
  readonly unexpectedStatus: number
  readonly statusCounts: Readonly<Record<string, number>>
  readonly latencyMs?: LatencySummaryMs
  readonly scheduledLatencyMs?: LatencySummaryMs
  readonly offeredRate?: number
  readonly maxSendLagMs?: number
  readonly cpu: CpuFigures
  readonly rss: { readonly gateway?: RssPeak; readonly upstream: RssPeak }
  /** Short markers shown in the table: `LOADER-LIMITED`, `ERRORS`, `RATE-NOT-MET`… */
  readonly flags: readonly string[]
  /** Why each flag was raised, with the numbers. */
  readonly notes: readonly string[]
}

export interface TargetReport {
  /** The column: the scenario target's name, or `peer/target` in a peers run. */
  readonly name: string
  readonly via: TargetVia
  readonly status: 'ok' | 'failed'
  readonly error?: string
  /** `--peers`: the gateway (nginx, haproxy, fastify, portcullis). */
  readonly peer?: string
  /** The scenario target measured (`one-token`, `10k-tokens`, `passthrough`). */
  readonly variant?: string
  /** The gateway's command line, the run's temp dir as $TMP. */
  readonly command?: string
  /** The target (by scenario target name) this one's CPU per request is priced against. */
  readonly pricedAgainst?: string
  readonly runs: readonly RunRecord[]
}

export interface BenchMeta {
  readonly scenario: string
  readonly description: string
  readonly startedAt: string
  readonly command: string
  readonly machine: string
  readonly node: string
  readonly commit: string
  readonly layout: string
  readonly gatewayCommand: string
  readonly upstream: string
  readonly workers: number
  readonly front: string
  readonly connections: number
  readonly runs: number
  readonly durationSeconds: number
  readonly warmupSeconds: number
  readonly loaders: string
  readonly rateEngine: string
  /** Phases the run planned, so a failed target still shows the rows it would have filled. */
  readonly phases: readonly Phase[]
}

/** A scenario's ratio target in one phase (bench/checks.ts). */
export interface CheckResult {
  readonly label: string
  readonly phase: Phase
  /** Report names of the two subjects. */
  readonly subject: string
  readonly baseline: string
  /** Gateway CPU µs per request (or handshake), medians over the runs. */
  readonly subjectUs: Spread
  readonly baselineUs: Spread
  /** The figure's ratio of the medians, and of each round's pair of runs. */
  readonly ratio: number
  readonly paired: Spread | undefined
  /** `≤ 1.25`, `≥ 0.8`, or undefined for a reference line. */
  readonly bound: string | undefined
  readonly met: boolean | undefined
  /** Flags of either side's runs that bear on CPU (NOISY, ERRORS…). */
  readonly flags: readonly string[]
}

export interface BenchReport {
  readonly meta: BenchMeta
  readonly rate?: { readonly value: number; readonly source: string }
  readonly targets: readonly TargetReport[]
  /** The scenario's ratio targets, when it has any. */
  readonly checks?: readonly CheckResult[]
  readonly warnings: readonly string[]
  /** `--peers`: the pairs of peer and target not measured, and why. */
  readonly skipped?: readonly {
    readonly peer: string
    readonly target: string
    readonly reason: string
  }[]
}

// ---- statistics ---------------------------------------------------------------------------------

export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
}

export function spread(values: readonly number[]): Spread | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length }
}

export function medianOf(runs: readonly RunRecord[], pick: (run: RunRecord) => number | undefined) {
  return spread(runs.map(pick).filter((value): value is number => value !== undefined))
}

// ---- table --------------------------------------------------------------------------------------

type Format = (value: number) => string

const integer: Format = (value) => Math.round(value).toLocaleString('en-US')
const ms: Format = (value) => (value < 10 ? value.toFixed(2) : value.toFixed(1))
const oneDecimal: Format = (value) => value.toFixed(1)
const twoDecimals: Format = (value) => value.toFixed(2)

interface Row {
  readonly label: string
  readonly phase: Phase
  readonly pick: (run: RunRecord) => number | undefined
  readonly format: Format
  /** Only gateway targets have a value (gateway CPU and RSS). */
  readonly gatewayOnly?: boolean
  /** Ratio gateway/baseline is shown for these rows. */
  readonly ratio?: boolean
  /** Flags that bear on this figure (default: all). LOADER-LIMITED caps throughput, not RSS. */
  readonly flags?: readonly string[]
}

const CPU_FLAGS = ['NOISY', 'ERRORS', 'MACHINE-SATURATED']

function rows(rate: number | undefined): Row[] {
  const at = rate === undefined ? 'fixed rate' : `${integer(rate)} req/s`
  return [
    {
      label: 'req/s at saturation (autocannon)',
      phase: 'saturation',
      pick: (r) => r.rps,
      format: integer,
      ratio: true,
    },
    {
      label: 'req/s at saturation (wrk)',
      phase: 'saturation-wrk',
      pick: (r) => r.rps,
      format: integer,
      ratio: true,
    },
    {
      label: `p50 latency at ${at}, ms`,
      phase: 'fixed-rate',
      pick: (r) => r.latencyMs?.p50,
      format: ms,
      ratio: true,
    },
    {
      label: `p99 latency at ${at}, ms`,
      phase: 'fixed-rate',
      pick: (r) => r.latencyMs?.p99,
      format: ms,
      ratio: true,
    },
    {
      label: 'gateway CPU µs/request, saturation',
      phase: 'saturation',
      pick: (r) => r.cpu.gatewayUsPerReq,
      format: oneDecimal,
      gatewayOnly: true,
      flags: CPU_FLAGS,
    },
    {
      label: `gateway CPU µs/request at ${at}`,
      phase: 'fixed-rate',
      pick: (r) => r.cpu.gatewayUsPerReq,
      format: oneDecimal,
      gatewayOnly: true,
      flags: CPU_FLAGS,
    },
    {
      label: 'gateway CPU, cores busy at saturation',
      phase: 'saturation',
      pick: (r) => r.cpu.gatewayCores,
      format: twoDecimals,
      gatewayOnly: true,
      flags: CPU_FLAGS,
    },
    {
      label: 'full TLS handshakes/s',
      phase: 'handshakes',
      pick: (r) => r.rps,
      format: integer,
    },
    {
      label: 'gateway CPU µs/handshake',
      phase: 'handshakes',
      pick: (r) => r.cpu.gatewayUsPerReq,
      format: oneDecimal,
      gatewayOnly: true,
      flags: CPU_FLAGS,
    },
    {
      label: 'handshakes/s per core (10⁶ ÷ µs)',
      phase: 'handshakes',
      pick: (r) => (r.cpu.gatewayUsPerReq === undefined ? undefined : 1e6 / r.cpu.gatewayUsPerReq),
      format: integer,
      gatewayOnly: true,
      flags: CPU_FLAGS,
    },
    {
      label: 'gateway CPU, cores busy in handshakes',
      phase: 'handshakes',
      pick: (r) => r.cpu.gatewayCores,
      format: twoDecimals,
      gatewayOnly: true,
      flags: CPU_FLAGS,
    },
    {
      label: 'loader CPU, cores busy in handshakes',
      phase: 'handshakes',
      pick: (r) => r.cpu.loaderCores,
      format: twoDecimals,
      flags: ['LOADER-LIMITED'],
    },
    {
      label: 'gateway peak RSS, MiB (all processes)',
      phase: 'saturation',
      pick: (r) => r.rss.gateway?.peakMiB,
      format: oneDecimal,
      gatewayOnly: true,
      flags: [],
    },
    {
      label: 'upstream CPU µs/request, saturation',
      phase: 'saturation',
      pick: (r) => r.cpu.upstreamUsPerReq,
      format: oneDecimal,
      flags: CPU_FLAGS,
    },
    {
      label: 'upstream peak RSS, MiB',
      phase: 'saturation',
      pick: (r) => r.rss.upstream.peakMiB,
      format: oneDecimal,
      flags: [],
    },
    {
      label: 'loader CPU, cores busy at saturation',
      phase: 'saturation',
      pick: (r) => r.cpu.loaderCores,
      format: twoDecimals,
      flags: ['LOADER-LIMITED'],
    },
  ]
}

function cell(target: TargetReport, row: Row): string {
  if (row.gatewayOnly === true && target.via !== 'gateway') return '—'
  const runs = target.runs.filter((run) => run.phase === row.phase)
  const s = medianOf(runs, row.pick)
  // A target that failed late keeps the figures of the runs it completed; the note says why.
  if (s === undefined) return target.status === 'failed' ? 'FAILED' : 'n/a'
  const range = s.n > 1 ? ` (${row.format(s.min)}–${row.format(s.max)})` : ''
  const flags = [...new Set(runs.flatMap((run) => run.flags))].filter(
    (flag) => row.flags === undefined || row.flags.includes(flag),
  )
  return `${row.format(s.median)}${range}${flags.length > 0 ? ` **${flags.join(' ')}**` : ''}`
}

function ratioCell(gateway: TargetReport, base: TargetReport | undefined, row: Row): string {
  if (row.ratio !== true || base === undefined) return '—'
  const gatewayRuns = gateway.runs.filter((run) => run.phase === row.phase)
  const baseRuns = base.runs.filter((run) => run.phase === row.phase)
  const g = medianOf(gatewayRuns, row.pick)
  const b = medianOf(baseRuns, row.pick)
  if (g === undefined || b === undefined || b.median === 0) return 'n/a'
  const ratio = `${(g.median / b.median).toFixed(2)}×`
  if (row.phase === 'fixed-rate') return ratio
  // A loader-limited req/s is a floor, not the capacity: the ratio is then a bound.
  const limited = (runs: readonly RunRecord[]) =>
    runs.some((run) => run.flags.includes('LOADER-LIMITED'))
  const baseFloor = limited(baseRuns)
  const gatewayFloor = limited(gatewayRuns)
  if (baseFloor && gatewayFloor) return `n/a (both ${LIMITED})`
  if (baseFloor) return `≤ ${ratio}`
  if (gatewayFloor) return `≥ ${ratio}`
  return ratio
}

const LIMITED = 'loader-limited'

/**
 * Gateway CPU per request of `target` over that of `base`, run by run: the runs of one repetition
 * are interleaved, so they share the machine's weather, and their ratio is steadier than the
 * ratio of two medians. undefined when no repetition measured both.
 */
export function pairedCpuRatio(
  target: TargetReport,
  base: TargetReport,
  phase: Phase,
): Spread | undefined {
  const ratios: number[] = []
  for (const run of target.runs) {
    if (run.phase !== phase) continue
    const other = base.runs.find((b) => b.phase === phase && b.rep === run.rep)
    const a = run.cpu.gatewayUsPerReq
    const b = other?.cpu.gatewayUsPerReq
    if (a !== undefined && b !== undefined && b > 0) ratios.push(a / b)
  }
  return spread(ratios)
}

/** One line per target priced against another: its CPU per request ratio in each phase. */
function pricingLines(report: BenchReport): string[] {
  const lines: string[] = []
  for (const target of report.targets) {
    if (target.pricedAgainst === undefined) continue
    const base = report.targets.find(
      (other) =>
        (other.variant ?? other.name) === target.pricedAgainst && other.peer === target.peer,
    )
    if (base === undefined) continue
    const cells = report.meta.phases.flatMap((phase) => {
      const s = pairedCpuRatio(target, base, phase)
      if (s === undefined) return []
      const range = s.n > 1 ? ` (${s.min.toFixed(3)}–${s.max.toFixed(3)})` : ''
      return [`${phase} ${s.median.toFixed(3)}×${range}`]
    })
    if (cells.length === 0) continue
    lines.push(
      `- gateway CPU µs/request, ${target.name}/${base.name}, median of the runs' ratios: ` +
        cells.join('; '),
    )
  }
  return lines
}

/**
 * One line per kind of note and phase: the same remark from three runs differs only in its numbers,
 * so the first one is kept with a count.
 */
function condenseNotes(target: TargetReport): string[] {
  const groups = new Map<string, { first: string; count: number; runs: number }>()
  for (const run of target.runs) {
    const runs = target.runs.filter((other) => other.phase === run.phase).length
    for (const note of run.notes) {
      const key = `${run.phase}|${note.replace(/\d+(\.\d+)?/g, '#')}`
      const group = groups.get(key)
      if (group === undefined) groups.set(key, { first: `${run.phase}: ${note}`, count: 1, runs })
      else group.count += 1
    }
  }
  return [...groups.values()].map(
    ({ first, count, runs }) =>
      `${target.name}, ${first}${runs > 1 ? ` (${count} of ${runs} runs${count > 1 ? ', figures of the first' : ''})` : ''}`,
  )
}

export function renderMarkdown(report: BenchReport): string {
  const { meta } = report
  const base = report.targets.find((target) => target.via === 'upstream')
  const gateways = report.targets.filter((target) => target.via === 'gateway')
  const header = [
    'metric',
    ...report.targets.map((target) => target.name),
    ...(base === undefined ? [] : gateways.map((target) => `${target.name}/${base.name}`)),
  ]
  const lines = [
    `### ${meta.scenario}: ${meta.startedAt}`,
    '',
    meta.description,
    '',
    `- command: \`${meta.command}\``,
    `- machine: ${meta.machine}; Node ${meta.node}; commit ${meta.commit}`,
    `- layout: ${meta.layout}`,
    `- gateway: \`${meta.gatewayCommand}\``,
    ...report.targets
      .filter((target) => target.command !== undefined && target.command !== meta.gatewayCommand)
      .map((target) => `  - ${target.name}: \`${target.command}\``),
    `- upstream: ${meta.upstream}`,
    `- load: ${meta.connections} connections, pipelining 1; each target ${meta.runs}× interleaved, ` +
      `${meta.warmupSeconds} s warm-up + ${meta.durationSeconds} s measured per run; loaders: ${meta.loaders}`,
    `- fixed rate: ${report.rate === undefined ? 'not run' : `${integer(report.rate.value)} req/s (${report.rate.source}), ${meta.rateEngine}`}`,
    '- cells: median (min–max) over the runs; a ratio marked ≤ or ≥ is a bound, because one side ' +
      'was LOADER-LIMITED and its req/s is only a floor',
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map((_, index) => (index === 0 ? '---' : '---:')).join(' | ')} |`,
  ]
  const shownRows = rows(report.rate?.value).filter(
    (row) => (row.gatewayOnly !== true || gateways.length > 0) && meta.phases.includes(row.phase),
  )
  for (const row of shownRows) {
    const cells = [
      row.label,
      ...report.targets.map((target) => cell(target, row)),
      ...(base === undefined ? [] : gateways.map((target) => ratioCell(target, base, row))),
    ]
    lines.push(`| ${cells.join(' | ')} |`)
  }
  if (shownRows.length === 0)
    lines.push(`| (no run completed) | ${report.targets.map(() => '').join(' | ')} |`)
  const pricing = pricingLines(report)
  if (pricing.length > 0) lines.push('', ...pricing)

  if (report.checks !== undefined && report.checks.length > 0) {
    lines.push('', ...renderChecks(report.checks))
  }

  const notes: string[] = []
  for (const target of report.targets) {
    if (target.status === 'failed')
      notes.push(`**${target.name} FAILED**: ${target.error ?? 'unknown error'}`)
    notes.push(...condenseNotes(target))
  }
  for (const skip of report.skipped ?? []) {
    notes.push(`${skip.peer}/${skip.target} not measured: ${skip.reason}`)
  }
  notes.push(...report.warnings)
  if (notes.length > 0) {
    lines.push('', 'Notes:', '', ...notes.map((note) => `- ${note.replace(/\n/g, '\n  ')}`))
  }
  return `${lines.join('\n')}\n`
}

const PHASE_NAMES: Readonly<Record<Phase, string>> = {
  saturation: 'saturation (autocannon)',
  'saturation-wrk': 'saturation (wrk)',
  'fixed-rate': 'fixed rate',
  handshakes: 'handshakes (s_time)',
}

function renderChecks(checks: readonly CheckResult[]): string[] {
  const us = (s: Spread) => `${oneDecimal(s.median)} (${oneDecimal(s.min)}–${oneDecimal(s.max)})`
  const lines = [
    '| target | phase | subject µs | baseline µs | ratio of medians | per-round ratios | bound | met |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ]
  for (const check of checks) {
    const paired =
      check.paired === undefined
        ? '—'
        : `${twoDecimals(check.paired.median)} (${twoDecimals(check.paired.min)}–${twoDecimals(check.paired.max)})`
    const met = check.met === undefined ? '—' : check.met ? 'met' : '**not met**'
    const flags = check.flags.length > 0 ? ` **${check.flags.join(' ')}**` : ''
    lines.push(
      `| ${check.label}: ${check.subject} / ${check.baseline} | ${PHASE_NAMES[check.phase]} | ` +
        `${us(check.subjectUs)} | ${us(check.baselineUs)} | ${twoDecimals(check.ratio)}×${flags} | ` +
        `${paired} | ${check.bound ?? '—'} | ${met} |`,
    )
  }
  return lines
}

// ---- RESULTS.md ---------------------------------------------------------------------------------

/**
 * Replaces the text between the scenario's markers, or appends a marked section (unless `append`
 * is false). Returns whether the file was written.
 */
export function updateResultsFile(
  file: string,
  scenario: string,
  markdown: string,
  append = true,
): boolean {
  const start = `<!-- bench:${scenario}:start -->`
  const end = `<!-- bench:${scenario}:end -->`
  const block = `${start}\n${markdown}${end}`
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n'
  const from = text.indexOf(start)
  const to = text.indexOf(end)
  if (!(from >= 0 && to > from) && !append) return false
  const next =
    from >= 0 && to > from
      ? `${text.slice(0, from)}${block}${text.slice(to + end.length)}`
      : `${text.trimEnd()}\n\n${block}\n`
  writeFileSync(file, next)
  return true
}
