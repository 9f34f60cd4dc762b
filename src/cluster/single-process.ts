/**
 * `start --workers 0`: one process serves without node:cluster. It reloads on SIGHUP (checking
 * the file in place: it holds the engine anyway) and drains on SIGTERM/SIGINT.
 */
import { loadGatewayConfig } from '../config/gateway-config.js'
import { parseDuration } from '../config/units.js'
import { PortcullisError } from '../errors.js'
import { announce } from '../observability/logger.js'
import { ProcessCounters } from '../observability/metrics/process-metrics.js'
import { checkStoredHmacSecrets } from '../state/stored-secrets-check.js'
import { startServing } from './gateway-process.js'
import type { PrimaryOptions } from './primary.js'
import { logImportWarnings } from '../config/import-warnings.js'
import { logReloaded, restartRequired } from './restart-required.js'

export async function runSingleProcess(options: Omit<PrimaryOptions, 'workers'>): Promise<void> {
  const { configFile: file, config, front, verifyThreads, logger, overridden } = options
  const counters = new ProcessCounters()
  const serving = await startServing(config, front, logger, {
    verifyThreads,
    workerIndex: 0,
    workerCount: 1,
    askPrimary: null,
    gatherMetrics: (own) => Promise.resolve([own, counters.families()]),
  })
  let current = config
  let generation = 0
  process.on('SIGHUP', () => {
    const refused = (error: unknown) => {
      counters.reloadsRefused++
      const problems = error instanceof PortcullisError ? error.problems : []
      logger.error(
        { problems, file },
        `reload refused, still serving the previous config: ${(error as Error).message}`,
      )
    }
    try {
      const { config: next, warnings } = loadGatewayConfig(file, logger)
      logImportWarnings(logger, warnings)
      checkStoredHmacSecrets(next)
        .then((problems) => {
          if (problems.length > 0) {
            throw new PortcullisError('PCL_ERR_CONFIG_INVALID', 'invalid configuration', problems)
          }
          return serving.reload(next, generation + 1)
        })
        .then(() => {
          current = next
          generation++
          counters.generation = generation
          counters.reloadsApplied++
          logger.level = next.log.level
          logReloaded(logger, { file }, restartRequired(config, next, { front, overridden }))
        }, refused)
    } catch (error) {
      refused(error)
    }
  })
  const stop = () => {
    void serving.drain(parseDuration(current.cluster.shutdown_grace)).then(() => {
      logger.info('portcullis stopped')
      logger.flush()
      process.exit(0)
    })
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  // Last: whoever waits for this line may signal at once (stdout is written off this thread).
  announce(
    logger,
    {
      front: serving.front,
      verifier: serving.verifier,
      upstream_sockets: serving.upstreamSockets,
      workers: 0,
      verify_threads: verifyThreads,
      listeners: serving.listeners,
      pids: [process.pid],
      config: file,
    },
    'portcullis started',
  )
}
