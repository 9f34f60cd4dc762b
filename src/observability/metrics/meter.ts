/**
 * The worker's request counters: plain numbers the request path increments (no label lookup in
 * prom-client, no allocation for a known route), folded into metric families when /metrics is
 * scraped (worker-metrics.ts). Owned by the serving process and kept across reloads, so counters
 * only ever grow.
 */
import { Histogram } from './histogram.js'

/** Method classes, a bounded label: the methods of RFC 9110 §9.3 an API uses, and the rest. */
export const METHOD_CLASSES = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'other']
/** Status classes; `none` for an exchange that ended before a status was written. */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'none']
/** The route label of requests no route took (404, 405, a malformed head). */
export const NO_ROUTE = '(none)'

export function methodClass(method: string): number {
  switch (method) {
    case 'GET':
      return 0
    case 'HEAD':
      return 1
    case 'POST':
      return 2
    case 'PUT':
      return 3
    case 'PATCH':
      return 4
    case 'DELETE':
      return 5
    case 'OPTIONS':
      return 6
    default:
      return 7
  }
}

export function statusClass(status: number): number {
  const hundreds = (status / 100) | 0
  return hundreds >= 1 && hundreds <= 5 ? hundreds - 1 : 5
}

/** One route's requests and durations; the compiled route holds it, so counting looks nothing up. */
export class RouteMeter {
  /** By method class × status class. */
  readonly requests = new Float64Array(METHOD_CLASSES.length * STATUS_CLASSES.length)
  /** The whole exchange, from the head read to the last byte or the abort. */
  readonly total = new Histogram()
  /** The whole exchange less the upstream's time to its response head. */
  readonly gateway = new Histogram()
  /** From the upstream request's start to its response head; only exchanges that reached one. */
  readonly upstream = new Histogram()

  /**
   * Counts an ended exchange. `upstreamMs` is -1 when no upstream request started; times are
   * performance.now() milliseconds.
   */
  record(method: string, status: number, totalMs: number, upstreamMs: number): void {
    this.requests[methodClass(method) * STATUS_CLASSES.length + statusClass(status)]!++
    const total = totalMs / 1000
    this.total.observe(total)
    if (upstreamMs >= 0) {
      const upstream = upstreamMs / 1000
      this.upstream.observe(upstream)
      this.gateway.observe(total > upstream ? total - upstream : 0)
    } else this.gateway.observe(total)
  }
}

/** One authentication method's decisions ('any'/'all' for a refusal no single method made). */
export class AuthMethodMeter {
  admitted = 0
  /** Refusals by reason, a bounded code. */
  readonly refused = new Map<string, number>()
  /** Decision time, a cached token or key included. */
  readonly duration = new Histogram()

  admit(seconds: number): void {
    this.admitted++
    this.duration.observe(seconds)
  }

  refuse(reason: string, seconds: number): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1)
    this.duration.observe(seconds)
  }
}

/** Authentication decisions by method; each route's stage holds the meters of its methods. */
export class AuthMeter {
  readonly methods = new Map<string, AuthMethodMeter>()

  method(name: string): AuthMethodMeter {
    return meterOf(this.methods, name, () => new AuthMethodMeter())
  }
}

/** One upstream's failures as forward.ts classifies them (proxy/upstream-errors.ts). */
export class UpstreamMeter {
  connectFailures = 0
  timeouts = 0
  retries = 0
  ejections = 0
  /** No free connection within queue_timeout. */
  busy = 0
}

/** One rate-limit policy's decisions. */
export class PolicyMeter {
  admitted = 0
  limited = 0
}

/** Returns the meter of `name`, creating it the first time. */
export function meterOf<M>(map: Map<string, M>, name: string, create: () => M): M {
  let meter = map.get(name)
  if (meter === undefined) {
    meter = create()
    map.set(name, meter)
  }
  return meter
}

export class WorkerMeter {
  readonly routes = new Map<string, RouteMeter>()
  readonly auth = new AuthMeter()
  readonly upstreams = new Map<string, UpstreamMeter>()

  route(name: string): RouteMeter {
    return meterOf(this.routes, name, () => new RouteMeter())
  }

  upstream(name: string): UpstreamMeter {
    return meterOf(this.upstreams, name, () => new UpstreamMeter())
  }
}
