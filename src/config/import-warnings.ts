/** The warnings of a config load (what an openapi: import could not enforce), as one log line. */
import type { Logger } from 'pino'
import type { ConfigProblem } from '../errors.js'

export function logImportWarnings(logger: Logger, warnings: readonly ConfigProblem[]): void {
  if (warnings.length === 0) return
  logger.warn(
    { warnings },
    `openapi: ${warnings.length} part(s) of the documents are not enforced by the gateway`,
  )
}
