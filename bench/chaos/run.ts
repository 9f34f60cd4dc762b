/**
 * The chaos scenario (scenario.ts) with long phases, printing its figures as Markdown:
 *
 *   npm run build && node dist/bench/chaos/run.js [--phase-seconds 10] [--rate 400] [--limit 20]
 *                                                 [--front uws|node] [--native auto|off]
 *
 * Exits 1 when a request failed anywhere but on the killed worker's connections, or a 5xx came
 * back; bench/RESULTS.md ("Chaos") records a run.
 */
import { fileURLToPath } from 'node:url'
import { freeTcpPort, freeUdpPorts } from '../free-ports.js'
import { killAllNow } from '../processes.js'
import { PHASES, runChaos, type ChaosReport } from './scenario.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(name)
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback
}

function markdown(report: ChaosReport): string {
  const kinds = ['jwt', 'unknown kid', 'revoked', 'limited']
  const cell = (o: Record<string, number> | undefined) =>
    o === undefined
      ? '—'
      : Object.entries(o)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => `${k} × ${v}`)
          .join(', ')
  const lines = [
    `| phase | s | ${kinds.join(' | ')} | gateway log |`,
    `| --- | ---: | ${kinds.map(() => '---').join(' | ')} | --- |`,
  ]
  for (const p of report.phases) {
    lines.push(
      `| ${p.phase} | ${(p.ms / 1000).toFixed(1)} | ${kinds.map((k) => cell(p.outcomes[k])).join(' | ')} | ${cell(p.logs)} |`,
    )
  }
  const k = report.kill
  lines.push(
    '',
    `- ${report.total} requests; the killed worker (respawned in ${k.respawnMs} ms) held ` +
      `${k.victimConnections} client connections with ${k.inFlightOnVictim} requests in flight ` +
      `(${k.inFlightElsewhere} in flight elsewhere); failed requests: ${k.failed} ` +
      `(${k.failedOnVictim} on the killed worker's connections, ${k.failedUnmapped} on connections ` +
      `no worker held yet, ${k.failedElsewhere} elsewhere)`,
    `- JWKS requests answered 500 while failing: ${report.jwksHitsWhileFailing}`,
  )
  return lines.join('\n')
}

async function main(): Promise<number> {
  const front = option('--front', 'uws')
  if (front !== 'uws' && front !== 'node') throw new Error('--front: uws or node')
  const native = option('--native', 'auto')
  if (native !== 'auto' && native !== 'off') throw new Error('--native: auto or off')
  const report = await runChaos({
    root: ROOT,
    front,
    native,
    rate: Number(option('--rate', '400')),
    phaseMs: Number(option('--phase-seconds', '10')) * 1000,
    limitPerSecond: Number(option('--limit', '20')),
    freePort: freeTcpPort,
    freeUdpBase: freeUdpPorts,
    log: (line) => console.error(`chaos: ${line}`),
  })
  console.log(markdown(report))
  const fiveHundreds = report.phases.some((p) =>
    Object.values(p.outcomes).some((o) => Object.keys(o).some((s) => s.startsWith('5'))),
  )
  const k = report.kill
  return k.failedElsewhere > 0 || fiveHundreds || report.phases.length !== PHASES.length ? 1 : 0
}

process.on('exit', killAllNow)
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('chaos: failed:', error)
    killAllNow()
    process.exit(1)
  },
)
