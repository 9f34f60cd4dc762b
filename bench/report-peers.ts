/**
 * A `--peers` run as one comparison: a row per scenario stream and gateway, with the same figures
 * for every gateway, as markdown (bench/RESULTS.md and README.md between `bench:peers` markers),
 * JSON (bench/results/peers.json) and a chart (bench/results/peers.svg, bench/chart.ts).
 */
import { medianOf, type BenchReport, type Phase, type RunRecord, type Spread } from './report.js'

export interface PeerInfo {
  readonly name: string
  /** Version line, or undefined when the peer could not run. */
  readonly version?: string
  readonly setup?: string
  /** Why it could not run (install failed, not built…). */
  readonly unavailable?: string
}

export interface PeersMeta {
  readonly command: string
  readonly startedAt: string
  readonly finishedAt: string
  readonly machine: string
  readonly node: string
  readonly commit: string
  readonly layout: string
  readonly upstream: string
  readonly workers: number
  readonly connections: number
  readonly runs: number
  readonly durationSeconds: number
  readonly warmupSeconds: number
  readonly loaders: string
  readonly rateEngine: string
  readonly peers: readonly PeerInfo[]
}

/** A median with its spread and the values it came from. */
export interface Figure extends Spread {
  readonly values: readonly number[]
}

export interface ComparisonRow {
  readonly scenario: string
  /** `passthrough`, `one-token`, `10k-tokens`, or `direct` for the upstream alone. */
  readonly variant: string
  /** `direct` for the upstream alone. */
  readonly gateway: string
  readonly status: 'ok' | 'failed'
  readonly error?: string
  /** Saturation req/s (wrk when it ran, else autocannon). */
  readonly rps?: Figure
  readonly saturationLoader?: string
  /** Gateway CPU µs per request at saturation, and at the fixed rate. */
  readonly cpuUsPerReq?: Figure
  /**
   * 10⁶ ÷ the CPU µs/req median: the req/s of one core that did nothing else. On a shared machine
   * the gateway gets only part of its core (`coresBusy`), so the measured req/s falls short of it.
   */
  readonly perCoreRps?: number
  /** Share of its core the gateway used at saturation (1 = all of it). */
  readonly coresBusy?: Figure
  readonly cpuUsPerReqAtRate?: Figure
  readonly p50Ms?: Figure
  readonly p99Ms?: Figure
  readonly peakRssMiB?: Figure
  readonly flags: readonly string[]
}

export interface ScenarioComparison {
  readonly name: string
  readonly description: string
  readonly rate?: { readonly value: number; readonly source: string }
  readonly rows: readonly ComparisonRow[]
  readonly skipped: readonly {
    readonly peer: string
    readonly target: string
    readonly reason: string
  }[]
  readonly notes: readonly string[]
}

export interface PeersReport {
  readonly meta: PeersMeta
  readonly scenarios: readonly ScenarioComparison[]
}

function figure(runs: readonly RunRecord[], pick: (run: RunRecord) => number | undefined) {
  const values = runs.map(pick).filter((value): value is number => value !== undefined)
  const s = medianOf(runs, pick)
  return s === undefined ? undefined : { ...s, values }
}

/** Flags that bear on a comparison row (LOADER-LIMITED from saturation only: it caps req/s). */
function rowFlags(runs: readonly RunRecord[]): string[] {
  const flags = new Set<string>()
  for (const run of runs) {
    for (const flag of run.flags) {
      if (flag === 'LOADER-LIMITED' && run.phase === 'fixed-rate') continue
      flags.add(flag)
    }
  }
  return [...flags]
}

