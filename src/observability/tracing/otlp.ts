/**
 * Span export through the OpenTelemetry JS SDK, imported only by tracer.ts when `tracing:` is
 * configured. An exchange's spans are made once it has ended, from the times the request path
 * noted (startedAt, the authenticate stage's start and end, upstreamStartedAt), so the request
 * path carries no span object; a BatchSpanProcessor queues them and exports OTLP/JSON off the
 * request path.
 *
 * The ids are the request path's own (trace-context.ts): the server span is the gateway's hop
 * (exchange.spanId) and the upstream client span is the parent id the upstream received in its
 * traceparent (exchange.upstreamSpanId), so the upstream's spans hang under it.
 *
 * Attributes follow the OpenTelemetry HTTP semantic conventions; the authentication span says the
 * method and the outcome, never a credential.
 *
 * @see https://opentelemetry.io/docs/specs/semconv/http/http-spans/
 */
import {
  createTraceState,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Tracer,
} from '@opentelemetry/api'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type IdGenerator,
} from '@opentelemetry/sdk-trace-base'
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions'
import type { Logger } from 'pino'
import { HexIds } from '../trace-context.js'
import { LoggedExporter } from './export-log.js'
import type { TracingSettings } from './settings.js'
import type { Exchange, RequestTracer } from '../../gateway/exchange.js'

/** The instrumentation scope of every span. */
const SCOPE = 'portcullis'

const FAILURE_LOG_EVERY_MS = 60_000

/** Semconv's known methods; any other is reported as `_OTHER` with the original beside it. */
const KNOWN_METHODS: ReadonlySet<string> = new Set([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'TRACE',
])

/**
 * Hands the SDK the request path's ids: the next span id when one is preset (the server and
 * upstream spans), a fresh one otherwise (the authentication span); the trace id of a new trace.
 */
class ExchangeIds implements IdGenerator {
  traceId = ''
  spanId = ''
  readonly #spanIds = new HexIds(8)

  generateTraceId(): string {
    return this.traceId
  }

  generateSpanId(): string {
    const preset = this.spanId
    if (preset === '') return this.#spanIds.next()
    this.spanId = ''
    return preset
  }
}

/** server.address and server.port of an upstream origin, parsed once per target. */
class Origins {
  readonly #parsed = new Map<string, Attributes>()

  of(origin: string): Attributes {
    let parsed = this.#parsed.get(origin)
    if (parsed === undefined) {
      const url = new URL(origin)
      const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
      // An IPv6 host is bracketed in a URL, not in server.address.
      const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
      parsed = { [ATTR_SERVER_ADDRESS]: host, [ATTR_SERVER_PORT]: port }
      this.#parsed.set(origin, parsed)
    }
    return parsed
  }
}

class OtlpTracer implements RequestTracer {
  readonly settings: TracingSettings
  readonly #provider: BasicTracerProvider
  readonly #tracer: Tracer
  readonly #ids = new ExchangeIds()
  readonly #newTraces: TraceIdRatioBasedSampler
  readonly #origins = new Origins()
  readonly #logger: Logger
  #failedAt = -Infinity
  #closing: Promise<void> | null = null

