/**
 * One process's metric families, read at scrape time: the request counters of its WorkerMeter
 * and the counters the other modules already keep (token cache, JWKS sources, the Redis sync,
 * gossip, upstream pools). Labels are names from the config or bounded enums, never a path, a
 * key, a subject or an address.
 */
import type { Histogram } from './histogram.js'
import { addHistogram, counter, gauge, histogram, type MetricFamily } from './families.js'
import { METHOD_CLASSES, STATUS_CLASSES, type PolicyMeter, type WorkerMeter } from './meter.js'

/** What the JWKS source of one issuer reports; null for issuers with static keys. */
export interface IssuerReading {
  readonly issuer: string
  readonly fetches: number
  readonly failures: number
  /** Age of the keys in use, seconds; null before the first successful fetch. */
  readonly keysAgeSeconds: number | null
}

/** What one introspector (introspection/introspector.ts) reports. */
export interface IntrospectorReading {
  readonly introspector: string
  readonly hits: number
  readonly misses: number
  readonly calls: number
  readonly failures: number
  readonly breakerOpen: boolean
}

export interface WorkerReadings {
  readonly meter: WorkerMeter
  readonly tokenCache: { readonly hits: number; readonly misses: number }
  /** Signature checks by algorithm (stages/authenticate/jwt.ts). */
  readonly signatures: ReadonlyMap<string, Histogram>
  /** Rate-limit decisions by policy name (rate-limit/registry.ts), across reloads. */
  readonly policies: ReadonlyMap<string, PolicyMeter>
  issuers(): readonly IssuerReading[]
  /** One reading per introspector name. */
  introspectors(): readonly IntrospectorReading[]
  /** Open connections per upstream of the running generation. */
  upstreamConnections(): ReadonlyMap<string, number>
  /** The Redis reconciliation of rate-limit counters; null when it is off. */
  rateLimitSync(): { readonly failures: number; readonly lagSeconds: number } | null
  /** Live gossip members this worker hears, itself excluded; null when gossip is off. */
  gossipMembers(): number | null
}

