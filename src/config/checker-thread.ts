/** The thread of checker.ts: loads one config file completely and posts the outcome. */
import { parentPort, workerData } from 'node:worker_threads'
import { formatProblems, PortcullisError } from '../errors.js'
import { createLogger } from '../observability/logger.js'
import type { CheckOutcome } from './checker.js'
import { loadGatewayConfig } from './gateway-config.js'

function check(file: string): CheckOutcome {
  try {
    const { config, warnings } = loadGatewayConfig(file, createLogger('silent', {}))
    return { kind: 'valid', config, warnings }
  } catch (error) {
    if (!(error instanceof PortcullisError)) {
      return { kind: 'failed', stack: (error as Error).stack ?? String(error) }
    }
    const { code, problems } = error
    // PortcullisError appends the problem list to its message; the caller's constructor will too.
    const listed = problems.length === 0 ? '' : `\n${formatProblems(problems)}`
    const message = error.message.slice(0, error.message.length - listed.length)
    return { kind: 'refused', code, message, problems }
  }
}

parentPort!.postMessage(check((workerData as { file: string }).file))
