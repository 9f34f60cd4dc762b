/**
 * The seam between the request path and span export. The request path sees a RequestTracer
 * (gateway/exchange.ts; null: tracing not configured); the OpenTelemetry SDK behind it
 * (otlp.ts) is imported by {@link TracingHost} the first time a config asks for tracing, so a
 * gateway without `tracing:` never loads a module of it.
 */
import type { Logger } from 'pino'
import type { RequestTracer } from '../../gateway/exchange.js'
import { sameTracing, type TracingSettings } from './settings.js'

/** The primary kills a worker 5s past the shutdown grace: a flush at exit must end before. */
const EXIT_FLUSH_MAX_MS = 4000

/**
 * Owns the serving process's tracer across reloads: kept while `tracing:` is unchanged, built
 * anew (loading the SDK the first time) when it changes, closed (its queue flushed) when replaced
 * or at shutdown.
 */
export class TracingHost {
  readonly #logger: Logger
  #current: RequestTracer | null = null

  constructor(logger: Logger) {
    this.#logger = logger
  }

  /**
   * The tracer for `settings`, not yet in use: the running one when they are unchanged. Throws
   * when the SDK cannot be loaded; nothing changes then.
   */
  async prepare(settings: TracingSettings | null): Promise<RequestTracer | null> {
    if (settings === null) return null
    const current = this.#current
    if (current !== null && sameTracing(current.settings, settings)) return current
    const { createOtlpTracer } = await import('./otlp.js')
    return createOtlpTracer(settings, this.#logger)
  }

  /** Makes `tracer` the running one; the one it replaces exports its queue in the background. */
  use(tracer: RequestTracer | null): void {
    const previous = this.#current
    if (previous === tracer) return
    this.#current = tracer
    if (previous !== null) void previous.close(previous.settings.timeoutMs)
  }

  /** At shutdown, once requests are over: the spans still queued are exported. */
  close(): Promise<void> {
    const current = this.#current
    this.#current = null
    if (current === null) return Promise.resolve()
    return current.close(Math.min(current.settings.timeoutMs, EXIT_FLUSH_MAX_MS))
  }
}
