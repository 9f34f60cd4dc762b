/**
 * Memory of the gateway's processes, as the kernel counts it: RssAnon (the heap, code and buffers
 * of the process itself) and VmRSS (that plus mapped files, the node binary shared by all) of the
 * primary and of each worker from /proc/<pid>/status.
 *
 * Runs config/gateway.yaml (the demo: default caches, a public prefix route and a JWT route) with
 * its ports moved and access logging off, in front of the bench upstream and the demo identity
 * provider, then reads: idle after start, after a reload (SIGHUP), the peaks of each saturation
 * load (sampled every 100 ms), and idle again after the load.
 *
 * `node dist/bench/memory.js [--workers 1] [--duration 10] [--connections 64] [--front uws|node]
 *   [--port 18300]` uses ports P (http), P+1 (status), P+2 (upstream), P+3 (identity provider).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, stringify } from 'yaml'
import { startDemoIdp } from '../scripts/demo-idp.js'
import {
  Child,
  clockTicksPerSecond,
  killAllNow,
  readCpuTicks,
  sleep,
  stopAll,
} from './processes.js'
import type { LoadResult, LoadSpec, LoaderLine } from './protocol.js'
import type { BenchRequest } from './scenarios/types.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const HOST = '127.0.0.1'
const SAMPLE_MS = 100
/** Distinct tokens on the JWT load, so the token cache holds more than one entry. */
const TOKENS = 256

interface Options {
  readonly workers: number
  readonly duration: number
  readonly connections: number
  readonly front: string
  readonly port: number
  /** NODE_OPTIONS of the gateway's processes only (to try V8 flags), or undefined. */
  readonly nodeOptions: string | undefined
}

function parseOptions(argv: readonly string[]): Options {
  const value = (name: string, fallback: string): string => {
    const at = argv.indexOf(name)
    return at >= 0 && argv[at + 1] !== undefined ? argv[at + 1]! : fallback
  }
  const number = (name: string, fallback: number): number => {
    const parsed = Number(value(name, String(fallback)))
    if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`${name} takes an integer`)
    return parsed
  }
  return {
    workers: number('--workers', 1),
    duration: number('--duration', 10),
    connections: number('--connections', 64),
    front: value('--front', 'uws'),
    port: number('--port', 18300),
    nodeOptions: argv.includes('--node-options') ? value('--node-options', '') : undefined,
  }
}

interface Memory {
  /** KiB */
  readonly anon: number
  readonly rss: number
  readonly hwm: number
}

function readMemory(pid: number): Memory | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return undefined
  }
  const field = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)
  return { anon: field('RssAnon'), rss: field('VmRSS'), hwm: field('VmHWM') }
}

/** The highest RssAnon and VmRSS of each process while `body` runs. */
async function peaks<T>(
  pids: readonly number[],
  body: () => Promise<T>,
): Promise<{ value: T; peaks: Map<number, Memory> }> {
  const found = new Map<number, Memory>()
  const sample = (): void => {
    for (const pid of pids) {
      const now = readMemory(pid)
      if (now === undefined) continue
      const before = found.get(pid)
      found.set(pid, {
        anon: Math.max(now.anon, before?.anon ?? 0),
        rss: Math.max(now.rss, before?.rss ?? 0),
        hwm: now.hwm,
      })
    }
  }
  sample()
  const timer = setInterval(sample, SAMPLE_MS)
  try {
    return { value: await body(), peaks: found }
  } finally {
    clearInterval(timer)
    sample()
  }
}

function gatewayConfig(options: Options, jwksUri: string): string {
  const config = parse(readFileSync(join(ROOT, 'config/gateway.yaml'), 'utf8')) as {
    listeners: Record<string, { port: number }>
    log: { access: boolean }
    issuers: { jwks_uri: string }[]
    upstreams: Record<string, { targets: string[] }>
  }
  config.listeners['http']!.port = options.port
  config.listeners['status']!.port = options.port + 1
  // Like every bench config: the figures are the data path's, not those of a stdout pipe.
  config.log.access = false
  for (const issuer of config.issuers) issuer.jwks_uri = jwksUri
  for (const upstream of Object.values(config.upstreams)) {
    upstream.targets = [`http://${HOST}:${options.port + 2}`]
  }
  return stringify(config)
}

interface Load {
  readonly result: LoadResult
  /** CPU seconds of the worker processes over the measured window (warm-up excluded). */
  readonly workerCpu: number
}

/** One autocannon window through bench/load.ts: 2 s of warm-up, then `duration` seconds. */
async function load(
  options: Options,
  work: string,
  name: string,
  requests: readonly BenchRequest[],
  workers: readonly number[],
): Promise<Load> {
  const spec: LoadSpec = {
    engine: 'autocannon',
    origin: `http://${HOST}:${options.port}`,
    requests,
    connections: options.connections,
    warmupSeconds: 2,
    durationSeconds: options.duration,
    timeoutSeconds: 10,
  }
  const file = join(work, `${name}.json`)
  writeFileSync(file, JSON.stringify(spec))
  const loader = new Child({
    name: `loader ${name}`,
    command: process.execPath,
    args: ['--expose-gc', join(ROOT, 'dist/bench/load.js'), file],
  })
  const pick = (line: string): LoaderLine | undefined => {
    if (!line.startsWith('{')) return undefined
    const parsed = JSON.parse(line) as LoaderLine
    if (parsed.event === 'error') throw new Error(`loader ${name}: ${parsed.message}`)
    return parsed
  }
  const waitMs = (options.duration + 60) * 1000
  await loader.waitForLine(
    (line) => (pick(line)?.event === 'warmed' ? true : undefined),
    waitMs,
    'warmed',
  )
  const result = loader.waitForLine(
    (line) => {
      const parsed = pick(line)
      return parsed?.event === 'result' ? parsed.result : undefined
    },
    waitMs,
    'result',
  )
  const cpu = (): number => workers.reduce((sum, pid) => sum + (readCpuTicks(pid) ?? 0), 0)
  const before = cpu()
  loader.send('go')
  const value = await result
  const workerCpu = (cpu() - before) / clockTicksPerSecond()
  await loader.exited
  return { result: value, workerCpu }
}

