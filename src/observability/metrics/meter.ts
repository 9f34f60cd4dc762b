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

/** One route's requests and durations. */
export class RouteMeter {
  /** By method class × status class. */
  readonly requests = new Float64Array(METHOD_CLASSES.length * STATUS_CLASSES.length)
  /** The whole exchange, from the head read to the last byte or the abort. */
  readonly total = new Histogram()
  /** The whole exchange less the upstream's time to its response head. */
  readonly gateway = new Histogram()
  /** From the upstream request's start to its response head; only exchanges that reached one. */
  readonly upstream = new Histogram()
}

/** Authentication decisions by method and reason ('ok' for an admitted credential). */
export class AuthMeter {
  readonly decisions = new Map<string, Map<string, number>>()
  /** Decision time by method, a cached token or key included. */
  readonly durations = new Map<string, Histogram>()

  record(method: string, reason: string, seconds: number): void {
    let reasons = this.decisions.get(method)
    if (reasons === undefined) {
      reasons = new Map()
      this.decisions.set(method, reasons)
    }
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
    let h = this.durations.get(method)
    if (h === undefined) {
      h = new Histogram()
      this.durations.set(method, h)
    }
    h.observe(seconds)
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

  /**
   * Counts an ended exchange. `upstreamMs` is -1 when no upstream request started; times are
   * performance.now() milliseconds.
   */
  recordExchange(
    route: string,
    method: string,
    status: number,
    totalMs: number,
    upstreamMs: number,
  ): void {
    const meter = this.routes.get(route) ?? this.route(route)
    meter.requests[methodClass(method) * STATUS_CLASSES.length + statusClass(status)]!++
    meter.total.observe(totalMs / 1000)
    if (upstreamMs >= 0) {
      meter.upstream.observe(upstreamMs / 1000)
      meter.gateway.observe(Math.max(0, totalMs - upstreamMs) / 1000)
    } else meter.gateway.observe(totalMs / 1000)
  }
}
