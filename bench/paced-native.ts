/**
 * The native engine of the paced loader: bench/paced/paced-load.c, built on demand with `cc` into
 * bench/.build/paced-load and spawned by the harness in place of `dist/bench/load.js`.
 *
 * Under --pin the loader shares a core with the bench upstream, and the Node loader's own cost
 * (~27 µs of CPU per request at 15,000 req/s) and 1 ms send bursts set the fixed-rate p99 there,
 * not the target. The C loader speaks the same line protocol; when it cannot be built, the harness
 * falls back to the Node loader and says why in the run's notes.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { LoadSpec } from './protocol.js'
import { buildRequests, expectsNoBody } from './request-bytes.js'
import type { BenchRequest } from './scenarios/types.js'

export const PACED_SOURCE = 'bench/paced/paced-load.c'
export const PACED_BINARY = 'bench/.build/paced-load'

/** Which paced loader a run uses: the native one, or the Node one and why. */
export type PacedLoader =
  | { readonly kind: 'native'; readonly binary: string }
  | { readonly kind: 'node'; readonly reason: string }

/** A compile takes about a second; the first answer holds for the whole bench run. */
const loaders = new Map<string, PacedLoader>()

/** The native loader under `root`, (re)built when the binary is missing or older than its source. */
export function pacedLoader(root: string): PacedLoader {
  let loader = loaders.get(root)
  if (loader === undefined) {
    loader = build(join(root, PACED_SOURCE), join(root, PACED_BINARY))
    loaders.set(root, loader)
  }
  return loader
}

function mtimeMs(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs
  } catch {
    return undefined
  }
}

function build(source: string, binary: string): PacedLoader {
  const sourceTime = mtimeMs(source)
  if (sourceTime === undefined) return { kind: 'node', reason: `${PACED_SOURCE} is missing` }
  const binaryTime = mtimeMs(binary)
  if (binaryTime !== undefined && binaryTime >= sourceTime) return { kind: 'native', binary }
  // Built under another name and renamed: a second bench run never starts a half-written file.
  const partial = `${binary}.${process.pid}.tmp`
  try {
    mkdirSync(dirname(binary), { recursive: true })
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', partial, source], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    })
    renameSync(partial, binary)
    return { kind: 'native', binary }
  } catch (error) {
    rmSync(partial, { force: true })
    return { kind: 'node', reason: buildFailure(error) }
  }
}

/** One line: "cc not found", or the compiler's first error. */
function buildFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const { code, stderr } = error as Error & { code?: unknown; stderr?: unknown }
  if (code === 'ENOENT') return 'cc not found'
  const text = Buffer.isBuffer(stderr) ? stderr.toString('utf8') : ''
  const line = text.split('\n').find((candidate) => /error/i.test(candidate)) ?? text.split('\n')[0]
  return `cc failed: ${(line ?? '').trim() || error.message.split('\n')[0]}`
}

/**
 * The request file paced-load.c reads, little-endian: u32 count, then per request u8 flags
 * (bit 0: HEAD, no body expected), u32 length and the bytes, as bench/paced-client.ts sends them.
 */
export function encodeRequests(origin: string, requests: readonly BenchRequest[]): Buffer {
  const views = buildRequests(new URL(origin), requests)
  const count = Buffer.alloc(4)
  count.writeUInt32LE(views.length)
  const parts: Buffer[] = [count]
  views.forEach((bytes, index) => {
    const prefix = Buffer.alloc(5)
    prefix.writeUInt8(expectsNoBody(requests[index]!) ? 1 : 0, 0)
    prefix.writeUInt32LE(bytes.length, 1)
    parts.push(prefix, bytes)
  })
  return Buffer.concat(parts)
}

/** Writes the spec's requests to `file` and returns paced-load's arguments for the spec. */
export function writeNativeSpec(spec: LoadSpec, file: string): string[] {
  if (spec.rate === undefined) throw new Error('paced needs a rate')
  writeFileSync(file, encodeRequests(spec.origin, spec.requests))
  const origin = new URL(spec.origin)
  return [
    // `[::1]` in a URL, `::1` for getaddrinfo.
    ...['--host', origin.hostname.replace(/^\[(.*)\]$/, '$1')],
    ...['--port', origin.port || '80'],
    ...['--connections', String(spec.connections)],
    ...['--rate', String(spec.rate)],
    ...['--warmup', String(spec.warmupSeconds)],
    ...['--duration', String(spec.durationSeconds)],
    ...['--timeout', String(spec.timeoutSeconds)],
    ...['--requests', file],
  ]
}
