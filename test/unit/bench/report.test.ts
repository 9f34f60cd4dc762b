/** The scenario report (bench/report.ts): a target priced against another, run by run. */
import { describe, expect, it } from 'vitest'
import {
  pairedCpuRatio,
  renderMarkdown,
  type BenchReport,
  type Phase,
  type RunRecord,
  type TargetReport,
} from '../../../bench/report.js'

function run(phase: Phase, rep: number, gatewayUsPerReq: number): RunRecord {
  return {
    target: '',
    phase,
    rep,
    loader: 'autocannon ×1',
    elapsedSeconds: 1,
    completed: 1000,
    rps: 1000,
    errors: 0,
    unexpectedStatus: 0,
    statusCounts: { '200': 1000 },
    cpu: { gatewayUsPerReq, upstreamUsPerReq: 1, upstreamCores: 0, loaderCores: 0, otherCores: 0 },
    rss: { upstream: { peakMiB: 1, hwmMiB: 1 } },
    flags: [],
    notes: [],
  }
}

function target(name: string, usPerReq: readonly number[], pricedAgainst?: string): TargetReport {
  return {
    name,
    via: 'gateway',
    status: 'ok',
    variant: name,
    ...(pricedAgainst === undefined ? {} : { pricedAgainst }),
    runs: usPerReq.map((us, rep) => run('saturation', rep, us)),
  }
}

describe('a target priced against another', () => {
  // The second repetition ran on a busier machine: both sides slower, their ratio unchanged.
  const on = target('metrics-on', [102, 204, 103], 'metrics-off')
  const off = target('metrics-off', [100, 200, 100])

  it('takes the ratio of each repetition, then their median', () => {
    const s = pairedCpuRatio(on, off, 'saturation')!
    expect(s.n).toBe(3)
    expect(s.median).toBeCloseTo(1.02, 10)
    expect(s.min).toBeCloseTo(1.02, 10)
    expect(s.max).toBeCloseTo(1.03, 10)
    expect(pairedCpuRatio(on, off, 'fixed-rate')).toBeUndefined()
  })

  it('gets a line of its own under the table', () => {
    const report: BenchReport = {
      meta: {
        scenario: 'metrics',
        description: '',
        startedAt: '',
        command: '',
        machine: '',
        node: '',
        commit: '',
        layout: '',
        gatewayCommand: '',
        upstream: '',
        workers: 1,
        front: 'uws',
        connections: 1,
        runs: 3,
        durationSeconds: 1,
        warmupSeconds: 1,
        loaders: '',
        rateEngine: '',
        phases: ['saturation'],
      },
      targets: [on, off],
      warnings: [],
    }
    expect(renderMarkdown(report)).toContain(
      "- gateway CPU µs/request, metrics-on/metrics-off, median of the runs' ratios: " +
        'saturation 1.020× (1.020–1.030)',
    )
  })
})