export function collectWorkerMetrics(readings: WorkerReadings): MetricFamily[] {
  const { meter } = readings
  const requests = counter(
    'portcullis_requests_total',
    'Requests by route, method class and status class.',
  )
  const total = histogram(
    'portcullis_request_duration_seconds',
    'Whole request: from the request head to the last byte of the response.',
  )
  const gateway = histogram(
    'portcullis_gateway_duration_seconds',
    "Time in the gateway: the whole request less the upstream's time to its response head.",
  )
  const upstream = histogram(
    'portcullis_upstream_duration_seconds',
    'From the upstream request to its response head.',
  )
  for (const [route, m] of meter.routes) {
    // Meters are made when a route compiles; one that took no request yet has nothing to say.
    if (m.total.count === 0) continue
    const labels = { route }
    for (let mc = 0; mc < METHOD_CLASSES.length; mc++) {
      for (let sc = 0; sc < STATUS_CLASSES.length; sc++) {
        const value = m.requests[mc * STATUS_CLASSES.length + sc]!
        if (value === 0) continue
        requests.values.push({
          labels: { route, method: METHOD_CLASSES[mc]!, status_class: STATUS_CLASSES[sc]! },
          value,
        })
      }
    }
    addHistogram(total, labels, m.total)
    addHistogram(gateway, labels, m.gateway)
    if (m.upstream.count > 0) addHistogram(upstream, labels, m.upstream)
  }

  const decisions = counter(
    'portcullis_auth_decisions_total',
    "Authentication decisions by method, outcome and reason ('ok' when admitted).",
  )
  const authDuration = histogram(
    'portcullis_auth_duration_seconds',
    'Authentication decision time by method, cached credentials included.',
  )
  for (const [method, m] of meter.auth.methods) {
    if (m.duration.count === 0) continue
    if (m.admitted > 0)
      decisions.values.push({
        labels: { method, outcome: 'allow', reason: 'ok' },
        value: m.admitted,
      })
    for (const [reason, value] of m.refused)
      decisions.values.push({ labels: { method, outcome: 'deny', reason }, value })
    addHistogram(authDuration, { method }, m.duration)
  }
  const signatures = histogram(
    'portcullis_jwt_verify_duration_seconds',
    'JWT signature verification time by algorithm (tokens not answered from the cache).',
  )
  for (const [algorithm, h] of readings.signatures)
    addHistogram(signatures, { method: 'jwt', algorithm }, h)
  const cache = counter(
    'portcullis_token_cache_lookups_total',
    'Verified-token cache lookups by result (hit or miss).',
  )
  cache.values.push({ labels: { result: 'hit' }, value: readings.tokenCache.hits })
  cache.values.push({ labels: { result: 'miss' }, value: readings.tokenCache.misses })

  const limits = counter(
    'portcullis_rate_limit_decisions_total',
    'Rate-limit decisions by policy and outcome (admitted or limited).',
  )
  for (const [policy, m] of readings.policies) {
    limits.values.push({ labels: { policy, outcome: 'admitted' }, value: m.admitted })
    limits.values.push({ labels: { policy, outcome: 'limited' }, value: m.limited })
  }

  const upstreamFailures = counter(
    'portcullis_upstream_failures_total',
    'Upstream failures by upstream and kind (connect, timeout, busy).',
  )
  const retries = counter(
    'portcullis_upstream_retries_total',
    'Requests retried on another target.',
  )
  const ejections = counter(
    'portcullis_upstream_ejections_total',
    'Targets ejected after eject_after failures in a row.',
  )
  for (const [name, m] of meter.upstreams) {
    upstreamFailures.values.push({
      labels: { upstream: name, kind: 'connect' },
      value: m.connectFailures,
    })
    upstreamFailures.values.push({ labels: { upstream: name, kind: 'timeout' }, value: m.timeouts })
    upstreamFailures.values.push({ labels: { upstream: name, kind: 'busy' }, value: m.busy })
    retries.values.push({ labels: { upstream: name }, value: m.retries })
    ejections.values.push({ labels: { upstream: name }, value: m.ejections })
  }
  const connections = gauge(
    'portcullis_upstream_connections',
    'Upstream connections open (connecting, busy or idle) by upstream.',
  )
  for (const [name, open] of readings.upstreamConnections())
    connections.values.push({ labels: { upstream: name }, value: open })

  const jwksFetches = counter(
    'portcullis_jwks_refreshes_total',
    'JWKS fetches by issuer and result.',
  )
  const keysAge = gauge(
    'portcullis_jwks_keys_age_seconds',
    'Age of the JWKS keys in use by issuer (the oldest of the workers).',
    'max',
  )
  for (const reading of readings.issuers()) {
    const { issuer } = reading
    jwksFetches.values.push({
      labels: { issuer, result: 'ok' },
      value: reading.fetches - reading.failures,
    })
    jwksFetches.values.push({ labels: { issuer, result: 'failed' }, value: reading.failures })
    if (reading.keysAgeSeconds !== null)
      keysAge.values.push({ labels: { issuer }, value: reading.keysAgeSeconds })
  }

  const introspection = introspectionFamilies(readings.introspectors())

  const families = [
    requests,
    total,
    gateway,
    upstream,
    decisions,
    authDuration,
    signatures,
    cache,
    limits,
    upstreamFailures,
    retries,
    ejections,
    connections,
    jwksFetches,
    keysAge,
    ...introspection,
  ]
  const sync = readings.rateLimitSync()
  if (sync !== null) {
    const failures = counter(
      'portcullis_redis_sync_failures_total',
      'Rate-limit reconciliation rounds that could not reach Redis.',
    )
    failures.values.push({ labels: {}, value: sync.failures })
    const lag = gauge(
      'portcullis_redis_sync_lag_seconds',
      'Time since the last successful rate-limit reconciliation round (the most behind worker).',
      'max',
    )
    lag.values.push({ labels: {}, value: sync.lagSeconds })
    families.push(failures, lag)
  }
  const members = readings.gossipMembers()
  if (members !== null) {
    const seen = gauge(
      'portcullis_gossip_members',
      'Live gossip members a worker hears, itself excluded (the most of the workers).',
      'max',
    )
    seen.values.push({ labels: {}, value: members })
    families.push(seen)
  }
  return families
}

function introspectionFamilies(readings: readonly IntrospectorReading[]): MetricFamily[] {
  const lookups = counter(
    'portcullis_introspection_cache_lookups_total',
    'Introspection answer cache lookups by introspector and result (hit: a fresh answer).',
  )
  const calls = counter(
    'portcullis_introspection_calls_total',
    'Calls to the introspection endpoint by introspector and result (ok, failed).',
  )
  const breaker = gauge(
    'portcullis_introspection_breaker_open',
    "1 while the introspector's breaker holds calls back (in any worker), else 0.",
    'max',
  )
  for (const r of readings) {
    const introspector = r.introspector
    lookups.values.push({ labels: { introspector, result: 'hit' }, value: r.hits })
    lookups.values.push({ labels: { introspector, result: 'miss' }, value: r.misses })
    calls.values.push({ labels: { introspector, result: 'ok' }, value: r.calls - r.failures })
    calls.values.push({ labels: { introspector, result: 'failed' }, value: r.failures })
    breaker.values.push({ labels: { introspector }, value: r.breakerOpen ? 1 : 0 })
  }
  return [lookups, calls, breaker]
}
