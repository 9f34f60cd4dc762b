/**
 * The exchange: the one per-request object every stage reads and writes. A front (uws.ts,
 * node.ts) fills the request half from its native request, and implements the response and body
 * primitives below; everything between the listener and the proxy sees only this class, and the
 * stages only its {@link StageExchange} slots.
 */
import type { Logger } from 'pino'
import { REJECT, type Rejection } from '../errors.js'
import type { Consumer } from '../consumers/consumer.js'
import type { Identity } from '../identity.js'
import type { ClientCertificate } from '../tls/client-certificate.js'
import type { BodyRateWatch } from './body-rate.js'
import type { ClientSlots } from './client-slots.js'
import type { PipelineExchange } from '../pipeline/run.js'
import type { RequestHeaderRules } from '../proxy/request-header-rules.js'
import type { TrustedProxies } from '../net/trusted-proxies.js'
import type { CertificateHeaders } from '../tls/certificate-headers.js'
import type { CompiledRoute, RouteTable } from '../router/compile.js'
import type { MatchResult } from '../router/match.js'
import type { TracingSettings } from '../observability/tracing/settings.js'

/** The worker's request counters, which outlive a config generation (runtime.ts WorkerState). */
export interface RequestCounters {
  inFlight: number
  readonly draining: boolean
  /** Bodies held to limits.min_body_rate. */
  readonly bodyRates: BodyRateWatch
  /** Requests in flight per client address (limits.max_concurrent_per_client). */
  readonly clientSlots: ClientSlots
}

/**
 * What an exchange, the request path and the fronts need of the config generation a request runs
 * on; runtime.ts implements it. The exchange depends on this, never on the runtime itself.
 */
export interface ExchangeRuntime {
  readonly logger: Logger
  readonly state: RequestCounters
  readonly table: RouteTable
  /** Reused by the synchronous matcher; never held across a tick. */
  readonly matchResult: MatchResult
  readonly maxHeaderBytes: number
  readonly requestTimeoutMs: number
  /** limits.min_body_rate in bytes per second (0: off) and its window. */
  readonly minBodyRate: number
  readonly minBodyRateWindowMs: number
  /** limits.max_concurrent_per_client (0: off). */
  readonly maxConcurrentPerClient: number
  /** The client headers that never reach an upstream (proxy/headers.ts). */
  readonly headerRules: RequestHeaderRules
  /** trusted_proxies compiled (client-address.ts); null: every peer is the client. */
  readonly trustedProxies: TrustedProxies | null
  /** What the upstream is told of an mTLS connection's client certificate (proxy/headers.ts). */
  readonly certificateHeaders: CertificateHeaders
  /**
   * Span export (observability/tracing): null unless `tracing:` is configured, and until the
   * serving process has loaded the SDK for this generation.
   */
  readonly tracer: RequestTracer | null
  /** The 405 answer for a path whose routes take only `allow`. */
  methodNotAllowed(allow: string): Rejection
  /** Called by the exchange exactly once, whatever the outcome. */
  onExchangeEnd(exchange: Exchange): void
}

/**
 * Span export as the request path sees it (observability/tracing/otlp.ts implements it, loaded
 * only when `tracing:` is configured).
 */
export interface RequestTracer {
  readonly settings: TracingSettings
  /** Whether a new trace (no valid incoming traceparent) is sampled: the trace-id ratio. */
  sampleNew(traceId: string): boolean
  /**
   * Hands the exchange's spans (server, authentication, upstream call) to the batch processor;
   * called once at its end, for sampled exchanges only. `endedAt` is performance.now().
   */
  record(exchange: Exchange, endedAt: number): void
  /** Exports what is queued and stops; settles within `timeoutMs` whatever the collector does. */
  close(timeoutMs: number): Promise<void>
}

/** What the front tells the proxy about the client side of an exchange. */
export interface UpstreamCall {
  /** The client can take more response body after writeBody returned false. */
  onClientWritable(): void
  /** The client went away: cancel the upstream request. */
  onClientAbort(): void
}

export type ListenerKind = 'http' | 'https' | 'mtls'

