/**
 * Loader child: `node dist/bench/load.js SPEC.json`.
 *
 * Runs its own warm-up, prints `{"event":"warmed"}`, waits for `go` on stdin (so the harness can
 * read every process's CPU counters right at the start of the measured window), runs the measured
 * window and prints `{"event":"result",…}`. A separate process so that its CPU is its own line in
 * /proc and it can be pinned away from the gateway.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { performance } from 'node:perf_hooks'
import { PacedClient } from './paced-client.js'
import type { LatencySummaryMs, LoadResult, LoadSpec, LoaderLine } from './protocol.js'

// ---- autocannon (CommonJS, untyped): the slice of its API used here ------------------------------

interface AutocannonRequest {
  method: string
  path: string
  headers?: Record<string, string>
  body?: string
}

interface AutocannonOptions {
  url: string
  connections: number
  pipelining: number
  duration: number
  timeout: number
  requests: AutocannonRequest[]
  /** https: SNI, and options for every tls.connect (a client certificate). */
  servername?: string
  tlsOptions?: { cert: Buffer; key: Buffer }
  overallRate?: number
  ignoreCoordinatedOmission?: boolean
}

interface AutocannonHistogram {
  readonly average: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p99_9: number
  readonly max: number
}

interface AutocannonResult {
  readonly duration: number
  readonly errors: number
  readonly timeouts: number
  readonly requests: AutocannonHistogram & { readonly total: number; readonly sent: number }
  readonly latency: AutocannonHistogram
  readonly statusCodeStats: Readonly<Record<string, { readonly count: number }>>
}

/** The running instance's events used here (autocannon's tracker). */
interface AutocannonInstance {
  stop(): void
  on(
    event: 'response',
    listener: (client: unknown, status: number, bytes: number, ms: number) => void,
  ): void
  on(event: 'reqError', listener: (error: Error) => void): void
}

type Autocannon = (
  options: AutocannonOptions,
  callback: (error: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance

/** Loaded on first use: the paced engine should not pay for autocannon's module graph. */
let autocannon: Autocannon | undefined

// ---- protocol -----------------------------------------------------------------------------------

function emit(line: LoaderLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

/**
 * A full collection before the window (the harness starts loaders with --expose-gc): the spec's
 * parsed requests and the warm-up's garbage would otherwise be collected inside the window, and a
 * loader paused by its collector reads responses late, which shows as the target's latency. On
 * the 10 000-token streams (a 9 MB spec) this was a good part of a p99 of 17–21 ms; 11 ms without
 * it, 6 ms once the gateway's JIT is warm too (--instance-warmup). The paced engine collects
 * before the last second of its warm-up, not after it: for a few hundred milliseconds after a
 * forced collection the loader ran slowly enough to queue requests (a p99 of 30-50 ms against the
 * bench upstream alone at 15,000 req/s, 1-2 ms with a second of load in between).
 */
function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) gc()
}

function waitForGo(): Promise<void> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: process.stdin })
    lines.on('line', (line) => {
      if (line.trim() === 'go') {
        // Before close(): close emits synchronously and would reject first.
        resolve()
        lines.close()
      }
    })
    lines.once('close', () => reject(new Error('stdin closed before go')))
  })
}

// ---- autocannon engines -------------------------------------------------------------------------

function startAutocannon(
  spec: LoadSpec,
  seconds: number,
): { instance: AutocannonInstance; done: Promise<AutocannonResult> } {
  const options: AutocannonOptions = {
    url: spec.origin,
    connections: spec.connections,
    pipelining: 1,
    duration: seconds,
    timeout: spec.timeoutSeconds,
    requests: spec.requests.map((request) => ({
      method: request.method,
      path: request.path,
      ...(request.headers === undefined ? {} : { headers: { ...request.headers } }),
      ...(request.body === undefined ? {} : { body: request.body }),
    })),
  }
  if (spec.tls !== undefined) {
    options.servername = spec.tls.servername
    const { certFile, keyFile } = spec.tls
    if (certFile !== undefined && keyFile !== undefined) {
      options.tlsOptions = { cert: readFileSync(certFile), key: readFileSync(keyFile) }
    }
  }
  if (spec.engine === 'autocannon-rate') {
    if (spec.rate === undefined) throw new Error('autocannon-rate needs a rate')
    options.overallRate = spec.rate
    // autocannon's correction passes 1/rate seconds as an interval in ms (rounded up to 1 ms), so
    // it would back-fill phantom 1 ms samples under every slower response.
    options.ignoreCoordinatedOmission = true
  }
  autocannon ??= createRequire(import.meta.url)('autocannon') as Autocannon
  const run = autocannon
  let instance: AutocannonInstance | undefined
  const done = new Promise<AutocannonResult>((resolve, reject) => {
    instance = run(options, (error, result) => (error === null ? resolve(result) : reject(error)))
  })
  return { instance: instance!, done }
}

