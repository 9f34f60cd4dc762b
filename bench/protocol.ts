/**
 * What bench/run.ts and its loader child (bench/load.ts) exchange. The spec goes in a JSON file
 * (a rotating token list can be far larger than one argv string may be); results come back as
 * JSON lines on the loader's stdout.
 */
import type { BenchRequest } from './scenarios/types.js'

/**
 * - `autocannon`: closed loop, every connection sends its next request when the last one returns.
 *   Saturation throughput.
 * - `paced`: open loop at a fixed offered rate, requests spread evenly over each second. Latency at
 *   a given load.
 * - `autocannon-rate`: autocannon's `overallRate`, kept for comparison: it lets every connection
 *   send its per-second quota back to back and then idle, so its latencies are those of bursts.
 */
export type LoadEngine = 'autocannon' | 'paced' | 'autocannon-rate'

export interface LoadSpec {
  readonly engine: LoadEngine
  /** `http://127.0.0.1:18080` */
  readonly origin: string
  readonly requests: readonly BenchRequest[]
  readonly connections: number
  /** Requests per second for this loader process (`paced`, `autocannon-rate`). */
  readonly rate?: number
  readonly warmupSeconds: number
  readonly durationSeconds: number
  /** Per-request timeout. */
  readonly timeoutSeconds: number
  /** An https origin: the name sent in SNI, and for mutual TLS the client's PEM files. */
  readonly tls?: LoadTls
}

/** What a loader's TLS client sends (autocannon's `servername` and `tlsOptions`). */
export interface LoadTls {
  readonly servername: string
  readonly certFile?: string
  readonly keyFile?: string
}

export interface LatencySummaryMs {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  readonly mean: number
}

export interface LoadResult {
  /** `wrk` or `s_time` when parsed from that tool's run rather than produced by bench/load.ts. */
  readonly engine: LoadEngine | 'wrk' | 's_time'
  /** Wall time of the measured window, seconds. */
  readonly elapsedSeconds: number
  /** Responses received (any status). */
  readonly completed: number
  /** Connection errors and timeouts. */
  readonly errors: number
  readonly timeouts: number
  readonly statusCounts: Readonly<Record<string, number>>
  /** From the moment the request was handed to the client library to the end of the response. */
  readonly latencyMs: LatencySummaryMs | undefined
  /** `paced` only: from the request's scheduled time, so the loader's own lag shows up here. */
  readonly scheduledLatencyMs?: LatencySummaryMs
  /** `paced` only: the rate asked for and the worst lag of the scheduler behind it. */
  readonly offeredRate?: number
  readonly maxSendLagMs?: number
}

/** Lines the loader prints: `warmed` once warm, then (after `go` on stdin) `result`. */
export type LoaderLine =
  | { readonly event: 'warmed' }
  | { readonly event: 'result'; readonly result: LoadResult }
  | { readonly event: 'error'; readonly message: string }