export function compareScenario(report: BenchReport): ScenarioComparison {
  // A handshake scenario has no request phases: its saturation is the handshake phase.
  const saturation: Phase = report.meta.phases.includes('saturation-wrk')
    ? 'saturation-wrk'
    : report.meta.phases.includes('saturation')
      ? 'saturation'
      : 'handshakes'
  const rows = report.targets.map((target): ComparisonRow => {
    const sat = target.runs.filter((run) => run.phase === saturation)
    const fixed = target.runs.filter((run) => run.phase === 'fixed-rate')
    const cpu = figure(sat, (run) => run.cpu.gatewayUsPerReq)
    // Figures a target never got (failed, or a gateway-only figure of `direct`) stay undefined,
    // which JSON leaves out.
    return {
      scenario: report.meta.scenario,
      variant: target.variant ?? target.name,
      gateway: target.peer ?? 'direct',
      status: target.status,
      error: target.error,
      rps: figure(sat, (run) => run.rps),
      saturationLoader: sat[0]?.loader,
      cpuUsPerReq: cpu,
      perCoreRps: cpu === undefined ? undefined : 1e6 / cpu.median,
      coresBusy: figure(sat, (run) => run.cpu.gatewayCores),
      cpuUsPerReqAtRate: figure(fixed, (run) => run.cpu.gatewayUsPerReq),
      p50Ms: figure(fixed, (run) => run.latencyMs?.p50),
      p99Ms: figure(fixed, (run) => run.latencyMs?.p99),
      peakRssMiB: figure(sat, (run) => run.rss.gateway?.peakMiB),
      flags: rowFlags(target.runs),
    }
  })
  return {
    name: report.meta.scenario,
    description: report.meta.description,
    ...(report.rate === undefined ? {} : { rate: report.rate }),
    rows,
    skipped: report.skipped ?? [],
    notes: report.warnings,
  }
}

// ---- markdown -----------------------------------------------------------------------------------

const integer = (value: number): string => Math.round(value).toLocaleString('en-US')
const decimal = (value: number): string => value.toFixed(1)
const millis = (value: number): string => (value < 10 ? value.toFixed(2) : value.toFixed(1))

function withSpread(f: Figure | undefined, format: (value: number) => string): string {
  if (f === undefined) return '—'
  return f.n > 1 ? `${format(f.median)} (${format(f.min)}–${format(f.max)})` : format(f.median)
}

export const VARIANT_LABELS: Readonly<Record<string, string>> = {
  passthrough: 'no auth',
  direct: 'no gateway',
  'one-token': '1 token, cache on',
  '10k-tokens': '10k tokens, no cache',
}

/** The comparison table: one row per scenario stream and gateway. */
export function renderComparisonTable(report: PeersReport): string {
  const lines = [
    '| scenario | stream | gateway | req/s at saturation | CPU µs/req | req/s per core (10⁶ ÷ µs) | core busy | p50 / p99 ms at the fixed rate | peak RSS MiB | flags |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | --- |',
  ]
  for (const scenario of report.scenarios) {
    const rate = scenario.rate === undefined ? '' : ` (${integer(scenario.rate.value)} req/s)`
    for (const row of scenario.rows) {
      if (row.status === 'failed' && row.rps === undefined) {
        lines.push(
          `| ${scenario.name} | ${VARIANT_LABELS[row.variant] ?? row.variant} | ${row.gateway} | **FAILED** | | | | | | see notes |`,
        )
        continue
      }
      const latency =
        row.p50Ms === undefined || row.p99Ms === undefined
          ? '—'
          : `${millis(row.p50Ms.median)} / ${millis(row.p99Ms.median)}${rate}`
      const flags = [...row.flags, ...(row.status === 'failed' ? ['FAILED'] : [])]
      lines.push(
        `| ${scenario.name} | ${VARIANT_LABELS[row.variant] ?? row.variant} | ${row.gateway} | ` +
          `${withSpread(row.rps, integer)} | ${withSpread(row.cpuUsPerReq, decimal)} | ` +
          `${row.perCoreRps === undefined ? '—' : integer(row.perCoreRps)} | ` +
          `${row.coresBusy === undefined ? '—' : `${Math.round(row.coresBusy.median * 100)} %`} | ` +
          `${latency} | ` +
          `${row.peakRssMiB === undefined ? '—' : decimal(row.peakRssMiB.median)} | ${flags.join(' ')} |`,
      )
    }
  }
  return `${lines.join('\n')}\n`
}

/**
 * README's short table: the figure to compare across gateways, CPU µs per request, one row per
 * scenario stream and one column per gateway. The full table stays in bench/RESULTS.md.
 */
