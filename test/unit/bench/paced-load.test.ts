/**
 * The native paced loader (bench/paced/paced-load.c), built with cc and run against node:http
 * servers: its line protocol, its result fields, and the response framings it must follow.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PACED_SOURCE, encodeRequests } from '../../../bench/paced-native.js'
import type { LatencySummaryMs, LoadResult, LoaderLine } from '../../../bench/protocol.js'
import type { BenchRequest } from '../../../bench/scenarios/types.js'
import { refusingPort } from '../../helpers/ports.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const hasCc = spawnSync('cc', ['--version']).error === undefined

let dir = ''
let binary = ''
let server: Server | undefined

beforeAll(() => {
  if (!hasCc) return
  dir = mkdtempSync(join(tmpdir(), 'paced-load-'))
  binary = join(dir, 'paced-load')
  // -Werror: the loader is meant to build without a warning.
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, join(ROOT, PACED_SOURCE)])
})

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
})

afterEach(async () => {
  const open = server
  server = undefined
  if (open === undefined) return
  open.closeAllConnections()
  await new Promise((resolve) => open.close(resolve))
})

async function listen(handler: RequestListener): Promise<{ port: number; sockets: () => number }> {
  let sockets = 0
  server = createServer(handler)
  server.on('connection', () => (sockets += 1))
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as AddressInfo).port, sockets: () => sockets }
}

interface Run {
  readonly port: number
  readonly requests: readonly BenchRequest[]
  readonly rate: number
  readonly warmup: number
  readonly duration: number
  readonly timeout: number
  readonly connections?: number
  /** Close stdin at `warmed` instead of sending `go`. */
  readonly noGo?: boolean
}

interface Outcome {
  readonly lines: readonly LoaderLine[]
  readonly code: number | null
}

/** Runs the loader to its exit, sending `go` once it is warm; killed if it overstays. */
function runLoader(run: Run): Promise<Outcome> {
  const file = join(dir, `requests-${run.port}-${Date.now()}`)
  writeFileSync(file, encodeRequests(`http://127.0.0.1:${run.port}`, run.requests))
  const args = [
    ...['--host', '127.0.0.1', '--port', String(run.port)],
    ...['--connections', String(run.connections ?? 16), '--rate', String(run.rate)],
    ...['--warmup', String(run.warmup), '--duration', String(run.duration)],
    ...['--timeout', String(run.timeout), '--requests', file],
  ]
  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines: LoaderLine[] = []
  let text = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    text += chunk
    for (let eol = text.indexOf('\n'); eol >= 0; eol = text.indexOf('\n')) {
      const line = JSON.parse(text.slice(0, eol)) as LoaderLine
      text = text.slice(eol + 1)
      lines.push(line)
      if (line.event !== 'warmed') continue
      if (run.noGo === true) child.stdin.end()
      else child.stdin.write('go\n')
    }
  })
  const limit = (run.warmup + run.duration + 2 * run.timeout + 5) * 1000
  const timer = setTimeout(() => child.kill('SIGKILL'), limit)
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ lines, code })
    })
  })
}

function resultOf(outcome: Outcome): LoadResult {
  expect(outcome.code).toBe(0)
  expect(outcome.lines.map((line) => line.event)).toEqual(['warmed', 'result'])
  const last = outcome.lines[1]!
  if (last.event !== 'result') throw new Error('no result')
  return last.result
}

function expectSummary(summary: LatencySummaryMs | undefined): void {
  expect(summary).toBeDefined()
  const { p50, p90, p99, p999, max, mean } = summary!
  for (const value of [p50, p90, p99, p999, max, mean]) expect(Number.isFinite(value)).toBe(true)
  expect(p50).toBeGreaterThan(0)
  expect(p50).toBeLessThanOrEqual(p90)
  expect(p90).toBeLessThanOrEqual(p99)
  expect(p99).toBeLessThanOrEqual(p999)
  expect(p999).toBeLessThanOrEqual(max)
}