const mib = (kib: number): string => (kib / 1024).toFixed(1)

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  const work = mkdtempSync(join(tmpdir(), 'portcullis-memory-'))
  process.once('exit', () => {
    killAllNow()
    rmSync(work, { recursive: true, force: true })
  })
  const idp = await startDemoIdp(options.port + 3, HOST)
  const upstream = new Child({
    name: 'upstream',
    command: process.execPath,
    args: [join(ROOT, 'dist/bench/upstream.js'), '--port', String(options.port + 2)],
  })
  await upstream.waitForLine(
    (line) => (line.includes('"event":"ready"') ? true : undefined),
    15_000,
    'ready line',
  )

  const configFile = join(work, 'gateway.yaml')
  writeFileSync(
    configFile,
    gatewayConfig(options, `http://${HOST}:${options.port + 3}/.well-known/jwks.json`),
  )
  const startArgs = [
    'start',
    '--config',
    configFile,
    '--workers',
    String(options.workers),
    '--front',
    options.front,
  ]
  const gateway = new Child({
    name: 'gateway',
    command: process.execPath,
    args: [join(ROOT, 'dist/src/cli/main.js'), ...startArgs],
    cwd: ROOT,
    env:
      options.nodeOptions === undefined
        ? process.env
        : { ...process.env, NODE_OPTIONS: options.nodeOptions },
  })
  const pids = await gateway.waitForLine(
    (line) => {
      if (!line.includes('"msg":"portcullis started"')) return undefined
      return (JSON.parse(line) as { pids: number[] }).pids
    },
    60_000,
    'started line',
  )
  const [primary, ...workers] = pids as [number, ...number[]]
  const rows: { process: string; phase: string; memory: Memory | undefined }[] = []
  const record = (phase: string, read: (pid: number) => Memory | undefined): void => {
    rows.push({ process: 'primary', phase, memory: read(primary) })
    workers.forEach((pid, i) => rows.push({ process: `worker ${i + 1}`, phase, memory: read(pid) }))
  }

  await sleep(3000)
  record('idle, 3 s after start', readMemory)

  const reloaded = gateway.waitForLine(
    (line) => (line.includes('reloaded') ? true : undefined),
    60_000,
    'reload line',
  )
  process.kill(primary, 'SIGHUP')
  await reloaded
  await sleep(1000)
  record('idle, 1 s after a reload (SIGHUP)', readMemory)

  const passthrough = await peaks(pids, () =>
    load(options, work, 'passthrough', [{ method: 'GET', path: '/api/bench' }], workers),
  )
  record('peak, saturation on /api/bench (auth none)', (pid) => passthrough.peaks.get(pid))

  const tokens = await Promise.all(
    Array.from({ length: TOKENS }, (_, i) => idp.mint({ sub: `user-${i}`, scope: 'profile:read' })),
  )
  const jwt = await peaks(pids, () =>
    load(
      options,
      work,
      'jwt',
      tokens.map((token) => ({
        method: 'GET',
        path: '/me',
        headers: { authorization: `Bearer ${token}` },
      })),
      workers,
    ),
  )
  record(`peak, saturation on /me (JWT, ${TOKENS} tokens)`, (pid) => jwt.peaks.get(pid))

  await sleep(3000)
  record('idle, 3 s after the load', readMemory)
  record('VmHWM (high-water mark of VmRSS) at the end', readMemory)

  await gateway.stop(10_000)
  await stopAll()
  await idp.close()

  const lines = [
    `- command: \`node dist/bench/memory.js ${process.argv.slice(2).join(' ')}\``,
    `- gateway: \`node dist/src/cli/main.js ${startArgs.join(' ').replace(work, '$TMP')}\` (config/gateway.yaml, ports moved, access log off)`,
    `- machine: Node ${process.version}, ${options.connections} connections, ${options.duration} s per load after 2 s of warm-up`,
    '',
    '| process | when | RssAnon MiB | VmRSS MiB |',
    '| --- | --- | ---: | ---: |',
  ]
  for (const { process: name, phase, memory } of rows) {
    const hwm = phase.startsWith('VmHWM')
    const anon = memory === undefined || hwm ? '—' : mib(memory.anon)
    const rss = memory === undefined ? '—' : mib(hwm ? memory.hwm : memory.rss)
    lines.push(`| ${name} | ${phase} | ${anon} | ${rss} |`)
  }
  const rate = ({ result, workerCpu }: Load): string =>
    `${Math.round(result.completed / result.elapsedSeconds).toLocaleString('en')} req/s, ` +
    `worker CPU ${((workerCpu * 1e6) / result.completed).toFixed(1)} µs/request, ` +
    `statuses ${JSON.stringify(result.statusCounts)}, errors ${result.errors}`
  lines.push('', `- /api/bench: ${rate(passthrough.value)}`, `- /me: ${rate(jwt.value)}`)
  process.stdout.write(`${lines.join('\n')}\n`)
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`memory: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  },
)
