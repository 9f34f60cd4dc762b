/**
 * The audit log's own destination (`log.audit_file`, stdout by default): one JSON line per
 * authentication decision and per admin change (docs/audit.md), optionally sealed into an HMAC
 * chain (audit-chain.ts). Each serving process opens the file for appending; lines are whole
 * writes, so several workers can share one file.
 */
import pino, { type Logger } from 'pino'
import type { LogConfig } from './schema.js'
import { AuditChain } from './audit-chain.js'

export interface AuditOptions {
  /** `<worker index>.<pid>`: the name of this process's chain. */
  readonly chain: string
  /** Bindings on every line (role, pid, worker). */
  readonly bindings: Record<string, unknown>
}

/**
 * A pino logger for audit lines, at info whatever `log.level` says; `logger` itself when neither
 * a file nor a chain is configured (audit lines then go with the others, as before).
 */
export function createAuditLogger(
  config: LogConfig,
  logger: Logger,
  options: AuditOptions,
): Logger {
  const file = config.audit_file
  if (file === undefined && config.audit_chain_key === undefined) return logger
  const destination = pino.destination({
    dest: file === undefined ? 1 : file,
    append: true,
    mkdir: true,
    sync: false,
  })
  process.once('exit', () => destination.flushSync())
  const key = config.audit_chain_key
  const stream =
    key === undefined
      ? destination
      : {
          chain: new AuditChain(key, options.chain),
          write(line: string): void {
            destination.write(this.chain.seal(line))
          },
        }
  return pino(
    {
      level: 'info',
      base: options.bindings,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  )
}
