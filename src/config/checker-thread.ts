/**
 * The thread of checker.ts: loads one config file completely, checks that the credential store's
 * HMAC secrets decrypt with it (state/stored-secrets-check.ts), and posts the outcome.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { formatProblems, PortcullisError } from '../errors.js'
import { createLogger } from '../observability/logger.js'
import { checkStoredHmacSecrets } from '../state/stored-secrets-check.js'
import type { CheckOutcome } from './checker.js'
import { loadGatewayConfig } from './gateway-config.js'

async function check(file: string): Promise<CheckOutcome> {
  try {
    const { config, warnings } = loadGatewayConfig(file, createLogger('silent', {}))
    const problems = await checkStoredHmacSecrets(config)
    if (problems.length > 0) {
      throw new PortcullisError('PCL_ERR_CONFIG_INVALID', 'invalid configuration', problems)
    }
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

parentPort!.postMessage(await check((workerData as { file: string }).file))
