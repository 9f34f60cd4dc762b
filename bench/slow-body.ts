/**
 * `npm run build && node dist/bench/slow-body.js [--front uws|node] [--duration 20]
 * [--uploaders 140] [--connections 128] [--port-base 18300]`
 *
 * The slow-body attack of issue 14: one gateway worker with the default config (but for
 * `--connections`, the upstream pool) in front of the bench upstream; a normal client sends GETs
 * back to back, first alone, then while `--uploaders` clients trickle 1 MiB bodies a byte every
 * two seconds, reconnecting whenever they are dropped. Prints the normal client's p50/p99/max in
 * both phases, and how often the uploaders were dropped; bench/RESULTS.md records the figures.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { HOST } from './options.js'
import { parseStartupLine } from './peers/portcullis.js'
import { Child, stopAll } from './processes.js'
import {
  percentile,
  runNormalClient,
  startSlowUploaders,
  type NormalClientResult,
} from './slow-uploaders.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** A normal request slower than this counts as failed. */
const REQUEST_TIMEOUT_MS = 10_000
/** Time for every uploader to connect and send its head before the measured phase. */
const SETTLE_MS = 3000

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(name)
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback
}

function summary(label: string, result: NormalClientResult): string {
  const ms = (value: number) => `${value.toFixed(2)} ms`
  const l = result.latenciesMs
  return (
    `${label}: ${l.length} requests, ${result.failures.length} failed; ` +
    `p50 ${ms(percentile(l, 50))}, p99 ${ms(percentile(l, 99))}, max ${ms(Math.max(...l))}`
  )
}

async function main(): Promise<void> {
  const front = flag('--front', 'uws')
  const durationMs = Number(flag('--duration', '20')) * 1000
  const count = Number(flag('--uploaders', '140'))
  const connections = Number(flag('--connections', '128'))
  const portBase = Number(flag('--port-base', '18300'))
  const [upstreamPort, gatewayPort, statusPort] = [portBase, portBase + 1, portBase + 2]
  const workDir = mkdtempSync(join(tmpdir(), 'pcl-slow-body-'))
  try {
    const upstream = new Child({
      name: 'upstream',
      command: process.execPath,
      args: [join(ROOT, 'dist/bench/upstream.js'), '--host', HOST, '--port', String(upstreamPort)],
    })
    await upstream.waitForLine(
      (line) => (line.includes('"event":"ready"') ? true : undefined),
      15_000,
      'ready line',
    )
    const config = join(workDir, 'gateway.yaml')
    writeFileSync(
      config,
      `listeners:
  http: { host: ${HOST}, port: ${gatewayPort} }
  status: { host: ${HOST}, port: ${statusPort} }
log: { level: error, access: false }
upstreams:
  bench: { targets: ['http://${HOST}:${upstreamPort}'], connections: ${connections} }
routes:
  - { name: all, match: { paths: [/*] }, upstream: bench, auth: none }
`,
    )
    const gateway = new Child({
      name: 'portcullis',
      command: process.execPath,
      args: [
        join(ROOT, 'dist/src/cli/main.js'),
        'start',
        '--config',
        config,
        '--workers',
        '1',
        '--front',
        front,
      ],
    })
    await gateway.waitForLine(parseStartupLine, 30_000, 'startup line')

    // Warm-up (JIT, pool), then the client alone, then under attack.
    await runNormalClient(HOST, gatewayPort, '/bench', 2000, REQUEST_TIMEOUT_MS)
    const alone = await runNormalClient(HOST, gatewayPort, '/bench', 5000, REQUEST_TIMEOUT_MS)
    const uploaders = startSlowUploaders({
      host: HOST,
      port: gatewayPort,
      count,
      path: '/upload',
      contentLength: 1024 * 1024,
      byteEveryMs: 2000,
    })
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
    const attacked = await runNormalClient(
      HOST,
      gatewayPort,
      '/bench',
      durationMs,
      REQUEST_TIMEOUT_MS,
    )
    uploaders.stop()
    console.log(`slow-body: ${front} front, 1 worker, upstream pool of ${connections}`)
    console.log(summary('  normal client alone', alone))
    console.log(summary(`  under ${count} slow uploaders`, attacked))
    console.log(
      `  uploaders: ${uploaders.connects} connections opened, ${uploaders.drops} dropped by the gateway`,
    )
    if (attacked.failures.length > 0) {
      console.log(`  failures: ${[...new Set(attacked.failures)].join(', ')}`)
    }
  } finally {
    await stopAll()
    rmSync(workDir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
