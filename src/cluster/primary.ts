/**
 * The primary process: validates the config, forks one worker per core (node:cluster), respawns
 * a worker that dies with exponential backoff, reloads on SIGHUP (only a config that passes every
 * check replaces the running one) and drains on SIGTERM/SIGINT.
 *
 * It loads none of the engine: configs are checked on a short-lived thread (config/checker.ts),
 * and this module imports only what supervising needs.
 */
import cluster, { type Worker } from 'node:cluster'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'
import { checkConfigInThread } from '../config/checker.js'
import { logImportWarnings } from '../config/import-warnings.js'
import type { GatewayConfig } from '../config/schema.js'
import { parseDuration } from '../config/units.js'
import { PortcullisError } from '../errors.js'
import { announce } from '../observability/logger.js'
import { ProcessCounters } from '../observability/metrics/process-metrics.js'
import type { FrontKind } from './gateway-process.js'
import { MetricsGathering } from './metrics-gathering.js'
import type { ToPrimary, ToWorker } from './messages.js'
import { logReloaded, restartRequired } from './restart-required.js'

/** First respawn delay; doubles for each crash in a row. */
const RESPAWN_BASE_MS = 100
/** A worker that lived this long resets its slot's crash count. */
const STABLE_AFTER_MS = 30_000

interface Slot {
  worker: Worker | null
  crashes: number
  startedAt: number
}

export interface PrimaryOptions {
  readonly configFile: string
  readonly config: GatewayConfig
  readonly workers: number
  readonly front: FrontKind
  /** Verify threads per worker, resolved from --verify-threads or cluster.verify_threads. */
  readonly verifyThreads: number
  readonly logger: Logger
  /** Config keys a command-line flag overrides (`cluster.workers`): a reload cannot change them. */
  readonly overridden: ReadonlySet<string>
}

