/**
 * A runtime is one compiled generation of the config inside a worker: the route table, the
 * upstreams and the limits. A reload compiles a new runtime and new requests take it; requests in
 * flight keep the one they started with, so a reload never changes a request half-way.
 */
import { performance } from 'node:perf_hooks'
import { hstsValue } from '../tls/hsts.js'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../config/schema.js'
import { compileConsumerHeaders } from '../stages/forward/consumer-headers.js'
import { compileCorsPolicy } from '../stages/cors/policy.js'
import { parseDuration, parseSize } from '../config/units.js'
import { createRejection, PortcullisError, type ConfigProblem, type Rejection } from '../errors.js'
import type { BodyRateWatch } from './body-rate.js'
import { compileTrustedProxies } from './client-address.js'
import type { TrustedProxies } from '../net/trusted-proxies.js'
import type { ClientSlots } from './client-slots.js'
import type { Exchange, ExchangeRuntime, RequestTracer } from './exchange.js'
import type { IntrospectorRegistry } from '../introspection/registry.js'
import type { IssuerRegistry } from '../jwt/issuer.js'
import type { RevocationList } from '../jwt/revocation.js'
import type { GossipSettings } from '../gossip/schema.js'
import { compileGossip } from '../gossip/settings.js'
import { DEFAULT_IDENTITY_HEADERS, IDENTITY_HEADER_PREFIXES } from '../http/field-names.js'
import { writeAccessLog } from '../observability/access-log.js'
import { NO_ROUTE, type RouteMeter, type WorkerMeter } from '../observability/metrics/meter.js'
import { traceOf } from '../observability/trace-context.js'
import { compileTracing, type TracingSettings } from '../observability/tracing/settings.js'
import { PoolCache, Upstream } from '../proxy/upstream.js'
import {
  compileMethods,
  compileRouteTable,
  type CompiledRoute,
  type RouteEntry,
  type RouteTable,
} from '../router/compile.js'
import { createMatchResult, type MatchResult } from '../router/match.js'
import { isPathTemplate, parsePathTemplate } from '../router/template.js'
import type { RouteConfig } from './route-schema.js'
import { compilePipeline, type StageServices } from './stage-registry.js'
import { JsonSchemaCompiler } from '../stages/validate/json-schemas.js'
import type { JwtContext } from '../stages/authenticate/jwt-context.js'
import type { RateLimitRegistry } from '../rate-limit/registry.js'
import { checkQuotasNeedRedis } from '../rate-limit/quota.js'
import { RequestHeaderRules } from '../proxy/request-header-rules.js'
import { checkReferences } from '../config/references.js'
import { checkApiKeys, compileConfigured } from '../consumers/configured.js'
import type { CredentialDirectory } from '../consumers/directory.js'
import { KeyHasher } from '../keys/hash.js'
import { compileCertificateHeaders, type CertificateHeaders } from '../tls/certificate-headers.js'
import type { KeyUsage } from '../keys/usage.js'
import type { SignatureMemory } from '../hmac/replay.js'

/** State that outlives a reload: the logger, warm pools, counters, the draining flag. */
export interface WorkerState {
  readonly logger: Logger
  /** Audit lines' logger (log.audit_file, log.audit_chain_key): `logger` unless one is set. */
  readonly auditLog?: Logger
  readonly pools: PoolCache
  /** Issuers and their keys, carried over reloads while their config is unchanged. */
  readonly issuers: IssuerRegistry
  /** Introspection endpoints, their cached answers and breakers, carried over reloads likewise. */
  readonly introspectors: IntrospectorRegistry
  /** Token caches, verify pool, verifications in flight: shared by every JWT route. */
  readonly jwt: JwtContext
  readonly revocations: RevocationList
  /** Consumers and API keys: the config's (set by each runtime) and the credential store's. */
  readonly credentials: CredentialDirectory
  /** Per-key usage counts, drained to Redis in the background. */
  readonly keyUsage: KeyUsage
  /** Signatures accepted (auth hmac), kept over reloads so a reload opens no replay window. */
  readonly signatures: SignatureMemory
  /** Rate-limit counters, carried over reloads while their policy is unchanged; the gossip seam. */
  readonly rateLimits: RateLimitRegistry
  /** Bodies being received under limits.min_body_rate. */
  readonly bodyRates: BodyRateWatch
  /** Requests in flight per client address, for limits.max_concurrent_per_client. */
  readonly clientSlots: ClientSlots
  /** Request, authentication and upstream counters for /metrics. */
  readonly meter: WorkerMeter
  inFlight: number
  draining: boolean
  /** Called when in-flight drops to zero while draining. */
  onIdle: (() => void) | null
}

