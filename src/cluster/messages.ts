/** The typed IPC boundary between the primary and its workers. */
import type { GatewayConfig } from '../config/schema.js'
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
