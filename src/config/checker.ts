/**
 * Checks a config file completely (gateway-config.ts: schema, then compiling every route, stage
 * and upstream) on a short-lived worker thread, for the cluster primary.
 *
 * The check loads the schema compiler and most of the engine's modules. Run in the primary, their
 * code and the compile's garbage stayed in its heap for good, although the primary itself only
 * forks, relays signals and configs; a thread's isolate is released whole when it ends. What
 * holds the engine anyway loads configs in place: workers, the reloads of `--workers 0`, `check`.
 */
import { Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import { PortcullisError, type ConfigProblem, type PortcullisErrorCode } from '../errors.js'
import type { GatewayConfig } from './schema.js'

/** What the thread posts back: the config with its defaults, or why it was refused. */
export type CheckOutcome =
  | {
      readonly kind: 'valid'
      readonly config: GatewayConfig
      readonly warnings: readonly ConfigProblem[]
    }
  | {
      readonly kind: 'refused'
      readonly code: PortcullisErrorCode
      /** The error's message without its problem list, which `problems` carries. */
      readonly message: string
      readonly problems: readonly ConfigProblem[]
    }
  | { readonly kind: 'failed'; readonly stack: string }

/** A config that passed, with what its openapi: imports could not enforce. */
export interface CheckedFile {
  readonly config: GatewayConfig
  readonly warnings: readonly ConfigProblem[]
}

/**
 * The checked config, or the PortcullisError loadGatewayConfig threw (same code, message and
 * problems), as if it had run in this thread.
 */
export function checkConfigInThread(file: string): Promise<CheckedFile> {
  return new Promise((resolve, reject) => {
    const thread = new Worker(threadFilename(), { workerData: { file } })
    let answered = false
    thread.once('message', (outcome: CheckOutcome) => {
      answered = true
      // Its answer is all that is wanted: nothing it still holds (closing pools) matters.
      void thread.terminate()
      if (outcome.kind === 'valid') resolve({ config: outcome.config, warnings: outcome.warnings })
      else if (outcome.kind === 'refused') {
        reject(new PortcullisError(outcome.code, outcome.message, outcome.problems))
      } else reject(new Error(`the config check failed: ${outcome.stack}`))
    })
    thread.once('error', (error) => {
      if (answered) return
      answered = true
      reject(error)
    })
    thread.once('exit', (code) => {
      if (answered) return
      answered = true
      reject(new Error(`the config check thread exited (code ${code}) without an answer`))
    })
  })
}

function threadFilename(): string {
  // From the sources (tests), the compiled thread in dist/ runs: a thread cannot load .ts.
  const here = import.meta.url
  const relative = here.endsWith('.ts')
    ? '../../dist/src/config/checker-thread.js'
    : './checker-thread.js'
  return fileURLToPath(new URL(relative, here))
}
