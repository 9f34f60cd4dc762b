/**
 * A scenario's ratio targets (`PreparedScenario.checks`) evaluated on its report: for every phase
 * both subjects ran, the ratio of their median gateway CPU per request (or per handshake), the same
 * ratio per round (the two runs of one round were made minutes apart at most, so they share the
 * machine's mood), and whether the bound holds. A subject that was not measured (a peer left out,
 * a failed start) leaves its checks out; the report's notes say why it was not measured.
 */
import {
  medianOf,
  spread,
  type CheckResult,
  type Phase,
  type RunRecord,
  type TargetReport,
} from './report.js'
import type { CheckSubject, RatioCheck } from './scenarios/types.js'

const PHASES: readonly Phase[] = ['saturation', 'saturation-wrk', 'handshakes', 'fixed-rate']
/** Flags that make a CPU figure suspect; LOADER-LIMITED caps req/s, not CPU per request. */
const CPU_FLAGS = ['NOISY', 'ERRORS', 'MACHINE-SATURATED']

function find(targets: readonly TargetReport[], who: CheckSubject): TargetReport | undefined {
  const peer = who.peer ?? 'portcullis'
  return targets.find(
    (target) => target.status === 'ok' && target.variant === who.target && target.peer === peer,
  )
}

const cpuOf = (run: RunRecord): number | undefined => run.cpu.gatewayUsPerReq

export function evaluateChecks(
  checks: readonly RatioCheck[],
  targets: readonly TargetReport[],
): CheckResult[] {
  const results: CheckResult[] = []
  for (const check of checks) {
    const subject = find(targets, check.subject)
    const baseline = find(targets, check.baseline)
    if (subject === undefined || baseline === undefined) continue
    // cpu: subject ÷ baseline; per-core is its inverse (what one core serves).
    const ratioOf = (s: number, b: number) => (check.figure === 'cpu' ? s / b : b / s)
    for (const phase of PHASES) {
      const subjectRuns = subject.runs.filter((run) => run.phase === phase)
      const baselineRuns = baseline.runs.filter((run) => run.phase === phase)
      const s = medianOf(subjectRuns, cpuOf)
      const b = medianOf(baselineRuns, cpuOf)
      if (s === undefined || b === undefined) continue
      const paired = spread(
        subjectRuns
          .map((run) => {
            const other = baselineRuns.find((candidate) => candidate.rep === run.rep)
            const a = cpuOf(run)
            const c = other === undefined ? undefined : cpuOf(other)
            return a === undefined || c === undefined ? undefined : ratioOf(a, c)
          })
          .filter((value): value is number => value !== undefined),
      )
      const ratio = ratioOf(s.median, b.median)
      const bound =
        check.max !== undefined
          ? `≤ ${check.max}`
          : check.min !== undefined
            ? `≥ ${check.min}`
            : undefined
      const met =
        check.max !== undefined
          ? ratio <= check.max
          : check.min !== undefined
            ? ratio >= check.min
            : undefined
      const flags = new Set(
        [...subjectRuns, ...baselineRuns].flatMap((run) =>
          run.flags.filter((flag) => CPU_FLAGS.includes(flag)),
        ),
      )
      results.push({
        label: check.label,
        phase,
        subject: subject.name,
        baseline: baseline.name,
        subjectUs: s,
        baselineUs: b,
        ratio,
        paired,
        bound,
        met,
        flags: [...flags],
      })
    }
  }
  return results
}