/**
 * Receives the request body as the front reads it; `end` after the last chunk. A chunk is valid
 * only during the call: a sink that keeps it must copy it.
 */
export interface BodySink {
  onBodyChunk(chunk: Buffer): void
  onBodyEnd(): void
}

/** RFC 9110 §6.4.1: these responses have no content, whatever framing headers they carry. */
export function isBodylessResponse(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304
}

/**
 * The Content-Length a response passes on (-1: none). RFC 9110 §8.6: never on a 204; a 304 or an
 * answer to HEAD carries only the length its content would have had, which is the upstream's.
 */
export function announcedLength(status: number, contentLength: number): number {
  return status === 204 ? -1 : contentLength
}

export abstract class Exchange implements PipelineExchange {
  readonly runtime: ExchangeRuntime
  readonly listener: ListenerKind
  method = ''
  /** The path exactly as received, for the access log only. */
  rawPath = ''
  /** Normalized once (normalize-path.ts); the router and the upstream request both use it. */
  path = ''
  /** Raw query string without '?'. */
  query = ''
  /** Request headers, flat: [name, value, name, value…], names lowercased by the front. */
  headers: string[] = []
  /** Host name the client asked for, lowercased, without port. */
  host = ''
  /** The TCP peer: the client itself, or the proxy in front of it. */
  peerAddress = ''
  /**
   * The client (client-address.ts): the peer, or whom a trusted proxy names by a PROXY header or
   * X-Forwarded-For. Every rule, key and log line that names the client uses this.
   */
  clientAddress = ''
  /** The X-Forwarded-For the upstream gets; '' means clientAddress alone (client-address.ts). */
  forwardedFor = ''
  /** The verified client certificate of an mTLS connection; null on every other listener. */
  clientCertificate: ClientCertificate | null = null
  requestId = ''
  /** Declared body length: -1 when the body is chunked, 0 when there is none. */
  contentLength = 0
  /** Set by request-head.ts when the head is malformed (conflicting lengths, two Hosts…). */
  invalid: Rejection | null = null
  /** Sum of header name and value bytes, for the max_header_bytes limit. */
  headerBytes = 0
  /** `Expect: 100-continue` was sent. */
  expectContinue = false
  /** Value of `Upgrade`, lowercased, or '' when absent. */
  upgrade = ''
  /** Raw Host and Connection values, kept by request-head.ts so the proxy never rescans. */
  hostHeader = ''
  connectionHeader = ''
  /** Bit set of the framing headers seen (request-head.ts FRAMING_*). */
  framing = 0

  route: CompiledRoute | null = null
  /** A 405: the routes whose path matched, by name (no route is chosen), for the access log. */
  pathRoutes: string | null = null
  upstreamPath = ''
  /** Named path segments of a templated route (`/users/{id}`), flat [name, raw value…]; else null. */
  pathParams: string[] | null = null
  /** Set by the authenticate stage; null on public routes and before authentication. */
  identity: Identity | null = null
  consumer: Consumer | null = null
  authRefusal = ''
  /** Identity headers for the upstream, flat like `headers`; set by the forward stage. */
  forwardHeaders: readonly string[] | null = null
  /** Extra response headers from stages (rate-limit headers…), flat like `headers`. */
  responseHeaders: string[] | null = null
  /**
   * Set by a rate-limit stage (stages/rate-limit/headers.ts) when it reported a policy: the
   * remaining it reported (-1: none yet), and where its fields lie in responseHeaders, from
   * `rateLimitFieldsAt` to `rateLimitFieldsEnd`; a later rate-limit stage replaces them or
   * leaves them, so a response carries one set.
   */
  rateLimitRemaining = -1
  rateLimitFieldsAt = 0
  rateLimitFieldsEnd = 0

  /**
   * W3C Trace Context, filled on first use by observability/trace-context.ts: the trace, the
   * gateway's span, the client's span ('' for a new trace), the client's tracestate, and the
   * traceparent sent upstream ('' until computed).
   */
  traceId = ''
  spanId = ''
  parentSpanId = ''
  traceState = ''
  traceSampled = false
  traceparent = ''
  /** The upstream call's span, the upstream's parent: set only for a sampled trace under tracing. */
  upstreamSpanId = ''