function runAutocannon(spec: LoadSpec, seconds: number): Promise<AutocannonResult> {
  return startAutocannon(spec, seconds).done
}

/**
 * One autocannon run whose connections stay open from the warm-up into the window, counted from
 * `go` on: a TLS target's new connection is a full handshake, and a fresh run for the window would
 * put one per connection into a keep-alive figure.
 */
async function runAutocannonWarm(spec: LoadSpec): Promise<void> {
  // Runs until stopped: warm-up, the wait for `go`, the window, and the slack of a late `go`.
  const budget = spec.warmupSeconds + spec.durationSeconds + 2 * spec.timeoutSeconds + 60
  const { instance, done } = startAutocannon(spec, budget)
  let counting = false
  const latencies: number[] = []
  const statusCounts: Record<string, number> = {}
  let errors = 0
  let timeouts = 0
  instance.on('response', (_client, status, _bytes, ms) => {
    if (!counting) return
    latencies.push(ms)
    statusCounts[status] = (statusCounts[status] ?? 0) + 1
  })
  instance.on('reqError', (error) => {
    if (!counting) return
    errors++
    if (error.message.includes('timed out')) timeouts++
  })
  await new Promise((resolve) => setTimeout(resolve, spec.warmupSeconds * 1000))
  emit({ event: 'warmed' })
  await waitForGo()
  counting = true
  const start = performance.now()
  await new Promise((resolve) => setTimeout(resolve, spec.durationSeconds * 1000))
  counting = false
  const elapsed = (performance.now() - start) / 1000
  // Reported before the instance stops: autocannon notices stop() on its next one-second tick, and
  // the harness ends the window on this line, so that second of load stays out of the window.
  emit({
    event: 'result',
    result: {
      engine: spec.engine,
      elapsedSeconds: elapsed,
      completed: latencies.length,
      errors,
      timeouts,
      statusCounts,
      latencyMs: summarise(Float64Array.from(latencies)),
    },
  })
  instance.stop()
  await done
}

function fromAutocannon(spec: LoadSpec, result: AutocannonResult, elapsed: number): LoadResult {
  const statusCounts: Record<string, number> = {}
  for (const [code, stat] of Object.entries(result.statusCodeStats)) statusCounts[code] = stat.count
  const l = result.latency
  return {
    engine: spec.engine,
    elapsedSeconds: elapsed,
    completed: result.requests.total,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCounts,
    latencyMs:
      result.requests.total === 0
        ? undefined
        : { p50: l.p50, p90: l.p90, p99: l.p99, p999: l.p99_9, max: l.max, mean: l.average },
    ...(spec.rate === undefined ? {} : { offeredRate: spec.rate }),
  }
}

// ---- paced engine -------------------------------------------------------------------------------

/** The end of the paced warm-up that follows the collection (see collectGarbage). */
const PACED_SETTLE_SECONDS = 1

function summarise(values: Float64Array): LatencySummaryMs | undefined {
  if (values.length === 0) return undefined
  const sorted = values.slice().sort()
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  let sum = 0
  for (const value of sorted) sum += value
  return {
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: sorted[sorted.length - 1]!,
    mean: sum / sorted.length,
  }
}

interface PacedOutcome {
  readonly elapsed: number
  readonly completed: number
  readonly errors: number
  readonly timeouts: number
  readonly statusCounts: Record<string, number>
  readonly service: Float64Array
  readonly scheduled: Float64Array
  readonly maxLag: number
  /** Requests were still out when the run ended (its deadline): the client cannot be reused. */
  readonly abandoned: boolean
}

/**
 * Open loop: request i is due at start + i/rate and is handed to the client on the first timer
 * tick at or after that, whatever became of earlier requests. When every connection is busy it
 * waits for one, and that wait counts in its latency: a slow target cannot slow the offered load.
 */
