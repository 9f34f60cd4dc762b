#!/usr/bin/env node
/**
 * The `portcullis` command.
 *
 * Each command imports what it runs when it runs: the primary of `start` must not hold the engine
 * (the schema compiler, the fronts, the upstream and Redis clients) that only workers use.
 */
import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { runPrimary } from '../cluster/primary.js'
import { checkConfigInThread } from '../config/checker.js'
import { logImportWarnings } from '../config/import-warnings.js'
import { formatProblems, PortcullisError } from '../errors.js'
import { loadNativeUws } from '../front/load-uws.js'
import { migrateReqWarning, readMigrateReq } from '../front/migrate-req.js'
import { assertListenersFree } from '../front/port-claim.js'
import { VERIFIER_ENV, requireVerifier } from '../jwt/native-verify.js'
import { NATIVE_ENV } from '../native/load.js'
import { UPSTREAM_SOCKETS_ENV, requireUpstreamSockets } from '../proxy/h1/socket-choice.js'
import { createLogger } from '../observability/logger.js'
import { ADMIN_COMMANDS, parseAdminArgs } from './admin-args.js'
import { parseArgs, resolveVerifyThreads, resolveWorkers, USAGE, type CliArgs } from './args.js'

async function main(argv: readonly string[]): Promise<number> {
  if (ADMIN_COMMANDS.has(argv[0] ?? '')) {
    const { runAdminCommand } = await import('./admin-commands.js')
    return runAdminCommand(parseAdminArgs(argv))
  }
  if (argv[0] === 'audit') {
    const { runAuditCommand } = await import('./audit.js')
    return runAuditCommand(argv.slice(1))
  }
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
      const { loadGatewayConfig } = await import('../config/gateway-config.js')
      const { describeRouteTable } = await import('./route-table.js')
      const logger = createLogger('silent', {})
      const { runtime, warnings } = loadGatewayConfig(args.config!, logger)
      process.stdout.write(
        `${args.config}: valid, ${runtime.table.routeCount} routes\n\n${describeRouteTable(runtime)}\n`,
      )
      if (warnings.length > 0) {
        process.stdout.write(
          `\nwarnings (not enforced by the gateway):\n${formatProblems(warnings)}\n`,
        )
      }
      return 0
    }
    case 'start':
      return start(args)
    case 'token': {
      const { runToken } = await import('./token.js')
      process.stdout.write(`${await runToken(args.token, args.ttl)}\n`)
      return 0
    }
  }
}

async function start(args: CliArgs): Promise<number> {
  // A SIGHUP before the reload handler exists would meet its default action and end the process
  // (the startup line is written on pino's thread, so a reader can send one at once): it is held
  // here and replayed once the gateway serves.
  let hupBeforeServing = false
  const holdHup = (): void => {
    hupBeforeServing = true
  }
  process.on('SIGHUP', holdHup)
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
  const { config, warnings } = await checkConfigInThread(file)
  const logger = createLogger(config.log.level, { role: 'primary', pid: process.pid })
  logImportWarnings(logger, warnings)
  // Fail here, before forking, if the native front cannot load: never a silent fallback.
  if (front === 'uws') {
    loadNativeUws()
    // Once, here: the workers share the primary's network namespace and so its setting.
    const migration = migrateReqWarning(config.listeners, readMigrateReq())
    if (migration !== null) logger.warn(migration.fields, migration.message)
  }
  await assertListenersFree(config.listeners)
  const workers = resolveWorkers(workersFlag, config.cluster.workers)
  const verifyThreads = resolveVerifyThreads(
    verifyThreadsFlag,
    config.cluster.verify_threads,
    workers,
  )
  // Keys a flag overrides: the flag wins after a restart too, so a reload changing them is moot.
  const overridden = new Set<string>()
  if (workersFlag !== null) overridden.add('cluster.workers')
  if (verifyThreadsFlag !== null) overridden.add('cluster.verify_threads')
  const options = { configFile: file, config, front, verifyThreads, logger, overridden }
  if (workers > 0) {
    runPrimary({ ...options, workers })
  } else {
    const { runSingleProcess } = await import('../cluster/single-process.js')
    await runSingleProcess(options)
  }
  process.off('SIGHUP', holdHup)
  if (hupBeforeServing) process.emit('SIGHUP', 'SIGHUP')
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
