/**
 * One serving process: a front, its listeners, and the current runtime. Runs inside each cluster
 * worker, or alone in the primary with --workers 0.
 */
import type { Logger } from 'pino'
import type { GatewayConfig } from '../config/schema.js'
import type { BoundListener, Front, FrontListener, StatusAnswer } from '../front/front.js'
import { loadNativeUws } from '../front/load-uws.js'
import { bindUwsDirect } from '../front/uws-direct.js'
import { describeVerifier } from '../jwt/native-verify.js'
import { NodeFront } from '../front/node.js'
import { UwsFront } from '../front/uws.js'
import { IntrospectorRegistry } from '../introspection/registry.js'
import { IssuerRegistry } from '../jwt/issuer.js'
import { JwksKeySource } from '../jwt/jwks.js'
import type { MetricFamily } from '../observability/metrics/families.js'
import { createAuditLogger } from '../observability/audit-log.js'
import { TracingHost } from '../observability/tracing/tracer.js'
import { renderMetrics } from '../observability/metrics/exposition.js'
import {
  collectWorkerMetrics,
  type IntrospectorReading,
  type IssuerReading,
  type WorkerReadings,
} from '../observability/metrics/worker-metrics.js'
import { openConnections } from '../proxy/transport.js'
import { RedisRevocationSync, RevocationList } from '../jwt/revocation.js'
import { VerifyPool } from '../jwt/verify-pool.js'
import { createUpstreamSockets } from '../proxy/h1/socket-choice.js'
import { PoolCache } from '../proxy/upstream.js'
import { Runtime, type WorkerState } from '../gateway/runtime.js'
import { JwtContext } from '../stages/authenticate/jwt-context.js'
import { QuotaLeaser } from '../state/quota-lease.js'
import { RedisRateLimitSync } from '../state/rate-limit-sync.js'
import { RateLimitSharing } from './rate-limit-sharing.js'
import { RateLimitRegistry } from '../rate-limit/registry.js'
import { flushKeyUsage, redisReadiness, syncCredentials } from './credential-syncing.js'
import type { RedisConfig } from '../state/schema.js'
import { BodyRateWatch } from '../gateway/body-rate.js'
import { CredentialDirectory } from '../consumers/directory.js'
import { KeyUsage } from '../keys/usage.js'
import { SignatureMemory } from '../hmac/replay.js'
import { WorkerMeter } from '../observability/metrics/meter.js'
import { ClientSlots } from '../gateway/client-slots.js'
import { AdminHost, type WorkerSlotView } from './admin-host.js'
import { serveListenersTls } from '../tls/listeners.js'

export type FrontKind = 'uws' | 'node'

export interface ServingProcess {
  readonly front: string
  /** How this process checks JWT signatures (native-verify.ts), for the startup line. */
  readonly verifier: string
  /** What carries upstream requests (proxy/h1/socket.ts), for the startup line. */
  readonly upstreamSockets: string
  readonly listeners: readonly string[]
  /**
   * Compiles (throws on an invalid config), loads new issuers' keys, then switches; `generation`
   * counts the reloads (the admin API's /status reports it).
   */
  reload(config: GatewayConfig, generation: number): Promise<void>
  /** This process's metric families, read now. */
  metrics(): MetricFamily[]
  /** Stops accepting, lets in-flight requests finish within `graceMs`, then resolves. */
  drain(graceMs: number): Promise<void>
}

/** Where this serving process stands among its host's workers. */
export interface ServingOptions {
  readonly verifyThreads: number
  /** 0…workerCount-1; the single process of --workers 0 is worker 0 of 1. */
  readonly workerIndex: number
  readonly workerCount: number
  /** Asks the primary for every worker slot (admin /status); null when there is no primary. */
  readonly askPrimary: (() => Promise<readonly WorkerSlotView[] | null>) | null
  /**
   * Every process's families for a scrape of /metrics on this process: the primary gathers them
   * from each worker; alone (--workers 0), `own` and the supervising counters.
   */
  readonly gatherMetrics: (own: MetricFamily[]) => Promise<readonly (readonly MetricFamily[])[]>
}

