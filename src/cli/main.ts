#!/usr/bin/env node
/** The `portcullis` command. */
import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { loadGatewayConfig } from '../config/gateway-config.js'
import { DURATION_PATTERN } from '../config/fragments.js'
import { parseDuration } from '../config/units.js'
import { revokeInRedis } from '../jwt/revocation.js'
import { defaultVerifyThreads } from '../jwt/verify-pool.js'
import { PortcullisError } from '../errors.js'
import { startServing } from '../cluster/gateway-process.js'
import { runPrimary } from '../cluster/primary.js'
import { ReloadQueue } from '../cluster/reload-queue.js'
import { logReloaded, restartRequired } from '../cluster/restart-required.js'
import { loadNativeUws } from '../front/load-uws.js'
import { assertListenersFree } from '../front/port-claim.js'
import { VERIFIER_ENV, requireVerifier } from '../jwt/native-verify.js'
import { NATIVE_ENV } from '../native/load.js'
import { UPSTREAM_SOCKETS_ENV, requireUpstreamSockets } from '../proxy/h1/socket-choice.js'
import { announce, createLogger } from '../observability/logger.js'
import { parseArgs, resolveWorkers, USAGE, type CliArgs } from './args.js'
import { describeRouteTable } from './route-table.js'
import { runToken } from './token.js'

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv)
  switch (args.command) {
    case 'help':
      process.stdout.write(USAGE)
      return 0
    case 'version': {
      const manifest = JSON.parse(
        readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
      ) as { version: string }
      process.stdout.write(`portcullis ${manifest.version}\n`)
      return 0
    }
    case 'check': {
      const logger = createLogger('silent', {})
      const { runtime } = loadGatewayConfig(args.config!, logger)
      process.stdout.write(
        `${args.config}: valid, ${runtime.table.routeCount} routes\n\n${describeRouteTable(runtime)}\n`,
      )
      return 0
    }
    case 'start':
      return start(args)
    case 'revoke':
      return revoke(args.config!, args.jti!, args.exp, args.ttl)
    case 'token':
      process.stdout.write(`${await runToken(args.token, args.ttl)}\n`)
      return 0
  }
}

async function revoke(
  file: string,
  jti: string,
  exp: number | null,
  ttl: string | null,
): Promise<number> {
  const { config } = loadGatewayConfig(file, createLogger('silent', {}))
  if (config.redis === undefined) {
    throw new PortcullisError(
      'PCL_ERR_CLI_USAGE',
      `${file} has no redis: without Redis, add the jti to revocation.jtis and reload (SIGHUP)`,
    )
  }
  if (ttl !== null && !new RegExp(DURATION_PATTERN).test(ttl)) {
    throw new PortcullisError('PCL_ERR_CLI_USAGE', `--ttl takes a duration like 1h (got "${ttl}")`)
  }
  const expS = exp ?? Math.ceil((Date.now() + parseDuration(ttl!)) / 1000)
  await revokeInRedis(config.redis, jti, expS)
  process.stdout.write(
    `revoked jti ${JSON.stringify(jti)} until ${new Date(expS * 1000).toISOString()}\n`,
  )
  return 0
}

/** What the signals do once the process serves; until then a reload waits and a stop exits. */
interface Control {
  reload(): Promise<void>
  stop(): void
}

/**
 * Takes SIGHUP, SIGTERM and SIGINT before anything else of `start` runs: the default action of a
 * signal kills the process, and a signal can arrive at any moment, even before the startup line
 * is written (pino writes it from another thread while this one may still be descheduled).
 */
function takeSignals(): { serve(control: Control): void } {
  let control: Control | null = null
  const reloads = new ReloadQueue<null>(() => control!.reload())
  process.on('SIGHUP', () => reloads.request(null))
  // Before serving nothing is in flight: a stop ends the start.
  const stop = () => (control === null ? process.exit(0) : control.stop())
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  return {
    serve(next) {
      control = next
      reloads.start()
    },
  }
}

async function start(args: CliArgs): Promise<number> {
  const signals = takeSignals()
  const file = args.config!
  const { workers: workersFlag, verifyThreads: verifyThreadsFlag, front } = args
  const { verifier, upstreamSockets } = args
  // Before any native module is loaded; workers and verify threads inherit the environment.
  if (args.native === 'off') process.env[NATIVE_ENV] = 'off'
  if (upstreamSockets !== null) {
    requireUpstreamSockets(upstreamSockets)
    process.env[UPSTREAM_SOCKETS_ENV] = upstreamSockets // workers inherit it
  }
  if (verifier !== null) {
    requireVerifier(verifier)
    // Before any key is read (the config's keys among them). Workers and verify threads inherit
    // the environment, so every verifier agrees.
    process.env[VERIFIER_ENV] = verifier
  }
  const { config } = loadGatewayConfig(file, createLogger('silent', {}))
  const logger = createLogger(config.log.level, { role: 'primary', pid: process.pid })
  // Fail here, before forking, if the native front cannot load: never a silent fallback.
  if (front === 'uws') loadNativeUws()
  await assertListenersFree(config.listeners)
  const workers = resolveWorkers(workersFlag, config.cluster.workers)
  const threadsSetting = verifyThreadsFlag ?? config.cluster.verify_threads
  const verifyThreads =
    threadsSetting === 'auto' ? defaultVerifyThreads(Math.max(workers, 1)) : threadsSetting
  // Keys a flag overrides: the flag wins after a restart too, so a reload changing them is moot.
  const overridden = new Set<string>()
  if (workersFlag !== null) overridden.add('cluster.workers')
  if (verifyThreadsFlag !== null) overridden.add('cluster.verify_threads')
  if (workers > 0) {
    signals.serve(
      runPrimary({ configFile: file, config, workers, front, verifyThreads, logger, overridden }),
    )
    return -1
  }
  const serving = await startServing(config, front, logger, {
    verifyThreads,
    workerIndex: 0,
    workerCount: 1,
  })
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
  let current = config
  let stopping = false
  signals.serve({
    reload: async () => {
      try {
        const next = loadGatewayConfig(file, logger).config
        await serving.reload(next)
        current = next
        logger.level = next.log.level
        logReloaded(logger, { file }, restartRequired(config, next, { front, overridden }))
      } catch (error) {
        const problems = error instanceof PortcullisError ? error.problems : []
        logger.error(
          { problems, file },
          `reload refused, still serving the previous config: ${(error as Error).message}`,
        )
      }
    },
    stop: () => {
      if (stopping) return
      stopping = true
      void serving.drain(parseDuration(current.cluster.shutdown_grace)).then(() => {
        logger.info('portcullis stopped')
        logger.flush()
        process.exit(0)
      })
    },
  })
  return -1
}

if (cluster.isPrimary) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exitCode = code
    },
    (error: unknown) => {
      if (error instanceof PortcullisError) {
        process.stderr.write(`portcullis: ${error.message}\n`)
        process.exitCode = error.code === 'PCL_ERR_CLI_USAGE' ? 2 : 1
      } else {
        process.stderr.write(`portcullis: ${(error as Error).stack ?? String(error)}\n`)
        process.exitCode = 1
      }
    },
  )
}
