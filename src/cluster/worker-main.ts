/** Entry point of a cluster worker: waits for its config from the primary, then serves. */
import { createLogger } from '../observability/logger.js'
import type { MetricFamily } from '../observability/metrics/families.js'
import type { WorkerSlotView } from './admin-host.js'
import { startServing, type ServingProcess } from './gateway-process.js'
import type { ToPrimary, ToWorker } from './messages.js'
import { ReloadQueue } from './reload-queue.js'

let serving: ServingProcess | null = null
let logger = createLogger('info', { role: 'worker', pid: process.pid })

type Reload = Extract<ToWorker, { type: 'reload' }>

// A reload sent while the worker starts (its start message carried the config before it) is
// applied once it serves; reloads run one at a time, the latest one winning.
const reloads = new ReloadQueue<Reload>(async (message) => {
  logger.level = message.config.log.level
  try {
    await serving!.reload(message.config, message.generation)
    send({ type: 'reloaded', generation: message.generation, error: null })
  } catch (error) {
    send({ type: 'reloaded', generation: message.generation, error: (error as Error).message })
  }
})

function send(message: ToPrimary): void {
  process.send?.(message)
}

/** A status request to the primary unanswered this long is given up: the primary is busy or gone. */
const STATUS_TIMEOUT_MS = 1000
const statusRequests = new Map<number, (workers: readonly WorkerSlotView[] | null) => void>()
let nextStatusId = 0

function askPrimary(): Promise<readonly WorkerSlotView[] | null> {
  const id = nextStatusId++
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      statusRequests.delete(id)
      resolve(null)
    }, STATUS_TIMEOUT_MS)
    statusRequests.set(id, (workers) => {
      clearTimeout(timer)
      statusRequests.delete(id)
      resolve(workers)
    })
    send({ type: 'status-request', id })
  })
}

/** A scrape waits this long for the primary to gather every worker's families. */
const METRICS_TIMEOUT_MS = 2000
type Processes = readonly (readonly MetricFamily[])[]
const metricsRequests = new Map<number, (processes: Processes) => void>()

/** Every process's families, through the primary; this worker's alone when it does not answer. */
function gatherMetrics(own: MetricFamily[]): Promise<Processes> {
  const id = nextStatusId++
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      metricsRequests.delete(id)
      resolve([own])
    }, METRICS_TIMEOUT_MS)
    metricsRequests.set(id, (processes) => {
      clearTimeout(timer)
      metricsRequests.delete(id)
      resolve(processes)
    })
    send({ type: 'metrics-request', id })
  })
}

process.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'start':
      logger = createLogger(message.config.log.level, { role: 'worker', pid: process.pid })
      startServing(message.config, message.front, logger, {
        verifyThreads: message.verifyThreads,
        workerIndex: message.workerIndex,
        workerCount: message.workerCount,
        askPrimary,
        gatherMetrics,
      }).then(
        (s) => {
          serving = s
          reloads.start()
          send({
            type: 'listening',
            front: s.front,
            verifier: s.verifier,
            upstreamSockets: s.upstreamSockets,
            listeners: s.listeners,
          })
        },
        (error: Error) => {
          send({ type: 'start-failed', error: error.message })
          process.exitCode = 1
          setImmediate(() => process.exit(1))
        },
      )
      return
    case 'reload':
      reloads.request(message)
      return
    case 'status':
      statusRequests.get(message.id)?.(message.workers)
      return
    case 'metrics-collect':
      send({ type: 'metrics', id: message.id, families: serving?.metrics() ?? [] })
      return
    case 'metrics-reply':
      metricsRequests.get(message.id)?.(message.processes)
      return
    case 'shutdown':
      void (serving === null ? Promise.resolve() : serving.drain(message.graceMs)).then(() => {
        logger.flush()
        process.exit(0)
      })
      return
  }
})

// The primary owns signals; a worker ignores the terminal's Ctrl-C and hangup and waits to be told.
process.on('SIGHUP', () => undefined)
process.on('SIGINT', () => undefined)
process.on('SIGTERM', () => undefined)
process.on('disconnect', () => process.exit(0))
send({ type: 'ready' })