export async function startServing(
  config: GatewayConfig,
  frontKind: FrontKind,
  logger: Logger,
  options: ServingOptions,
): Promise<ServingProcess> {
  const { verifyThreads } = options
  const revocations = new RevocationList()
  const pool = verifyThreads > 0 ? new VerifyPool(verifyThreads) : null
  // Chosen once for the process's life (--upstream-sockets, inherited through the environment).
  const sockets = createUpstreamSockets()
  const auditLog = createAuditLogger(config.log, logger, {
    chain: `${options.workerIndex}.${process.pid}`,
    bindings: { role: 'audit', pid: process.pid, worker: options.workerIndex },
  })
  const state: WorkerState = {
    logger,
    auditLog,
    pools: new PoolCache(sockets),
    issuers: new IssuerRegistry(logger),
    introspectors: new IntrospectorRegistry(logger),
    jwt: new JwtContext(pool, revocations),
    revocations,
    credentials: new CredentialDirectory(),
    keyUsage: new KeyUsage(),
    signatures: new SignatureMemory(),
    rateLimits: new RateLimitRegistry(),
    bodyRates: new BodyRateWatch(),
    clientSlots: new ClientSlots(),
    meter: new WorkerMeter(),
    inFlight: 0,
    draining: false,
    onIdle: null,
  }
  let runtime = new Runtime(config, state)
  // The SDK is imported here, and only when `tracing:` is configured.
  const tracing = new TracingHost(logger)
  runtime.tracer = await tracing.prepare(runtime.tracing)
  tracing.use(runtime.tracer)
  let revocationSync = syncRevocations(null, config.redis, revocations, logger)
  let credentialSync = syncCredentials(null, config.redis, state.credentials, logger)
  let usageFlush = flushKeyUsage(null, config, state.keyUsage, logger)
  let rateLimitSync = syncRateLimits(null, config, state.rateLimits, logger)
  // Gossip binds its UDP port before the worker listens, so a port clash fails the start.
  const sharing = new RateLimitSharing(
    state.rateLimits,
    runtime.gossip,
    {
      workerIndex: options.workerIndex,
      workerCount: options.workerCount,
      redisHealthy: () => rateLimitSync?.healthy ?? false,
    },
    logger,
  )
  let sharingStarted = false
  const shareLimits = async (next: GatewayConfig) => {
    if (sharingStarted || Object.keys(next.rate_limits).length === 0) return
    sharingStarted = true
    await sharing.start()
  }
  await shareLimits(config)
  // Members that share a quota when Redis is down (local_share): the members sharing expects,
  // not those alive now. A member cut off by the outage still admits its own share.
  const members = () => sharing.expected
  let quotaLeaser = leaseQuotas(null, config, state.rateLimits, logger, members)
  // Keys first: a worker that listens before its JWKS arrived would refuse valid tokens.
  await state.issuers.startAll()
  // Expiry warnings once per host, not once per worker.
  const tlsLogger = options.workerIndex === 0 ? logger : null
  const tls = serveListenersTls(config, tlsLogger)
  let front: Front
  if (frontKind === 'uws') {
    const { uws, description, file } = loadNativeUws()
    const direct = bindUwsDirect(file, (why) =>
      logger.warn({ reason: why }, 'requests are read through uWS.js calls from now on'),
    )
    front = new UwsFront(uws, description, runtime, direct)
  } else {
    front = new NodeFront(runtime)
  }
  // uWS 20.30 can neither require nor expose a client certificate: the mTLS listener is node:tls
  // on either front, feeding the same exchange and request path (front/node.ts).
  const mtlsFront: Front | null =
    config.listeners.mtls === undefined
      ? null
      : frontKind === 'node'
        ? front
        : new NodeFront(runtime)
  const fronts = mtlsFront === null || mtlsFront === front ? [front] : [front, mtlsFront]
  const description =
    mtlsFront === null
      ? front.description
      : `${front.description}; mtls listener on node:tls (OpenSSL ${process.versions.openssl})`

  const readings: WorkerReadings = {
    meter: state.meter,
    tokenCache: {
      get hits() {
        return state.jwt.cacheHits
      },
      get misses() {
        return state.jwt.cacheMisses
      },
    },
    signatures: state.jwt.signatureTimes,
    policies: state.rateLimits.meters,
    issuers: () => issuerReadings(state.issuers),
    introspectors: () => introspectorReadings(state.introspectors),
    upstreamConnections: () => upstreamConnections(runtime),
    rateLimitSync: () => {
      const sync = rateLimitSync
      if (sync === null) return null
      return { failures: sync.stats.failures, lagSeconds: sync.lagMs / 1000 }
    },
    gossipMembers: () => sharing.member?.stats.members ?? null,
  }
  const metrics = () => collectWorkerMetrics(readings)
  const scrape = async (accept: string): Promise<StatusAnswer> => {
    try {
      const answer = await renderMetrics(await options.gatherMetrics(metrics()), accept)
      return { status: 200, contentType: answer.contentType, body: answer.body }
    } catch (error) {
      logger.error({ err: error }, 'metrics scrape failed')
      return { status: 500, contentType: JSON_TYPE, body: '{"error":"internal_error"}' }
    }
  }

  const bound: string[] = []
  const { http, https, mtls, status } = config.listeners
  const listen = async (
    scheme: string,
    listener: FrontListener,
    probe = false,
    on: Front = front,
  ) => {
    const at: BoundListener = probe
      ? await front.listenStatus(listener, (path, accept) =>
          path === '/metrics' && runtime.meter !== null
            ? scrape(accept)
            : statusProbe(path, state, runtime.meter !== null, () =>
                redisReadiness({
                  revocations: revocationSync?.status ?? null,
                  credentials: credentialSync?.status ?? null,
                }),
              ),
        )
      : await on.listen(listener)
    bound.push(`${scheme}://${at.host}:${at.port}`)
  }
  if (http !== undefined)
    await listen('http', {
      kind: 'http',
      host: http.host,
      port: http.port,
      tls: null,
      proxyProtocol: http.proxy_protocol,
    })
  if (https !== undefined) {
    await listen('https', {
      kind: 'https',
      host: https.host,
      port: https.port,
      tls: tls.https,
      proxyProtocol: https.proxy_protocol,
    })
  }
  if (mtls !== undefined && mtlsFront !== null) {
    await listen(
      'mtls',
      {
        kind: 'mtls',
        host: mtls.host,
        port: mtls.port,
        tls: tls.mtls,
        proxyProtocol: mtls.proxy_protocol,
      },
      false,
      mtlsFront,
    )
  }
  if (status !== undefined) {
    await listen('status', { kind: 'http', host: status.host, port: status.port, tls: null }, true)
  }
  // Off the traffic front: its own node:http server on its own port (admin/server.ts).
  const admin = await AdminHost.start(config, {
    logger,
    auditLog,
    workerIndex: options.workerIndex,
    workerCount: options.workerCount,
    consumer: (name) => state.credentials.consumer(name),
    isConfigHmacKey: (keyId) => state.credentials.isConfigHmacKey(keyId),
    configConsumers: (current) =>
      current.consumers.flatMap((c) => {
        const consumer = state.credentials.consumer(c.name)
        return consumer?.source === 'config' ? [consumer] : []
      }),
    credentialSizes: () => state.credentials.sizes,
    syncs: () => ({
      revocations: revocationSync?.status ?? null,
      credentials: credentialSync?.status ?? null,
      rateLimits: rateLimitSync === null ? null : rateLimitSync.healthy ? 'ok' : 'redis_down',
    }),
    gossip: () => ({ enabled: sharing.member !== null, expectedMembers: sharing.expected }),
    askPrimary: options.askPrimary ?? (() => Promise.resolve(null)),
  })
  if (admin !== null) bound.push(admin.listener)

  return {
    front: description,
    verifier: describeVerifier(),
    upstreamSockets: sockets.description,
    listeners: bound,
    metrics,
    async reload(next: GatewayConfig, generation: number): Promise<void> {
      const compiled = new Runtime(next, state)
      // Certificates, keys, CA bundle and CRLs are read again; a file that does not load keeps
      // the running ones (and the running config) in place.
      const nextTls = serveListenersTls(next, tlsLogger)
      if (https !== undefined && nextTls.https !== null)
        await front.updateTls('https', nextTls.https)
      if (mtlsFront !== null && nextTls.mtls !== null)
        await mtlsFront.updateTls('mtls', nextTls.mtls)
      await state.issuers.startAll()
      await shareLimits(next)
      // Last of the waits: nothing can fail between taking the tracer and using it.
      compiled.tracer = await tracing.prepare(compiled.tracing)
      tracing.use(compiled.tracer)
      runtime = compiled
      for (const f of fronts) f.setRuntime(runtime)
      revocationSync = syncRevocations(revocationSync, next.redis, revocations, logger)
      credentialSync = syncCredentials(credentialSync, next.redis, state.credentials, logger)
      usageFlush = flushKeyUsage(usageFlush, next, state.keyUsage, logger)
      rateLimitSync = syncRateLimits(rateLimitSync, next, state.rateLimits, logger)
      quotaLeaser = leaseQuotas(quotaLeaser, next, state.rateLimits, logger, members)
      admin?.reload(next, generation)
    },
    drain(graceMs: number): Promise<void> {
      state.draining = true
      for (const f of fronts) f.closeListeners()
      void admin?.close()
      void sharing.close()
      rateLimitSync?.close()
      // Unused quota goes back to the other members, and key usage counted so far is written;
      // bounded by the grace below.
      const released = Promise.all([quotaLeaser?.close(), usageFlush?.close()])
      const drained = new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn(
            { in_flight: state.inFlight },
            'shutdown grace over; cutting requests still in flight',
          )
          resolve()
        }, graceMs)
        timer.unref()
        const done = () => {
          void released.then(() => {
            clearTimeout(timer)
            resolve()
          })
        }
        if (state.inFlight === 0) done()
        else state.onIdle = done
      })
      // The spans of the last requests are queued once they ended: exported before the exit.
      return drained.then(() => tracing.close())
    },
  }
}