export class Runtime implements ExchangeRuntime {
  readonly config: GatewayConfig
  readonly state: WorkerState
  readonly logger: Logger
  readonly table: RouteTable
  readonly upstreams: ReadonlyMap<string, Upstream>
  readonly maxHeaderBytes: number
  readonly defaultMaxBodyBytes: number
  readonly requestTimeoutMs: number
  /** limits.buffer_body; each route holds it capped by its max_body. */
  readonly bufferBodyBytes: number
  /** limits.min_body_rate in bytes per second (0: off) and its window. */
  readonly minBodyRate: number
  readonly minBodyRateWindowMs: number
  /** limits.max_concurrent_per_client; 0: no cap. */
  readonly maxConcurrentPerClient: number
  readonly accessLog: boolean
  /** The worker's meter when metrics.enabled; null: the request path counts nothing. */
  readonly meter: WorkerMeter | null
  /** Requests no route took; null when metrics are off. */
  readonly #noRouteMeter: RouteMeter | null
  /** Whether an ended exchange needs the clock: for metrics or the access line. */
  readonly #timed: boolean
  /** trusted_proxies compiled; null when empty: no request reads a header for them. */
  readonly trustedProxies: TrustedProxies | null
  /** limits.proxy_header_timeout: a proxy_protocol connection's time to send its header. */
  readonly proxyHeaderTimeoutMs: number
  /**
   * The client headers that never reach an upstream, on every route, public ones included: the
   * names only the gateway may set for identity (every route's forward.claims names, the
   * defaults and prefixes), headers.drop, hop-by-hop and the gateway's own fields.
   */
  readonly headerRules: RequestHeaderRules
  /** headers.client_certificate: what an mTLS connection's requests tell the upstream. */
  readonly certificateHeaders: CertificateHeaders
  /** Hashes presented API keys with api_keys.pepper, as the store and the config hold them. */
  readonly keyHasher: KeyHasher
  /** api_keys.prefixes: a key under any other prefix is refused unread. */
  readonly apiKeyPrefixes: readonly string[]
  /** `gossip:` compiled; used once per process (a change needs a restart). */
  readonly gossip: GossipSettings
  /** `tracing:` compiled; null when absent. */
  readonly tracing: TracingSettings | null
  /**
   * The tracer for `tracing`, set by the serving process once it has loaded the SDK
   * (cluster/gateway-process.ts), before the generation takes requests; null without tracing
   * and in runtimes that only check a config.
   */
  tracer: RequestTracer | null = null
  /** Reused by the synchronous matcher; never held across a tick. */
  readonly matchResult: MatchResult = createMatchResult()
  /** 405 rejections, one per distinct Allow value, built at compile time. */
  readonly #methodNotAllowed = new Map<string, Rejection>()

