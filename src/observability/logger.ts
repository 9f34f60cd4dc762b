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

/** A synchronous logger for startup lines that tests and users wait for. */
export function flushLogger(logger: Logger): void {
  logger.flush()
}