/** Keeps the Redis reconciliation of rate-limit counters matching the config. */
function syncRateLimits(
  current: RedisRateLimitSync | null,
  config: GatewayConfig,
  registry: RateLimitRegistry,
  logger: Logger,
): RedisRateLimitSync | null {
  const redis = config.redis
  const wanted = redis !== undefined && Object.keys(config.rate_limits).length > 0
  if (current !== null && wanted && sameRedis(current.config, redis)) return current
  // Closed before the next starts: close() turns the registry's Redis accounting off.
  current?.close()
  if (!wanted) return null
  const sync = new RedisRateLimitSync(registry, redis, logger)
  sync.start()
  return sync
}

/** Keeps the quota leaser matching the config: started when a policy has quota: and redis: is set. */
function leaseQuotas(
  current: QuotaLeaser | null,
  config: GatewayConfig,
  registry: RateLimitRegistry,
  logger: Logger,
  members: () => number,
): QuotaLeaser | null {
  const redis = config.redis
  const wanted =
    redis !== undefined && Object.values(config.rate_limits).some((p) => p.quota !== undefined)
  if (current !== null && wanted && sameRedis(current.config, redis)) return current
  // Its leases go back to the Redis they came from; the next leaser leases afresh.
  void current?.close()
  if (!wanted) return null
  const leaser = new QuotaLeaser(registry, redis, logger, { members })
  leaser.start()
  return leaser
}

