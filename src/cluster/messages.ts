/** The typed IPC boundary between the primary and its workers. */
import type { GatewayConfig } from '../config/schema.js'
import type { MetricFamily } from '../observability/metrics/families.js'
import type { WorkerSlotView } from './admin-host.js'
import type { FrontKind } from './gateway-process.js'

export type ToWorker =
  | {
      readonly type: 'start'
      readonly config: GatewayConfig
      readonly front: FrontKind
      readonly verifyThreads: number
      /** This worker's slot (0…count-1): a respawned worker takes its predecessor's slot. */
      readonly workerIndex: number
      readonly workerCount: number
    }
  | { readonly type: 'reload'; readonly config: GatewayConfig; readonly generation: number }
  | { readonly type: 'shutdown'; readonly graceMs: number }
  /** The answer to a `status-request`: every worker slot (admin API GET /status). */
  | { readonly type: 'status'; readonly id: number; readonly workers: readonly WorkerSlotView[] }
  /** The primary gathers a scrape: this worker's families, answered by `metrics`. */
  | { readonly type: 'metrics-collect'; readonly id: number }
  /** The answer to a `metrics-request`: every process's families, the primary's included. */
  | {
      readonly type: 'metrics-reply'
      readonly id: number
      readonly processes: readonly (readonly MetricFamily[])[]
    }

export type ToPrimary =
  | { readonly type: 'ready' }
  | {
      readonly type: 'listening'
      readonly front: string
      readonly verifier: string
      readonly upstreamSockets: string
      readonly listeners: readonly string[]
    }
  | { readonly type: 'start-failed'; readonly error: string }
  | { readonly type: 'reloaded'; readonly generation: number; readonly error: string | null }
  | { readonly type: 'status-request'; readonly id: number }
  /** /metrics was scraped on this worker's status listener: gather every process's families. */
  | { readonly type: 'metrics-request'; readonly id: number }
  | { readonly type: 'metrics'; readonly id: number; readonly families: readonly MetricFamily[] }