  constructor(config: GatewayConfig, state: WorkerState) {
    this.config = config
    this.state = state
    this.logger = state.logger
    this.maxHeaderBytes = parseSize(config.limits.max_header_bytes)
    this.defaultMaxBodyBytes = parseSize(config.limits.max_body)
    this.requestTimeoutMs = parseDuration(config.limits.request_timeout)
    this.bufferBodyBytes = parseSize(config.limits.buffer_body)
    this.minBodyRate = parseSize(config.limits.min_body_rate)
    this.minBodyRateWindowMs = parseDuration(config.limits.min_body_rate_window)
    this.maxConcurrentPerClient = config.limits.max_concurrent_per_client
    this.accessLog = config.log.access
    this.meter = config.metrics.enabled ? state.meter : null
    this.#noRouteMeter = this.meter?.route(NO_ROUTE) ?? null
    this.#timed = this.accessLog || this.meter !== null
    this.proxyHeaderTimeoutMs = parseDuration(config.limits.proxy_header_timeout)
    this.keyHasher = new KeyHasher(config.api_keys.pepper ?? null)
    this.apiKeyPrefixes = config.api_keys.prefixes

    state.pools.beginGeneration()
    const upstreams = new Map<string, Upstream>()
    for (const [name, upstreamConfig] of Object.entries(config.upstreams)) {
      upstreams.set(
        name,
        new Upstream(name, upstreamConfig, state.pools, state.meter.upstream(name)),
      )
    }
    this.upstreams = upstreams

    // Names, references and overlaps first: the stages below skip what these found missing.
    const problems: ConfigProblem[] = checkReferences(config)
    this.tracing = compileTracing(config.tracing, problems)
    const issuers = state.issuers.compile(config.issuers, problems)
    this.trustedProxies = compileTrustedProxies(config, problems)
    const services: StageServices = {
      issuers,
      introspectors: state.introspectors.compile(config.introspectors, problems),
      jwt: state.jwt,
      logger: state.logger,
      audit: config.log.audit,
      rateLimitPolicies: state.rateLimits.compile(config.rate_limits, problems),
      now: state.rateLimits.now,
      identityHeaders: new Set<string>(DEFAULT_IDENTITY_HEADERS),
      consumerHeaders: compileConsumerHeaders(config.headers.consumer, problems),
      credentials: state.credentials,
      keyHasher: this.keyHasher,
      keyUsage: state.keyUsage,
      apiKeyPrefixes: this.apiKeyPrefixes,
      corsDefault:
        config.cors === undefined ? null : compileCorsPolicy(config.cors, 'cors', problems),
      signatures: state.signatures,
      jsonSchemas: new JsonSchemaCompiler(),
      authMeter: this.meter?.auth,
      auditLog: state.auditLog ?? state.logger,
      traced: config.tracing !== undefined,
    }
    for (const name of services.consumerHeaders.names) services.identityHeaders.add(name)
    this.certificateHeaders = compileCertificateHeaders(
      config.headers.client_certificate,
      services.consumerHeaders.names,
      problems,
    )
    for (const name of this.certificateHeaders.removed) services.identityHeaders.add(name)
    checkQuotasNeedRedis(config, problems)
    const entries = compileRoutes(
      config,
      this.meter,
      upstreams,
      this.defaultMaxBodyBytes,
      this.bufferBodyBytes,
      services,
      problems,
    )
    const gossip = compileGossip(config.gossip, problems)
    checkApiKeys(config.api_keys, problems)
    const credentials = compileConfigured(config.consumers, problems)
    if (problems.length > 0) {
      throw new PortcullisError('PCL_ERR_CONFIG_INVALID', 'invalid configuration', problems)
    }
    // Only a config that compiled touches what the worker's running generation shares.
    state.pools.sweep()
    state.issuers.sweep()
    state.introspectors.sweep()
    state.jwt.resize(config.issuers.reduce((sum, issuer) => sum + issuer.cache_size, 0))
    state.jwt.timesSignatures = this.meter !== null
    state.revocations.setConfigured(config.revocation.jtis)
    state.credentials.useConfigured(credentials)
    this.gossip = gossip!
    state.rateLimits.sweep()
    this.headerRules = new RequestHeaderRules(
      [...services.identityHeaders, ...config.headers.drop],
      IDENTITY_HEADER_PREFIXES,
    )
    this.table = compileRouteTable(entries)
  }