/**
 * The same connection and settings, but for encryption_keys: they concern only the credential
 * sync (credential-syncing.ts), so rotating them leaves rate limits and revocations running.
 */
function sameRedis(a: RedisConfig, b: RedisConfig): boolean {
  return JSON.stringify(withoutEncryptionKeys(a)) === JSON.stringify(withoutEncryptionKeys(b))
}

function withoutEncryptionKeys({ encryption_keys: _, ...rest }: RedisConfig): object {
  return rest
}

/** Keeps the Redis revocation sync matching the config: started, kept, replaced or stopped. */
function syncRevocations(
  current: RedisRevocationSync | null,
  redis: RedisConfig | undefined,
  list: RevocationList,
  logger: Logger,
): RedisRevocationSync | null {
  // The whole connection config, as for the other syncs: a new key_prefix is another deny-list.
  if (current !== null && redis !== undefined && sameRedis(current.config, redis)) return current
  current?.close()
  if (redis === undefined) return null
  const sync = new RedisRevocationSync(list, redis, logger)
  sync.start()
  return sync
}

const JSON_TYPE = 'application/json'

function statusProbe(
  path: string,
  state: WorkerState,
  metrics: boolean,
  redisDetail: () => string,
): StatusAnswer {
  if (path === '/healthz') return { status: 200, contentType: JSON_TYPE, body: '{"status":"ok"}' }
  if (path === '/readyz') {
    // Ready while Redis is down (the last known sets serve); the detail says how each stands.
    return state.draining
      ? { status: 503, contentType: JSON_TYPE, body: `{"status":"draining"${redisDetail()}}` }
      : { status: 200, contentType: JSON_TYPE, body: `{"status":"ready"${redisDetail()}}` }
  }
  // metrics.enabled false: /metrics is not served, and the answer does not offer it.
  return metrics ? NOT_FOUND : NOT_FOUND_WITHOUT_METRICS
}

