/**
 * Where a `--peers` run's comparison goes: bench/.runs/ always; with --write-results also
 * bench/results/peers.{json,svg}, bench/RESULTS.md and README.md between `bench:peers` markers.
 *
 * Also a command of its own, to render a past run again (after a change to the table or the
 * chart) from what it left in bench/.runs/, without measuring anything:
 *
 *   node dist/bench/write-peers.js STAMP     (e.g. 2026-11-23T06-51-21-995Z)
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderChart } from './chart.js'
import { renderMarkdown, updateResultsFile, type BenchReport } from './report.js'
import {
  compareScenario,
  renderPeersMarkdown,
  renderShortTable,
  type PeersMeta,
  type PeersReport,
} from './report-peers.js'
import { isMain } from '../scripts/is-main.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CHART = 'bench/results/peers.svg'

export function comparisonOf(meta: PeersMeta, reports: readonly BenchReport[]): PeersReport {
  return { meta, scenarios: reports.map(compareScenario) }
}

/** Writes every output of the comparison; `log` gets one line per file group. */
export function writePeers(
  comparison: PeersReport,
  reports: readonly BenchReport[],
  stamp: string,
  writeResults: boolean,
  log: (message: string) => void,
): void {
  const runsDir = join(ROOT, 'bench/.runs')
  mkdirSync(runsDir, { recursive: true })
  const markdown = renderPeersMarkdown(comparison, 'results/peers.svg')
  process.stdout.write(`\n${markdown}`)
  writeFileSync(join(runsDir, `${stamp}-peers.md`), markdown)
  writeFileSync(join(runsDir, `${stamp}-peers.json`), `${JSON.stringify(comparison, null, 2)}\n`)
  writeFileSync(join(runsDir, `${stamp}-peers.svg`), renderChart(comparison))
  log(`written bench/.runs/${stamp}-peers.{md,json,svg}`)
  if (!writeResults) return

  mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
  writeFileSync(join(ROOT, 'bench/results/peers.json'), `${JSON.stringify(comparison, null, 2)}\n`)
  writeFileSync(join(ROOT, CHART), renderChart(comparison))
  // The full per-scenario tables follow the comparison, one heading level down.
  const full = reports.map((report) => renderMarkdown(report).replace(/^### /m, '#### ')).join('\n')
  updateResultsFile(
    join(ROOT, 'bench/RESULTS.md'),
    'peers',
    `${markdown}\n#### Full tables per scenario\n\n${full}`,
  )
  log(`${CHART}, bench/results/peers.json and bench/RESULTS.md updated`)
  const { meta } = comparison
  // README gets the short table; the full one, notes included, is bench/RESULTS.md's.
  const readme = [
    `Measured ${meta.startedAt.slice(0, 10)} (commit ${meta.commit}) with \`${meta.command}\`; ` +
      `${meta.layout}; ${meta.connections} connections; medians of ${meta.runs} interleaved runs; ` +
      '— where a gateway cannot do the scenario.',
    '',
    renderShortTable(comparison).trimEnd(),
    '',
    `![req/s and CPU per request, per gateway and scenario](${CHART})`,
    '',
  ].join('\n')
  // README's bench section holds the markers; without them the README is left alone.
  if (updateResultsFile(join(ROOT, 'README.md'), 'peers', readme, false)) {
    log('README.md comparison table updated')
  } else {
    log('README.md has no <!-- bench:peers:start/end --> markers: table not copied there')
  }
}

function rerender(stamp: string): void {
  const runsDir = join(ROOT, 'bench/.runs')
  const previous = JSON.parse(
    readFileSync(join(runsDir, `${stamp}-peers.json`), 'utf8'),
  ) as PeersReport
  const prefix = `${stamp}-peers-`
  const byName = new Map<string, BenchReport>()
  for (const file of readdirSync(runsDir)) {
    if (!file.startsWith(prefix) || !file.endsWith('.json')) continue
    const report = JSON.parse(readFileSync(join(runsDir, file), 'utf8')) as BenchReport
    byName.set(report.meta.scenario, report)
  }
  // In the order the run measured them.
  const reports = previous.scenarios.map((scenario) => {
    const report = byName.get(scenario.name)
    if (report === undefined)
      throw new Error(`bench/.runs/${prefix}${scenario.name}.json is missing`)
    return report
  })
  const log = (message: string): void => void process.stderr.write(`${message}\n`)
  writePeers(comparisonOf(previous.meta, reports), reports, stamp, true, log)
}

if (isMain(import.meta.url)) {
  const stamp = process.argv[2]
  if (stamp === undefined) {
    process.stderr.write(
      'usage: node dist/bench/write-peers.js STAMP (from bench/.runs/STAMP-peers.json)\n',
    )
    process.exit(2)
  }
  rerender(stamp)
}