export function runPrimary(options: PrimaryOptions): void {
  const { configFile, logger, workers, front, verifyThreads, overridden } = options
  /** What listeners, workers and gossip were set up from: a reload cannot change it. */
  const started = options.config
  let config = options.config
  let generation = 0
  let shuttingDown = false
  const slots: Slot[] = Array.from({ length: workers }, () => ({
    worker: null,
    crashes: 0,
    startedAt: 0,
  }))
  const listening = new Set<Slot>()
  let announced = false
  const counters = new ProcessCounters()
  const scrapes = new MetricsGathering(counters)

  // The uws front binds with SO_REUSEPORT and the kernel spreads connections. The node front
  // shares one listening socket: with node's default round-robin the primary accepts and hands
  // each connection to a worker over IPC, and a worker that dies leaves the connections it was
  // handed hanging. Letting the workers accept (SCHED_NONE) makes the kernel reset them instead.
  // The mTLS listener is node:tls on either front, so it shares a socket the same way.
  if (front === 'node' || options.config.listeners.mtls !== undefined) {
    cluster.schedulingPolicy = cluster.SCHED_NONE
  }
  cluster.setupPrimary({
    exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)),
    execArgv: workerExecArgv(process.execArgv, process.env['NODE_OPTIONS']),
  })

  const fork = (slot: Slot) => {
    const worker = cluster.fork()
    slot.worker = worker
    slot.startedAt = Date.now()
    worker.on('message', (message: ToPrimary) => onMessage(slot, message))
    worker.on('exit', (code, signal) => onExit(slot, worker, code, signal))
  }

  const send = (worker: Worker, message: ToWorker) => {
    if (worker.isConnected()) worker.send(message)
  }

  const onMessage = (slot: Slot, message: ToPrimary) => {
    switch (message.type) {
      case 'ready':
        // Sent once the worker's ESM entry has its IPC listener: a message sent earlier is lost.
        if (slot.worker !== null)
          send(slot.worker, {
            type: 'start',
            config,
            front,
            verifyThreads,
            workerIndex: slots.indexOf(slot),
            workerCount: slots.length,
          })
        return
      case 'listening':
        listening.add(slot)
        if (!announced && listening.size === slots.length) {
          announced = true
          announce(
            logger,
            {
              front: message.front,
              verifier: message.verifier,
              upstream_sockets: message.upstreamSockets,
              workers: slots.length,
              verify_threads: verifyThreads,
              listeners: message.listeners,
              pids: [process.pid, ...slots.map((s) => s.worker?.process.pid)],
              config: configFile,
            },
            'portcullis started',
          )
        } else if (announced) {
          logger.info({ pid: slot.worker?.process.pid }, 'worker respawned and listening')
        }
        return
      case 'start-failed':
        logger.fatal({ error: message.error }, 'a worker could not start; stopping')
        shutdown(1)
        return
      case 'status-request':
        if (slot.worker !== null) {
          send(slot.worker, {
            type: 'status',
            id: message.id,
            workers: slots.map((s, index) => ({
              index,
              pid: s.worker?.process.pid ?? null,
              listening: listening.has(s),
            })),
          })
        }
        return
      case 'metrics-request': {
        const asker = slot.worker
        if (asker === null) return
        const workers = slots.flatMap((s) =>
          s.worker !== null && listening.has(s) ? [s.worker] : [],
        )
        scrapes.gather(workers, (processes) =>
          send(asker, { type: 'metrics-reply', id: message.id, processes }),
        )
        return
      }
      case 'metrics':
        scrapes.receive(message.id, message.families)
        return
      case 'reloaded':
        if (message.error !== null) {
          logger.error(
            { pid: slot.worker?.process.pid, error: message.error },
            'worker rejected the reload',
          )
        }
        return
    }
  }

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: string | null) => {
    if (slot.worker !== worker) return
    slot.worker = null
    listening.delete(slot)
    if (shuttingDown) {
      if (slots.every((s) => s.worker === null)) finish()
      return
    }
    if (Date.now() - slot.startedAt > STABLE_AFTER_MS) slot.crashes = 0
    const delay = Math.min(
      RESPAWN_BASE_MS * 2 ** slot.crashes,
      parseDuration(config.cluster.respawn_backoff_max),
    )
    slot.crashes++
    logger.error(
      { pid: worker.process.pid, code, signal, respawn_in_ms: delay },
      'worker died; respawning',
    )
    setTimeout(() => {
      if (shuttingDown) return
      counters.workerRestarts++
      fork(slot)
    }, delay)
  }

  /** A check in flight; a SIGHUP meanwhile asks for one more, so the last write always counts. */
  let checking = false
  let checkAgain = false
  const reload = () => {
    if (checking) {
      checkAgain = true
      return
    }
    checking = true
    void checkConfigInThread(configFile)
      .then(
        ({ config: next, warnings }) => {
          logImportWarnings(logger, warnings)
          apply(next)
        },
        (error: unknown) => {
          counters.reloadsRefused++
          if (error instanceof PortcullisError) {
            logger.error(
              { code: error.code, problems: error.problems, file: configFile },
              `reload refused, still serving the previous config: ${error.message}`,
            )
          } else {
            logger.error({ err: error }, 'reload failed, still serving the previous config')
          }
        },
      )
      .finally(() => {
        checking = false
        if (checkAgain && !shuttingDown) {
          checkAgain = false
          reload()
        }
      })
  }

  const apply = (next: GatewayConfig) => {
    if (shuttingDown) return
    config = next
    generation++
    counters.generation = generation
    counters.reloadsApplied++
    logger.level = config.log.level
    for (const slot of slots)
      if (slot.worker !== null) send(slot.worker, { type: 'reload', config, generation })
    const pending = restartRequired(started, config, { front, overridden })
    logReloaded(logger, { generation, file: configFile }, pending)
  }

  let exitCode = 0
  const finish = () => {
    logger.info('portcullis stopped')
    logger.flush()
    process.exit(exitCode)
  }

  const shutdown = (code: number) => {
    if (shuttingDown) return
    shuttingDown = true
    exitCode = code
    const graceMs = parseDuration(config.cluster.shutdown_grace)
    logger.info({ grace_ms: graceMs }, 'shutting down: draining in-flight requests')
    for (const slot of slots)
      if (slot.worker !== null) send(slot.worker, { type: 'shutdown', graceMs })
    if (slots.every((s) => s.worker === null)) finish()
    // Workers that do not leave in time are killed; their requests are past the grace anyway.
    setTimeout(() => {
      for (const slot of slots) slot.worker?.process.kill('SIGKILL')
      finish()
    }, graceMs + 5000).unref()
  }

  process.on('SIGHUP', reload)
  process.on('SIGTERM', () => shutdown(0))
  process.on('SIGINT', () => shutdown(0))
  for (const slot of slots) fork(slot)
}

/**
 * A worker's V8 flags: the primary's, plus a young generation of 8 MiB semi-spaces unless the
 * operator chose a size. A worker's garbage is short-lived request objects, so a smaller nursery
 * keeps its resident memory down at saturation at no measurable CPU cost (bench/RESULTS.md,
 * "Memory of the primary and the workers").
 */
export function workerExecArgv(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string[] {
  const chosen = (flag: string) => flag.startsWith('--max-semi-space-size')
  if (execArgv.some(chosen) || (nodeOptions ?? '').split(/\s+/).some(chosen)) return [...execArgv]
  return [...execArgv, '--max-semi-space-size=8']
}