const NOT_FOUND: StatusAnswer = {
  status: 404,
  contentType: JSON_TYPE,
  body: '{"error":"not_found","message":"Paths are /healthz, /readyz and /metrics."}',
}
const NOT_FOUND_WITHOUT_METRICS: StatusAnswer = {
  status: 404,
  contentType: JSON_TYPE,
  body: '{"error":"not_found","message":"Paths are /healthz and /readyz (metrics.enabled is false)."}',
}

/** Each issuer's JWKS counters; issuers with static keys have none. */
function issuerReadings(issuers: IssuerRegistry): IssuerReading[] {
  const readings: IssuerReading[] = []
  const now = Date.now()
  for (const issuer of issuers.current()) {
    if (!(issuer.keys instanceof JwksKeySource)) continue
    const stats = issuer.keys.stats
    readings.push({
      issuer: issuer.name,
      fetches: stats.fetches,
      failures: stats.failures,
      keysAgeSeconds: stats.lastSuccessAt === null ? null : (now - stats.lastSuccessAt) / 1000,
    })
  }
  return readings
}

/** Each introspector's counters, summed by name (a reload may hold an old and a new one). */
function introspectorReadings(registry: IntrospectorRegistry): IntrospectorReading[] {
  const byName = new Map<string, IntrospectorReading>()
  for (const introspector of registry.current()) {
    const { hits, misses, calls, failures } = introspector.stats
    const before = byName.get(introspector.name)
    byName.set(introspector.name, {
      introspector: introspector.name,
      hits: hits + (before?.hits ?? 0),
      misses: misses + (before?.misses ?? 0),
      calls: calls + (before?.calls ?? 0),
      failures: failures + (before?.failures ?? 0),
      breakerOpen: introspector.breakerOpen || (before?.breakerOpen ?? false),
    })
  }
  return [...byName.values()]
}

/** Open connections per upstream of the running generation, over its targets' pools. */
function upstreamConnections(runtime: Runtime): Map<string, number> {
  const open = new Map<string, number>()
  for (const [name, upstream] of runtime.upstreams) {
    let sum = 0
    for (const target of upstream.targets) sum += openConnections(target.pool)
    open.set(name, sum)
  }
  return open
}
