/**
 * `npm run fuzz`: a bounded fuzz run against a live gateway on loopback.
 *
 *   npm run fuzz -- [--cases 20000] [--seconds 300] [--seed N] [--front uws|node] [--workers 2]
 *                   [--concurrency 48] [--only 12,40] [--strict] [--verbose]
 *
 * Request cases (mutated raw requests) go to a real gateway in front of a strict echo upstream;
 * response cases make a raw upstream answer with mutated responses, each followed by a valid
 * request that must get its 200. Prints crashes (a worker or the primary died), hangs (a
 * connection neither answered nor closed, or the gateway stopped answering probes), 5xx other
 * than 501–505, requests the upstream could not parse, and the workers' RSS growth. Exits 1 on a
 * crash or a hang (with --strict, on any finding), 2 on a bad command line. Every case is
 * regenerated from the seed and its index, so `--seed S --only i` replays it.
 */
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { readMemKiB, killAllNow } from '../processes.js'
import { readOutcome, Wire, type Outcome, type Timing } from './exchange.js'
import { fuzzTokens, startFuzzGateway, type FuzzGateway } from './gateway.js'
import { escapeBytes, Prng } from './prng.js'
import { controlRequest, generateRequestCase, type RequestCase } from './requests.js'
import { generateResponseCase, type ResponseCase } from './responses.js'
import {
  CONTROL_BODY,
  startEchoUpstream,
  startRawUpstream,
  type EchoUpstream,
  type RawUpstream,
} from './targets.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const CLI = join(ROOT, 'dist/src/cli/main.js')

/** Request cases to upstream-response cases, about 4 to 1. */
const RESPONSE_SHARE = 0.2
const TIMING: Timing = { answerMs: 1500, closeMs: 3000 }
const CONNECT_MS = 3000
const PROBE_EVERY_MS = 2000
/** Statuses a gateway may give a malformed request; 502–504 name upstream trouble. */
const ACCEPTED_5XX = new Set([501, 502, 503, 504, 505])
const MAX_PRINTED = 20

interface Options {
  cases: number
  seconds: number
  seed: number
  front: 'uws' | 'node'
  workers: number
  concurrency: number
  only: number[] | null
  strict: boolean
  verbose: boolean
}

const USAGE =
  'usage: fuzz [--cases N] [--seconds S] [--seed N] [--front uws|node] [--workers N] ' +
  '[--concurrency N] [--only i,j] [--strict] [--verbose]'

function parseArgs(argv: readonly string[]): Options {
  const options: Options = {
    cases: 20_000,
    seconds: 300,
    seed: Math.floor(Math.random() * 2 ** 32),
    front: 'uws',
    workers: 2,
    concurrency: 48,
    only: null,
    strict: false,
    verbose: false,
  }
  const integer = (name: string, value: string | undefined, min: number): number => {
    const n = Number(value)
    if (!Number.isSafeInteger(n) || n < min)
      throw new Error(`${name}: expected an integer ≥ ${min}, got ${String(value)}`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const value = argv[i + 1]
    switch (arg) {
      case '--cases':
        options.cases = integer(arg, value, 1)
        i++
        break
      case '--seconds':
        options.seconds = integer(arg, value, 1)
        i++
        break
      case '--seed':
        options.seed = integer(arg, value, 0) >>> 0
        i++
        break
      case '--workers':
        options.workers = integer(arg, value, 1)
        i++
        break
      case '--concurrency':
        options.concurrency = integer(arg, value, 1)
        i++
        break
      case '--front':
        if (value !== 'uws' && value !== 'node')
          throw new Error(`--front: uws or node, got ${String(value)}`)
        options.front = value
        i++
        break
      case '--only':
        options.only = (value ?? '').split(',').map((v) => integer(arg, v, 0))
        i++
        break
      case '--strict':
        options.strict = true
        break
      case '--verbose':
        options.verbose = true
        break
      case '--help':
        console.log(USAGE)
        process.exit(0)
      // falls through: exit never returns
      default:
        throw new Error(`unknown option ${arg}`)
    }
  }
  return options
}

type CaseOf =
  { kind: 'request'; request: RequestCase } | { kind: 'response'; response: ResponseCase }

function generate(seed: number, index: number, tokens: readonly string[], host: string): CaseOf {
  const prng = Prng.forCase(seed, index)
  return prng.chance(RESPONSE_SHARE)
    ? { kind: 'response', response: generateResponseCase(prng, index) }
    : { kind: 'request', request: generateRequestCase(prng, index, { host, tokens }) }
}

interface Finding {
  readonly index: number
  readonly what: string
  readonly label: string
  readonly bytes: Buffer
}

class Tally {
  readonly outcomes = new Map<string, number>()
  readonly statuses = new Map<string, number>()
  readonly findings: Finding[] = []
  readonly hangs: Finding[] = []
  readonly notices = new Map<string, number>()
  requestCases = 0
  responseCases = 0

  count(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1)
  }
}