function runPaced(spec: LoadSpec, seconds: number, client: PacedClient): Promise<PacedOutcome> {
  const rate = spec.rate
  if (rate === undefined || rate <= 0) throw new Error('paced needs a positive rate')
  const total = Math.max(1, Math.floor(rate * seconds))
  const interval = 1000 / rate
  const service = new Float64Array(total)
  const scheduled = new Float64Array(total)
  const statusCounts: Record<string, number> = {}
  let issued = 0
  let finished = 0
  let recorded = 0
  let errors = 0
  let timeouts = 0
  let maxLag = 0
  let lastEnd = 0
  // Set once the client exists: building the request bytes (10 000 distinct tokens take tens of
  // milliseconds on a shared core) must not make the first requests due at once, a burst that
  // showed as the p99 of every gateway on those streams.
  let start = 0

  return new Promise((resolve) => {
    const settle = (): void => {
      finished += 1
      if (finished === total) finish()
    }
    client.sink = {
      onComplete: ({ id, status, latencyMs, handedOffAt }) => {
        lastEnd = handedOffAt + latencyMs
        service[recorded] = latencyMs
        scheduled[recorded] = lastEnd - (start + id * interval)
        recorded += 1
        const key = String(status)
        statusCounts[key] = (statusCounts[key] ?? 0) + 1
        settle()
      },
      onError: (error) => {
        errors += 1
        if (error.message === 'timeout') timeouts += 1
        settle()
      },
    }
    start = performance.now()
    let finishedAlready = false
    const finish = (): void => {
      if (finishedAlready) return
      finishedAlready = true
      clearTimeout(deadline)
      const abandoned = finished < total
      if (abandoned) client.close()
      resolve({
        elapsed: ((lastEnd > 0 ? lastEnd : performance.now()) - start) / 1000,
        completed: recorded,
        errors,
        timeouts,
        statusCounts,
        service: service.subarray(0, recorded),
        scheduled: scheduled.subarray(0, recorded),
        maxLag,
        abandoned,
      })
    }
    // Whatever has not come back a timeout after the last send is counted as an error.
    const deadline = setTimeout(
      () => {
        errors += total - finished
        finish()
      },
      seconds * 1000 + spec.timeoutSeconds * 1000 + 1000,
    )

    const tick = (): void => {
      const now = performance.now()
      const due = Math.min(total, Math.floor((now - start) / interval) + 1)
      if (issued < due) {
        const lag = now - (start + issued * interval)
        if (lag > maxLag) maxLag = lag
      }
      while (issued < due) client.submit(issued++)
      if (issued < total) setTimeout(tick, 1)
    }
    tick()
  })
}

function fromPaced(spec: LoadSpec, outcome: PacedOutcome): LoadResult {
  return {
    engine: spec.engine,
    elapsedSeconds: outcome.elapsed,
    completed: outcome.completed,
    errors: outcome.errors,
    timeouts: outcome.timeouts,
    statusCounts: outcome.statusCounts,
    latencyMs: summarise(outcome.service),
    scheduledLatencyMs: summarise(outcome.scheduled),
    ...(spec.rate === undefined ? {} : { offeredRate: spec.rate }),
    maxSendLagMs: outcome.maxLag,
  }
}

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const file = process.argv[2]
  if (file === undefined) throw new Error('usage: load.js SPEC.json')
  const spec = JSON.parse(readFileSync(file, 'utf8')) as LoadSpec
  if (spec.requests.length === 0) throw new Error('spec has no requests')

  // Bounded whatever the target does: warm-up, window, the last timeouts, and a margin.
  const limit = (spec.warmupSeconds + spec.durationSeconds + 2 * spec.timeoutSeconds + 60) * 1000
  setTimeout(() => {
    emit({ event: 'error', message: `loader exceeded its ${limit} ms budget` })
    process.exit(3)
  }, limit).unref()
  const parent = process.ppid
  setInterval(() => {
    if (process.ppid !== parent) process.exit(4)
  }, 1000).unref()

  if (spec.engine === 'paced') {
    // The window goes on with the warm-up's connections. Opened afresh, 64 connections made the
    // first few hundred milliseconds of an open-loop window a queue (a p99 of 70-270 ms against
    // the bench upstream alone at 15,000 req/s, 2 ms on warm connections): a figure of this
    // loader's start, not of the target's steady state, which the fixed rate measures.
    const newClient = (): PacedClient =>
      new PacedClient({
        origin: spec.origin,
        requests: spec.requests,
        connections: spec.connections,
        timeoutMs: spec.timeoutSeconds * 1000,
      })
    let client = newClient()
    const settle = Math.min(PACED_SETTLE_SECONDS, spec.warmupSeconds / 2)
    if (settle > 0 && (await runPaced(spec, spec.warmupSeconds - settle, client)).abandoned) {
      client = newClient()
    }
    collectGarbage()
    if (settle > 0 && (await runPaced(spec, settle, client)).abandoned) client = newClient()
    emit({ event: 'warmed' })
    await waitForGo()
    const outcome = await runPaced(spec, spec.durationSeconds, client)
    client.close()
    emit({ event: 'result', result: fromPaced(spec, outcome) })
  } else if (spec.tls !== undefined && spec.engine === 'autocannon') {
    await runAutocannonWarm(spec)
  } else {
    if (spec.warmupSeconds > 0) await runAutocannon(spec, spec.warmupSeconds)
    collectGarbage()
    emit({ event: 'warmed' })
    await waitForGo()
    const start = performance.now()
    const result = await runAutocannon(spec, spec.durationSeconds)
    const elapsed = (performance.now() - start) / 1000
    emit({ event: 'result', result: fromAutocannon(spec, result, elapsed) })
  }
  process.exit(0)
}

main().catch((error: unknown) => {
  emit({ event: 'error', message: error instanceof Error ? error.message : String(error) })
  process.exit(1)
})
