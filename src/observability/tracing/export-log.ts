/**
 * An OTLP exporter whose failures are logged, at most one line a minute with the spans dropped
 * since the last one: a collector that is down must neither fill the log nor reach a request
 * (the batch processor drops the batch and goes on).
 */
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base'
import type { Logger } from 'pino'

type ResultCallback = Parameters<SpanExporter['export']>[1]
type ExportResult = Parameters<ResultCallback>[0]

/** ExportResultCode.SUCCESS of @opentelemetry/core. */
const SUCCESS = 0
const LOG_EVERY_MS = 60_000

export class LoggedExporter implements SpanExporter {
  readonly #inner: SpanExporter
  readonly #logger: Logger
  readonly #endpoint: string
  #dropped = 0
  #loggedAt = -Infinity

  constructor(inner: SpanExporter, logger: Logger, endpoint: string) {
    this.#inner = inner
    this.#logger = logger
    this.#endpoint = endpoint
  }

  export(spans: ReadableSpan[], done: ResultCallback): void {
    this.#inner.export(spans, (result: ExportResult) => {
      if (result.code !== SUCCESS) this.#failed(spans.length, result.error)
      done(result)
    })
  }

  #failed(spans: number, error: Error | undefined): void {
    this.#dropped += spans
    const now = performance.now()
    if (now - this.#loggedAt < LOG_EVERY_MS) return
    this.#loggedAt = now
    this.#logger.warn(
      { endpoint: this.#endpoint, spans_dropped: this.#dropped, err: error?.message },
      'span export failed; spans dropped (logged at most once a minute)',
    )
    this.#dropped = 0
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown()
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve()
  }
}