export function renderShortTable(report: PeersReport): string {
  const gateways = report.meta.peers.map((peer) => peer.name)
  const lines = [
    `| CPU µs per request (lower is better) | ${gateways.join(' | ')} |`,
    `| --- |${' ---: |'.repeat(gateways.length)}`,
  ]
  for (const scenario of report.scenarios) {
    const variants = [...new Set(scenario.rows.map((row) => row.variant))]
    for (const variant of variants) {
      if (variant === 'direct') continue
      const cells = gateways.map((gateway) => {
        const row = scenario.rows.find((r) => r.variant === variant && r.gateway === gateway)
        if (row === undefined) return '—'
        if (row.cpuUsPerReq === undefined) return row.status === 'failed' ? 'FAILED' : '—'
        const cell = decimal(row.cpuUsPerReq.median)
        return gateway === 'portcullis' ? `**${cell}**` : cell
      })
      const label = `${scenario.name}, ${VARIANT_LABELS[variant] ?? variant}`
      lines.push(`| ${label} | ${cells.join(' | ')} |`)
    }
  }
  return `${lines.join('\n')}\n`
}

/** Everything a reader needs besides the table: what ran, what did not and why, what was flagged. */
export function renderComparisonNotes(report: PeersReport): string[] {
  const notes: string[] = []
  for (const peer of report.meta.peers) {
    if (peer.unavailable !== undefined) {
      notes.push(`**${peer.name} skipped**: ${peer.unavailable}`)
    }
  }
  // One line per peer and reason, naming every scenario it applies to.
  const skips = new Map<string, { peer: string; reason: string; scenarios: string[] }>()
  for (const scenario of report.scenarios) {
    for (const skip of scenario.skipped) {
      const key = `${skip.peer}\n${skip.reason}`
      const entry = skips.get(key) ?? { peer: skip.peer, reason: skip.reason, scenarios: [] }
      if (!entry.scenarios.includes(scenario.name)) entry.scenarios.push(scenario.name)
      skips.set(key, entry)
    }
  }
  for (const { peer, reason, scenarios } of skips.values()) {
    notes.push(`no ${peer} row in ${scenarios.join(', ')}: ${reason}`)
  }
  for (const scenario of report.scenarios) {
    for (const row of scenario.rows) {
      if (row.status === 'failed') {
        const reason = (row.error ?? 'unknown error').split('\n')[0]!.slice(0, 400)
        notes.push(`**${scenario.name} ${row.variant} on ${row.gateway} FAILED**: ${reason}`)
      }
    }
    for (const note of scenario.notes) notes.push(`${scenario.name}: ${note}`)
  }
  return notes
}

export function renderPeersMarkdown(report: PeersReport, chartLink: string): string {
  const { meta } = report
  const lines = [
    `### Comparison: ${meta.startedAt}`,
    '',
    `- command: \`${meta.command}\``,
    `- machine: ${meta.machine}; Node ${meta.node}; commit ${meta.commit}`,
    `- layout: ${meta.layout}`,
    `- upstream: ${meta.upstream}`,
    `- load: ${meta.connections} connections, pipelining 1; each gateway and stream ${meta.runs}× ` +
      `interleaved, ${meta.warmupSeconds} s warm-up + ${meta.durationSeconds} s measured per run; ` +
      `loaders: ${meta.loaders}`,
    `- fixed rate (latency): per scenario, half the slowest gateway's saturation median, the same ` +
      `for every gateway of the scenario; ${meta.rateEngine}`,
    "- CPU µs/req: utime+stime of all the gateway's processes (nginx master + workers, HAProxy, " +
      'fastify primary + workers, portcullis primary + workers) over the saturation window, per ' +
      'response; req/s per core: 10⁶ ÷ that, what the gateway would serve with its core to ' +
      "itself; core busy: the share of its core it got (other people's processes take the rest on " +
      'a shared machine, which lowers req/s much more than CPU µs/req); peak RSS: the highest ' +
      'sampled sum of their VmRSS',
    '- cells: median (min–max) over the runs; flags as in Method above',
    '',
    'Gateways:',
    '',
    ...meta.peers.map(
      (peer) =>
        `- ${peer.name}${peer.version === undefined ? '' : ` (${peer.version})`}: ${peer.setup ?? peer.unavailable ?? ''}`,
    ),
    '',
    renderComparisonTable(report).trimEnd(),
    '',
    `Chart: [${chartLink}](${chartLink})`,
  ]
  const notes = renderComparisonNotes(report)
  if (notes.length > 0) {
    lines.push('', 'Notes:', '', ...notes.map((note) => `- ${note.replace(/\n/g, '\n  ')}`))
  }
  return `${lines.join('\n')}\n`
}