describe.skipIf(!hasCc)('paced-load (native paced loader)', () => {
  it('paces content-length, chunked and HEAD responses and reports them as the paced engine does', async () => {
    const hits = new Map<string, number>()
    let badPosts = 0
    const { port } = await listen((req, res) => {
      hits.set(req.url!, (hits.get(req.url!) ?? 0) + 1)
      let body = ''
      req.on('data', (chunk: Buffer) => (body += chunk.toString()))
      req.on('end', () => {
        if (req.url === '/length') {
          if (req.method === 'POST' && (body !== 'hello' || req.headers['x-bench'] !== 'yes')) {
            badPosts += 1
          }
          res.writeHead(200, { 'content-length': '11' }).end('{"ok":true}')
        } else if (req.url === '/chunked') {
          // No content-length: node:http frames it chunked, here with a trailer.
          res.writeHead(201, { trailer: 'x-done' })
          res.write('{"ok":')
          res.addTrailers({ 'x-done': '1' })
          res.end('true}')
        } else {
          // HEAD: the length of the body a GET would get, and no body.
          res.writeHead(202, { 'content-length': '11' }).end()
        }
      })
    })
    const requests: BenchRequest[] = [
      { method: 'GET', path: '/length' },
      { method: 'GET', path: '/chunked' },
      { method: 'HEAD', path: '/head' },
      { method: 'POST', path: '/length', headers: { 'x-bench': 'yes' }, body: 'hello' },
    ]
    const result = resultOf(
      await runLoader({ port, requests, rate: 2000, warmup: 1, duration: 1, timeout: 2 }),
    )

    expect(result.engine).toBe('paced')
    expect(result.offeredRate).toBe(2000)
    expect(result.completed).toBe(2000)
    expect(result.errors).toBe(0)
    expect(result.timeouts).toBe(0)
    // Round-robin carried on from the warm-up's 2000 (a multiple of 4): 500 of each.
    expect(result.statusCounts).toEqual({ '200': 1000, '201': 500, '202': 500 })
    expect(result.elapsedSeconds).toBeGreaterThan(0.95)
    expect(result.elapsedSeconds).toBeLessThan(1.5)
    expect(result.maxSendLagMs).toBeGreaterThanOrEqual(0)
    expectSummary(result.latencyMs)
    expectSummary(result.scheduledLatencyMs)
    // Scheduled latency starts at the due time, never after the hand-off.
    expect(result.scheduledLatencyMs!.max).toBeGreaterThanOrEqual(result.latencyMs!.max)
    expect(hits.get('/length')).toBe(2000)
    expect(hits.get('/chunked')).toBe(1000)
    expect(hits.get('/head')).toBe(1000)
    expect(badPosts).toBe(0)
  })

  it('skips 1xx heads, reads 204 without a body and reconnects after Connection: close', async () => {
    const { port, sockets } = await listen((req, res) => {
      if (req.url === '/early') {
        res.writeEarlyHints({ link: '</style.css>; rel=preload' })
        res.writeHead(200, { 'content-length': '2' }).end('ok')
      } else if (req.url === '/close') {
        res.writeHead(200, { connection: 'close', 'content-length': '2' }).end('ok')
      } else {
        res.writeHead(204).end()
      }
    })
    const requests: BenchRequest[] = [
      { method: 'GET', path: '/early' },
      { method: 'GET', path: '/close' },
      { method: 'GET', path: '/empty' },
    ]
    const result = resultOf(
      await runLoader({ port, requests, rate: 600, warmup: 0, duration: 1, timeout: 2 }),
    )
    expect(result.completed).toBe(600)
    expect(result.errors).toBe(0)
    expect(result.statusCounts).toEqual({ '200': 400, '204': 200 })
    // Every /close response closed its connection; the next request on it opened another.
    expect(sockets()).toBeGreaterThanOrEqual(200)
  })

  it('counts requests that outlive the timeout as errors and timeouts', async () => {
    // Never answers: the loader gives up on each request after its timeout.
    const { port } = await listen(() => undefined)
    const result = resultOf(
      await runLoader({
        port,
        requests: [{ method: 'GET', path: '/never' }],
        rate: 20,
        warmup: 0,
        duration: 1,
        timeout: 0.2,
        connections: 32,
      }),
    )
    expect(result.completed).toBe(0)
    expect(result.errors).toBe(20)
    expect(result.timeouts).toBe(20)
    expect(result.latencyMs).toBeUndefined()
    expect(result.scheduledLatencyMs).toBeUndefined()
  })

  it('counts refused connections as errors', async () => {
    const port = await refusingPort()
    const result = resultOf(
      await runLoader({
        port,
        requests: [{ method: 'GET', path: '/' }],
        rate: 100,
        warmup: 0,
        duration: 0.5,
        timeout: 1,
      }),
    )
    expect(result.completed).toBe(0)
    expect(result.errors).toBe(50)
    expect(result.timeouts).toBe(0)
  })

  it('reports an error and exits non-zero when stdin closes before go', async () => {
    const { port } = await listen((_req, res) => res.end('ok'))
    const outcome = await runLoader({
      port,
      requests: [{ method: 'GET', path: '/' }],
      rate: 100,
      warmup: 0,
      duration: 1,
      timeout: 1,
      noGo: true,
    })
    expect(outcome.code).not.toBe(0)
    expect(outcome.lines).toEqual([
      { event: 'warmed' },
      { event: 'error', message: 'stdin closed before go' },
    ])
  })
})
