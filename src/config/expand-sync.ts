/**
 * expand.ts, synchronously: loading a config stays one synchronous call (`check`, the checker
 * thread, the reloads of `--workers 0`, the suites), while the parsers it needs read files
 * asynchronously. The expansion runs on a short-lived thread and this one waits for its answer
 * (Atomics.wait on a shared flag, then receiveMessageOnPort); a config that refers to no other
 * file starts no thread.
 */
import { fileURLToPath } from 'node:url'
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads'
import { PortcullisError, type ConfigProblem } from '../errors.js'
import type { ExpandedConfig } from './expand.js'
import { hasFileRef } from './file-refs.js'
import type { GatewayConfig } from './schema.js'

/** A document import that has not answered by then is a config error, not a hung load. */
const EXPAND_TIMEOUT_MS = 60_000

/** What the thread receives: the config, its file, the flag it raises and the port it answers on. */
export interface ExpandRequest {
  readonly config: GatewayConfig
  readonly file: string
  readonly flag: SharedArrayBuffer
  readonly port: MessagePort
}

export type ExpandAnswer =
  | { readonly kind: 'expanded'; readonly expanded: ExpandedConfig }
  | { readonly kind: 'failed'; readonly stack: string }

export function expandConfigSync(config: GatewayConfig, file: string): ExpandedConfig {
  if (!needsExpansion(config)) return { config, warnings: [], problems: [] }
  const flag = new SharedArrayBuffer(4)
  const { port1, port2 } = new MessageChannel()
  const request = { config, file, flag, port: port2 }
  const thread = new Worker(threadFilename(), { workerData: request, transferList: [port2] })
  try {
    const waited = Atomics.wait(new Int32Array(flag), 0, 0, EXPAND_TIMEOUT_MS)
    const message = receiveMessageOnPort(port1)?.message as ExpandAnswer | undefined
    if (message === undefined) {
      const problem: ConfigProblem = {
        path: 'openapi',
        reason:
          waited === 'timed-out'
            ? 'reading the files the config refers to took too long'
            : 'the files the config refers to could not be read',
      }
      throw new PortcullisError('PCL_ERR_CONFIG_INVALID', 'invalid configuration', [problem])
    }
    if (message.kind === 'failed') throw new Error(`expanding the config failed: ${message.stack}`)
    return message.expanded
  } finally {
    port1.close()
    void thread.terminate()
  }
}

/** openapi: entries, or a `$ref` in a schema of validate: that leaves its own schema. */
function needsExpansion(config: GatewayConfig): boolean {
  if (config.openapi.length > 0) return true
  return config.routes.some((route) => route.validate !== undefined && hasFileRef(route.validate))
}

function threadFilename(): string {
  // From the sources (tests), the compiled thread in dist/ runs: a thread cannot load .ts.
  const here = import.meta.url
  const relative = here.endsWith('.ts')
    ? '../../dist/src/config/expand-thread.js'
    : './expand-thread.js'
  return fileURLToPath(new URL(relative, here))
}
