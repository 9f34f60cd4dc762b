/** The process logger: pino JSON on stdout, buffered so that logging never blocks a request. */
import pino, { type Logger } from 'pino'

export function createLogger(level: string, bindings: Record<string, unknown>): Logger {
  const destination = pino.destination({ dest: 1, sync: false })
  const logger = pino(
    {
      level,
      base: bindings,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  )
  // Flush what is buffered when the process ends on its own.
  process.once('exit', () => destination.flushSync())
  return logger
}

/**
 * Lifecycle lines (started, reloaded, stopped) are printed whatever the level: operators and
 * scripts wait for them, and they cost nothing per request.
 */
export function announce(logger: Logger, fields: Record<string, unknown>, message: string): void {
  if (logger.isLevelEnabled('info')) logger.info(fields, message)
  else logger.child({}, { level: 'info' }).info(fields, message)
}
