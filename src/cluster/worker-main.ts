/** Entry point of a cluster worker: waits for its config from the primary, then serves. */
import { createLogger } from '../observability/logger.js'
import { startServing, type ServingProcess } from './gateway-process.js'
import type { ToPrimary, ToWorker } from './messages.js'

let serving: ServingProcess | null = null
let logger = createLogger('info', { role: 'worker', pid: process.pid })

function send(message: ToPrimary): void {
  process.send?.(message)
}

process.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'start':
      logger = createLogger(message.config.log.level, { role: 'worker', pid: process.pid })
      startServing(message.config, message.front, logger, {
        verifyThreads: message.verifyThreads,
        workerIndex: message.workerIndex,
        workerCount: message.workerCount,
      }).then(
        (s) => {
          serving = s
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
      if (serving === null) return
      logger.level = message.config.log.level
      serving.reload(message.config).then(
        () => send({ type: 'reloaded', generation: message.generation, error: null }),
        (error: Error) =>
          send({ type: 'reloaded', generation: message.generation, error: error.message }),
      )
      return
    case 'shutdown':
      void (serving === null ? Promise.resolve() : serving.drain(message.graceMs)).then(() => {
        logger.flush()
        process.exit(0)
      })
      return
  }
})

// The primary owns signals; a worker ignores the terminal's Ctrl-C and waits to be told.
process.on('SIGINT', () => undefined)
process.on('SIGTERM', () => undefined)
process.on('disconnect', () => process.exit(0))
send({ type: 'ready' })