  constructor(settings: TracingSettings, logger: Logger) {
    this.settings = settings
    this.#logger = logger
    this.#newTraces = new TraceIdRatioBasedSampler(settings.sampleRatio)
    const exporter = new OTLPTraceExporter({
      url: settings.endpoint,
      headers: { ...settings.headers },
      timeoutMillis: settings.timeoutMs,
    })
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        ...settings.resource,
        [ATTR_SERVICE_NAME]: settings.serviceName,
      }),
      // The same decision the request path took for the traceparent it sent (sampleNew): a
      // caller's flag for a continued trace, the trace-id ratio for a new one.
      sampler: new ParentBasedSampler({ root: this.#newTraces }),
      idGenerator: this.#ids,
      spanProcessors: [
        new BatchSpanProcessor(new LoggedExporter(exporter, logger, settings.endpoint), {
          maxQueueSize: settings.maxQueueSize,
          maxExportBatchSize: settings.maxBatchSize,
          scheduledDelayMillis: settings.delayMs,
          exportTimeoutMillis: settings.timeoutMs,
        }),
      ],
    })
    this.#tracer = this.#provider.getTracer(SCOPE)
  }

  sampleNew(traceId: string): boolean {
    const result = this.#newTraces.shouldSample(ROOT_CONTEXT, traceId)
    return result.decision === SamplingDecision.RECORD_AND_SAMPLED
  }

  record(exchange: Exchange, endedAt: number): void {
    try {
      this.#record(exchange, endedAt)
    } catch (error) {
      // The response is sent already; a span must not take the worker down with it.
      const now = performance.now()
      if (now - this.#failedAt < FAILURE_LOG_EVERY_MS) return
      this.#failedAt = now
      this.#logger.warn({ err: error }, 'span recording failed (logged at most once a minute)')
    }
  }

  #record(exchange: Exchange, endedAt: number): void {
    // One clock offset for the exchange's spans (performance.now() → epoch ms), so children stay
    // inside their parent; the SDK's own correction is taken per span, at millisecond grain.
    const epoch = Date.now() - performance.now()
    const tracer = this.#tracer
    const ids = this.#ids
    const method = exchange.method
    const known = KNOWN_METHODS.has(method)
    const route = exchange.route
    ids.traceId = exchange.traceId
    ids.spanId = exchange.spanId
    const server = tracer.startSpan(
      route === null ? (known ? method : 'HTTP') : `${known ? method : 'HTTP'} ${route.name}`,
      {
        kind: SpanKind.SERVER,
        startTime: epoch + exchange.startedAt,
        attributes: serverAttributes(exchange, known),
      },
      parentOf(exchange),
    )
    const status = exchange.status
    if (status >= 500) {
      server.setAttribute(ATTR_ERROR_TYPE, String(status))
      server.setStatus({ code: SpanStatusCode.ERROR })
    }
    const inside = trace.setSpan(ROOT_CONTEXT, server)
    if (exchange.authStartedAt > 0) {
      ids.spanId = ''
      tracer
        .startSpan(
          'authenticate',
          {
            kind: SpanKind.INTERNAL,
            startTime: epoch + exchange.authStartedAt,
            attributes: {
              'portcullis.auth.method': exchange.authMethod,
              'portcullis.auth.outcome': exchange.authOutcome === 'ok' ? 'admitted' : 'refused',
              'portcullis.auth.reason': exchange.authOutcome,
            },
          },
          inside,
        )
        .end(epoch + exchange.authEndedAt)
    }
    if (exchange.upstreamStartedAt > 0 && route !== null) {
      this.#upstreamSpan(exchange, inside, epoch, endedAt)
    }
    server.end(epoch + endedAt)
  }

  /** The upstream call, retries included: from the first dispatch to the response's end. */
  #upstreamSpan(exchange: Exchange, parent: Context, epoch: number, endedAt: number): void {
    const method = exchange.method
    const known = KNOWN_METHODS.has(method)
    this.#ids.spanId = exchange.upstreamSpanId
    const span = this.#tracer.startSpan(
      known ? method : 'HTTP',
      {
        kind: SpanKind.CLIENT,
        startTime: epoch + exchange.upstreamStartedAt,
        attributes: this.#origins.of(exchange.upstreamTarget),
      },
      parent,
    )
    span.setAttribute(ATTR_HTTP_REQUEST_METHOD, known ? method : '_OTHER')
    span.setAttribute('portcullis.upstream', exchange.route!.upstream.name)
    if (exchange.upstreamHeadersAt > 0) {
      const status = exchange.status
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status)
      if (status >= 500) {
        span.setAttribute(ATTR_ERROR_TYPE, String(status))
        span.setStatus({ code: SpanStatusCode.ERROR })
      }
    } else if (!exchange.aborted) {
      // No response head: the gateway answered 502/503/504 for it (forward.ts).
      span.setAttribute(ATTR_ERROR_TYPE, exchange.status === 504 ? 'timeout' : '_OTHER')
      span.setStatus({ code: SpanStatusCode.ERROR, message: exchange.errorDetail ?? undefined })
    }
    span.end(epoch + endedAt)
  }

  close(timeoutMs: number): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      timer.unref()
      // Export failures are logged by LoggedExporter; a shutdown that fails ends the wait too.
      this.#provider.shutdown().then(
        () => {
          clearTimeout(timer)
          resolve()
        },
        () => {
          clearTimeout(timer)
          resolve()
        },
      )
    })
    return this.#closing
  }
}

/** The client's span for a continued trace (sampled: only sampled exchanges are recorded). */
function parentOf(exchange: Exchange): Context {
  if (exchange.parentSpanId === '') return ROOT_CONTEXT
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: exchange.traceId,
    spanId: exchange.parentSpanId,
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: exchange.traceState === '' ? undefined : createTraceState(exchange.traceState),
  })
}

function serverAttributes(exchange: Exchange, known: boolean): Attributes {
  const attributes: Attributes = {
    [ATTR_HTTP_REQUEST_METHOD]: known ? exchange.method : '_OTHER',
    [ATTR_URL_SCHEME]: exchange.listener === 'http' ? 'http' : 'https',
    [ATTR_CLIENT_ADDRESS]: exchange.clientAddress,
    [ATTR_NETWORK_PEER_ADDRESS]: exchange.peerAddress,
    'portcullis.request_id': exchange.requestId,
  }
  if (!known) attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = exchange.method
  // The normalized path: never the query, which may carry a credential (api_key=…).
  if (exchange.path !== '') attributes[ATTR_URL_PATH] = exchange.path
  if (exchange.host !== '') attributes[ATTR_SERVER_ADDRESS] = exchange.host
  if (exchange.route !== null) attributes[ATTR_HTTP_ROUTE] = exchange.route.name
  if (exchange.status > 0) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = exchange.status
  return attributes
}

export function createOtlpTracer(settings: TracingSettings, logger: Logger): RequestTracer {
  return new OtlpTracer(settings, logger)
}