  methodNotAllowed(allow: string): Rejection {
    let rejection = this.#methodNotAllowed.get(allow)
    if (rejection === undefined) {
      rejection = createRejection(405, 'method_not_allowed', `This route accepts only ${allow}.`, [
        'allow',
        allow,
      ])
      this.#methodNotAllowed.set(allow, rejection)
    }
    return rejection
  }

  /** Called by the exchange exactly once, whatever the outcome. */
  onExchangeEnd(exchange: Exchange): void {
    const state = this.state
    state.inFlight--
    if (exchange.holdsClientSlot) state.clientSlots.release(exchange.clientAddress)
    const route = exchange.route
    if (route !== null) {
      const stages = route.finishStages
      for (let i = 0; i < stages.length; i++) stages[i]!.onFinish!(exchange)
    }
    const tracer = this.tracer
    if (this.#timed || tracer !== null) {
      // One clock read serves the metrics, the span and the access line.
      const now = performance.now()
      const meter = route === null ? this.#noRouteMeter : route.meter
      if (meter !== null) {
        const upstreamStarted = exchange.upstreamStartedAt
        meter.record(
          exchange.method,
          exchange.status,
          now - exchange.startedAt,
          upstreamStarted === 0 ? -1 : (exchange.upstreamHeadersAt || now) - upstreamStarted,
        )
      }
      if (tracer !== null) {
        traceOf(exchange)
        if (exchange.traceSampled) tracer.record(exchange, now)
      }
      if (this.accessLog) writeAccessLog(this.logger, exchange, now)
    }
    if (state.draining && state.inFlight === 0 && state.onIdle !== null) state.onIdle()
  }
}

function compileRoutes(
  config: GatewayConfig,
  meter: WorkerMeter | null,
  upstreams: ReadonlyMap<string, Upstream>,
  defaultMaxBody: number,
  bufferBody: number,
  services: StageServices,
  problems: ConfigProblem[],
): RouteEntry[] {
  const entries: RouteEntry[] = []
  config.routes.forEach((route: RouteConfig, index) => {
    const upstream = upstreams.get(route.upstream)
    // A missing upstream is reported by checkReferences.
    if (upstream === undefined) return
    if (route.strip_path && !route.match.paths.every((p) => p.endsWith('/*'))) {
      problems.push({
        path: `routes[${index}].strip_path`,
        reason:
          'strip_path needs prefix paths (ending in /*): an exact path would always forward "/"',
      })
    }
    route.match.paths.forEach((spec, i) => {
      if (!isPathTemplate(spec)) return
      const template = parsePathTemplate(spec)
      if (typeof template === 'string') {
        problems.push({ path: `routes[${index}].match.paths[${i}]`, reason: template })
      }
    })
    const stages = compilePipeline(route, `routes[${index}]`, services, problems)
    const maxBodyBytes = route.max_body === undefined ? defaultMaxBody : parseSize(route.max_body)
    const compiled: CompiledRoute = {
      name: route.name,
      upstream,
      stages,
      responseStages: stages.filter((stage) => stage.onResponse !== null),
      finishStages: stages.filter((stage) => stage.onFinish !== null),
      bodyStages: stages.filter((stage) => typeof stage.onBody === 'function'),
      methods: compileMethods(route.match.methods),
      stripPrefix: route.strip_path,
      maxBodyBytes,
      bufferBodyBytes: Math.min(bufferBody, maxBodyBytes),
      timeoutMs:
        route.timeout === undefined ? upstream.headersTimeoutMs : parseDuration(route.timeout),
      websocket: route.websocket,
      ownsCors: stages.some((stage) => stage.name === 'cors'),
      hsts: route.hsts === undefined ? null : hstsValue(route.hsts),
      meter: meter?.route(route.name) ?? null,
    }
    entries.push({ route: compiled, match: route.match, index })
  })
  return entries
}