  /**
   * Set by the authenticate stage when it times itself (metrics, tracing): performance.now() at
   * its start and decision (0: it did not run), the method that decided, and 'ok' or the wire
   * code of the refusal.
   */
  authStartedAt = 0
  authEndedAt = 0
  authMethod = ''
  authOutcome = ''

  /** performance.now() milliseconds. */
  startedAt = 0
  upstreamStartedAt = 0
  upstreamHeadersAt = 0
  upstreamTarget = ''

  status = 0
  responseBytes = 0
  requestBytes = 0
  /** The client went away; the front must not be touched any more. */
  aborted = false
  /** The response head was written. */
  headSent = false
  finished = false
  errorDetail: string | null = null
  /** The upstream request in flight, told when the client aborts or can take more body. */
  upstreamCall: UpstreamCall | null = null
  /** Counted in the worker's ClientSlots (limits.max_concurrent_per_client) until it ends. */
  holdsClientSlot = false

  constructor(runtime: ExchangeRuntime, listener: ListenerKind) {
    this.runtime = runtime
    this.listener = listener
  }

  /** First value of a request header (name in lowercase), or undefined. */
  header(name: string): string | undefined {
    const h = this.headers
    for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1]
    return undefined
  }

  /** Removes every occurrence of a request header (name in lowercase). */
  deleteHeader(name: string): void {
    const h = this.headers
    let w = 0
    for (let r = 0; r < h.length; r += 2) {
      if (h[r] === name) continue
      h[w++] = h[r]!
      h[w++] = h[r + 1]!
    }
    h.length = w
  }

  /** Replaces a request header (name in lowercase). */
  setHeader(name: string, value: string): void {
    this.deleteHeader(name)
    this.headers.push(name, value)
  }

  addResponseHeader(name: string, value: string): void {
    if (this.responseHeaders === null) this.responseHeaders = [name, value]
    else this.responseHeaders.push(name, value)
  }

  /** Answers with a JSON error body; the connection is closed when `close` is set. */
  abstract reject(rejection: Rejection, close?: boolean): void
  /** Writes the response head. `contentLength` -1: unknown, the body is streamed chunked. */
  abstract writeHead(status: number, headers: readonly string[], contentLength: number): void
  /** Writes a body chunk; false when the client cannot take more now (wait for `onWritable`). */
  abstract writeBody(chunk: Buffer): boolean

  /**
   * writeBody for a chunk that is valid only during the call (a view of the upstream transport's
   * read buffer): a front that sends or copies it at once skips the copy this one makes.
   */
  writeBodyView(view: Buffer): boolean {
    return this.writeBody(Buffer.from(view))
  }
  /** Ends the response (after writeHead, and the body if any). */
  abstract endResponse(): void
  /** Closes the client connection at once, mid-response if need be. */
  abstract destroy(): void
  /** Starts delivering the request body to `sink`. */
  abstract readBody(sink: BodySink): void
  abstract pauseBody(): void
  abstract resumeBody(): void

  /**
   * The request body did not arrive in time (limits.request_timeout, min_body_rate): 408 and the
   * connection closed, or a cut connection when a response has begun. An upstream request
   * already under way is abandoned: it would wait for the rest of the body for ever, holding
   * its connection.
   */
  bodyTimedOut(rejection: Rejection): void {
    if (this.aborted) return
    if (this.headSent) this.destroy()
    else this.reject(rejection, true)
    this.upstreamCall?.onClientAbort()
  }

  /** An unexpected throw inside a stage: a 500 for the client, the stage's name in the log. */
  stageFailed(stage: string, error: unknown): void {
    this.runtime.logger.error({ err: error, stage, request_id: this.requestId }, 'stage failed')
    this.errorDetail = `stage ${stage} failed`
    if (!this.aborted && !this.headSent) this.reject(REJECT.internalError)
  }

  /** Called by the front exactly once, when the response is complete or the client is gone. */
  protected finish(): void {
    if (this.finished) return
    this.finished = true
    this.runtime.onExchangeEnd(this)
  }
}