async function runRequestCase(
  port: number,
  host: string,
  c: RequestCase,
  tally: Tally,
): Promise<Outcome> {
  const wire = await Wire.open(port, CONNECT_MS)
  try {
    if (c.reuse) {
      await wire.write([controlRequest(host, '/pub/reuse')])
      const before = await readOutcome(wire, 1, false, TIMING)
      if (before.kind !== 'answered' || before.statuses[0] !== 200 || wire.closed) {
        tally.count(tally.notices, 'valid request before a reused case not answered 200')
        return before
      }
      wire.clear()
    }
    await wire.write(c.writes)
    return await readOutcome(wire, c.requests, c.head, TIMING)
  } finally {
    wire.destroy()
  }
}

/** The case's response, then a valid request that must get 200 `ok` (on the same connection when it is still open). */
async function runResponseCase(
  port: number,
  host: string,
  raw: RawUpstream,
  c: ResponseCase,
): Promise<{ outcome: Outcome; next: string | null }> {
  raw.answer(`c${c.index}`, c.answer)
  let wire = await Wire.open(port, CONNECT_MS)
  try {
    await wire.write([controlRequest(host, `/rf/c${c.index}`)])
    const outcome = await readOutcome(wire, 1, false, TIMING)
    if (outcome.kind !== 'answered' || outcome.closed || !outcome.complete) {
      wire.destroy()
      wire = await Wire.open(port, CONNECT_MS)
    }
    wire.clear()
    await wire.write([controlRequest(host, `/rf/ok-${c.index}`)])
    const next = await readOutcome(wire, 1, false, TIMING)
    const good =
      next.kind === 'answered' &&
      next.statuses[0] === 200 &&
      wire.data.toString('latin1').endsWith(`\r\n\r\n${CONTROL_BODY}`)
    return { outcome, next: good ? null : describe(next) }
  } finally {
    wire.destroy()
  }
}

function describe(outcome: Outcome): string {
  return outcome.kind === 'answered' ? `answered ${outcome.statuses.join(',')}` : outcome.kind
}

function record(
  tally: Tally,
  index: number,
  label: string,
  bytes: Buffer,
  outcome: Outcome,
  healthyUpstream: boolean,
): void {
  tally.count(tally.outcomes, outcome.kind)
  if (outcome.kind === 'hang') {
    tally.hangs.push({
      index,
      what: `hang (received ${outcome.received.length} bytes: ${escapeBytes(outcome.received, 200)})`,
      label,
      bytes,
    })
    return
  }
  if (outcome.kind !== 'answered') return
  for (const status of outcome.statuses) {
    tally.count(tally.statuses, `${Math.floor(status / 100)}xx`)
    if (status >= 500 && !ACCEPTED_5XX.has(status)) {
      tally.findings.push({ index, what: `status ${status}`, label, bytes })
    } else if (healthyUpstream && status >= 502 && status <= 504) {
      tally.count(tally.notices, `${status} with a healthy upstream`)
      if (tally.notices.get(`${status} with a healthy upstream`)! <= 3) {
        tally.findings.push({
          index,
          what: `status ${status} with a healthy upstream (notice)`,
          label,
          bytes,
        })
      }
    }
  }
}

/** Valid requests on fresh connections; null when all answered 200 in time. */
async function probe(port: number, host: string, count: number): Promise<string | null> {
  const results = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      let wire: Wire
      try {
        wire = await Wire.open(port, CONNECT_MS)
      } catch (error) {
        return `connect: ${(error as Error).message}`
      }
      try {
        await wire.write([controlRequest(host, `/pub/probe-${i}`)])
        const outcome = await readOutcome(wire, 1, false, { answerMs: 3000, closeMs: 1000 })
        return outcome.kind === 'answered' && outcome.statuses[0] === 200 ? null : describe(outcome)
      } finally {
        wire.destroy()
      }
    }),
  )
  const failed = results.filter((r) => r !== null)
  return failed.length === 0 ? null : failed.join('; ')
}

function rssMiB(pids: readonly number[]): Map<number, number> {
  const out = new Map<number, number>()
  for (const pid of pids) {
    const mem = readMemKiB(pid)
    if (mem !== undefined) out.set(pid, mem.rss / 1024)
  }
  return out
}

function printFinding(options: Options, finding: Finding, label: string): void {
  console.log(`  case ${finding.index} [${finding.label}]: ${finding.what}`)
  console.log(`    ${label}: ${escapeBytes(finding.bytes, 2000)}`)
  console.log(
    `    replay: npm run fuzz -- --seed ${options.seed} --front ${options.front} --only ${finding.index}`,
  )
}

function caseBytes(c: CaseOf): { bytes: Buffer; label: string; what: string } {
  return c.kind === 'request'
    ? { bytes: Buffer.concat(c.request.writes), label: c.request.label, what: 'request bytes' }
    : {
        bytes: Buffer.concat(c.response.answer.writes),
        label: c.response.label,
        what: 'upstream response bytes',
      }
}

async function main(): Promise<number> {
  let options: Options
  try {
    options = parseArgs(process.argv.slice(2))
  } catch (error) {
    console.error(`fuzz: ${(error as Error).message}\n${USAGE}`)
    return 2
  }
  const started = Date.now()
  const echo: EchoUpstream = await startEchoUpstream()
  const raw = await startRawUpstream()
  let gateway: FuzzGateway | null = null
  try {
    gateway = await startFuzzGateway({
      cli: CLI,
      root: ROOT,
      front: options.front,
      workers: options.workers,
      echoUrl: echo.url,
      rawUrl: raw.url,
    })
    const { port, host } = gateway
    const tokens = fuzzTokens()
    const indices = options.only ?? Array.from({ length: options.cases }, (_, i) => i)
    console.log(
      `portcullis fuzz: seed ${options.seed}, front ${options.front}, ${options.workers} workers, ` +
        `${indices.length} cases, at most ${options.seconds} s, gateway pids ${gateway.child.pid} ${gateway.workerPids.join(' ')}`,
    )

    // Warm up before the first RSS reading, so the growth is the fuzzing's, not the JIT's.
    for (let i = 0; i < 20; i++) await probe(port, host, 10)
    const rssBefore = rssMiB(gateway.workerPids)

    const tally = new Tally()
    const running = new Set<number>()
    const crashes: { line: string; inFlight: number[] }[] = []
    const gw = gateway
    const offLine = gateway.child.onLine((line) => {
      if (line.includes('"worker died')) crashes.push({ line, inFlight: [...running] })
    })
    let primaryExited = false
    void gateway.child.exited.then(() => (primaryExited = true))

    const deadline = started + options.seconds * 1000
    let next = 0
    let done = 0
    let unresponsive: string | null = null
    let lastProbe = Date.now()
    let lastReport = Date.now()
    const runner = async (): Promise<void> => {
      while (
        next < indices.length &&
        Date.now() < deadline &&
        !primaryExited &&
        unresponsive === null
      ) {
        const index = indices[next++]!
        const c = generate(options.seed, index, tokens, host)
        running.add(index)
        try {
          if (c.kind === 'request') {
            tally.requestCases++
            const outcome = await runRequestCase(port, host, c.request, tally)
            record(tally, index, c.request.label, Buffer.concat(c.request.writes), outcome, true)
            if (options.verbose)
              console.log(`${index} request [${c.request.label}] → ${describe(outcome)}`)
          } else {
            tally.responseCases++
            const { outcome, next: failed } = await runResponseCase(port, host, raw, c.response)
            const bytes = Buffer.concat(c.response.answer.writes)
            record(tally, index, c.response.label, bytes, outcome, false)
            if (failed !== null) {
              tally.findings.push({
                index,
                what: `the valid request after it: ${failed}`,
                label: c.response.label,
                bytes,
              })
            }
            if (options.verbose)
              console.log(`${index} response [${c.response.label}] → ${describe(outcome)}`)
          }
        } catch (error) {
          const { bytes, label } = caseBytes(c)
          tally.count(tally.outcomes, 'connect-failed')
          tally.findings.push({
            index,
            what: `client error: ${(error as Error).message}`,
            label,
            bytes,
          })
        } finally {
          running.delete(index)
          done++
        }
        if (Date.now() - lastProbe > PROBE_EVERY_MS) {
          lastProbe = Date.now()
          const failed = await probe(port, host, options.workers * 2)
          if (failed !== null)
            unresponsive = `${failed} (cases in flight: ${[...running].join(', ')})`
        }
        if (Date.now() - lastReport > 10_000) {
          lastReport = Date.now()
          console.log(`  … ${done} cases in ${((Date.now() - started) / 1000).toFixed(0)} s`)
        }
      }
    }
    await Promise.all(Array.from({ length: options.concurrency }, runner))
    // A worker death is logged a moment after it happens.
    await new Promise((resolve) => setTimeout(resolve, 300))
    offLine()
    if (unresponsive === null && !primaryExited) {
      const failed = await probe(port, host, options.workers * 2)
      if (failed !== null) unresponsive = failed
    }
    const rssAfter = rssMiB(gw.workerPids)
    const seconds = (Date.now() - started) / 1000

    console.log(
      `\n${done} cases (${tally.requestCases} requests, ${tally.responseCases} upstream responses) in ${seconds.toFixed(1)} s`,
    )
    const list = (map: Map<string, number>) =>
      [...map]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    console.log(`outcomes: ${list(tally.outcomes)}`)
    console.log(`statuses: ${list(tally.statuses)}`)
    console.log(`upstream could not parse what the gateway forwarded: ${echo.clientErrors.length}`)
    for (const e of echo.clientErrors.slice(0, 5))
      console.log(`  ${e.code}: ${escapeBytes(e.bytes, 300)}`)
    for (const [what, n] of tally.notices) console.log(`notice: ${what}: ${n}`)
    const rssLines = [...rssBefore].map(([pid, before]) => {
      const after = rssAfter.get(pid)
      return after === undefined
        ? `pid ${pid} ${before.toFixed(1)} MiB → gone`
        : `pid ${pid} ${before.toFixed(1)} → ${after.toFixed(1)} MiB (${after - before >= 0 ? '+' : ''}${(after - before).toFixed(1)})`
    })
    console.log(`worker RSS: ${rssLines.join('; ')}`)

    console.log(`\ncrashes: ${crashes.length + (primaryExited ? 1 : 0)}`)
    for (const crash of crashes.slice(0, MAX_PRINTED)) {
      console.log(`  ${crash.line}`)
      console.log(`  cases in flight: ${crash.inFlight.join(', ')}`)
      for (const index of crash.inFlight) {
        const c = generate(options.seed, index, tokens, host)
        const { bytes, label, what } = caseBytes(c)
        printFinding(options, { index, what: 'in flight at the crash', label, bytes }, what)
      }
    }
    if (crashes.length > 0 || primaryExited) console.log(`gateway output:\n${gw.child.tail()}`)
    if (primaryExited) console.log('  the primary exited')
    console.log(`hangs: ${tally.hangs.length + (unresponsive === null ? 0 : 1)}`)
    if (unresponsive !== null)
      console.log(`  the gateway stopped answering valid requests: ${unresponsive}`)
    for (const hang of tally.hangs.slice(0, MAX_PRINTED)) {
      printFinding(
        options,
        hang,
        hang.label.includes('response') ||
          caseBytes(generate(options.seed, hang.index, tokens, host)).what ===
            'upstream response bytes'
          ? 'upstream response bytes'
          : 'request bytes',
      )
    }
    console.log(`findings: ${tally.findings.length}`)
    const kinds = new Map<string, number>()
    for (const f of tally.findings) {
      const key = `${f.what} after a ${f.label.split(/[ +|]/)[0]!} case`
      kinds.set(key, (kinds.get(key) ?? 0) + 1)
    }
    for (const [key, n] of [...kinds].sort((a, b) => b[1] - a[1])) console.log(`  ${n} × ${key}`)
    for (const finding of tally.findings.slice(0, MAX_PRINTED)) {
      printFinding(
        options,
        finding,
        caseBytes(generate(options.seed, finding.index, tokens, host)).what,
      )
    }

    const failed =
      crashes.length > 0 || primaryExited || tally.hangs.length > 0 || unresponsive !== null
    const strictFailed =
      options.strict && (tally.findings.length > 0 || echo.clientErrors.length > 0)
    console.log(failed || strictFailed ? '\nFAIL' : '\nPASS (no crash, no hang)')
    return failed || strictFailed ? 1 : 0
  } finally {
    await gateway?.stop()
    await echo.close()
    await raw.close()
  }
}

process.on('exit', killAllNow)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllNow()
    process.exit(130)
  })
}
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('fuzz: failed:', error)
    killAllNow()
    process.exit(1)
  },
)
