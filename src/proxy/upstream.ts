/**
 * An upstream: named targets, one keep-alive pool each, chosen round-robin. A target that
 * fails `eject_after` times in a row (connection errors, timeouts) is skipped for `eject_for`
 * (passive health checking, as nginx max_fails/fail_timeout).
 *
 * A pool is the gateway's own HTTP/1.1 client (h1/pool.ts) for `http://` targets with
 * `transport: native` (the default), undici's Pool otherwise. Both implement undici's Dispatcher
 * contract, so forward.ts does not know which one it talks to. WebSocket handshakes always go
 * through an undici Pool (`upgradePool`), created the first time a handshake needs it.
 */
import { Pool } from 'undici'
import { parseDuration } from '../config/units.js'
import { UpstreamMeter } from '../observability/metrics/meter.js'
import { H1Pool } from './h1/pool.js'
import type { UpstreamSockets } from './h1/socket-choice.js'
import { QueueBoundPool } from './queue-bound.js'
import type { UpstreamConfig } from './schema.js'
import type { Transport } from './transport.js'

export type { Transport }

export class Target {
  readonly origin: string
  /** Path prefix of the target URL without trailing slash ('' when none). */
  readonly basePath: string
  /** host[:port] to send as Host. */
  readonly hostHeader: string
  /** The transport of ordinary requests. */
  readonly pool: Transport
  consecutiveFailures = 0
  ejectedUntil = 0
  readonly #pools: TargetPools

  constructor(url: URL, pools: TargetPools) {
    this.origin = url.origin
    this.basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '')
    this.hostHeader = url.host
    this.pool = pools.pool
    this.#pools = pools
  }

  /** An undici Pool to the same origin, for requests with `upgrade` (WebSocket handshakes). */
  get upgradePool(): Transport {
    return this.#pools.upgradePool()
  }
}

/** The pools of one origin and option set, shared by every Target on them across reloads. */
export class TargetPools {
  readonly pool: Transport
  readonly #origin: string
  readonly #config: UpstreamConfig
  #upgrade: Pool | null

  constructor(origin: string, config: UpstreamConfig, sockets: UpstreamSockets) {
    this.#origin = origin
    this.#config = config
    if (config.transport === 'native' && origin.startsWith('http:')) {
      this.pool = new H1Pool(origin, sockets, {
        connections: config.connections,
        keepAliveTimeout: parseDuration(config.keepalive_timeout),
        connect: { timeout: parseDuration(config.connect_timeout) },
        queueTimeout: parseDuration(config.queue_timeout),
      })
      this.#upgrade = null
    } else {
      // Handshakes share the Pool, outside the queue bound: a tunnel is not a queued request.
      this.#upgrade = undiciPool(origin, config)
      const queueTimeout = parseDuration(config.queue_timeout)
      this.pool =
        queueTimeout > 0
          ? new QueueBoundPool(this.#upgrade, queueTimeout, config.connections)
          : this.#upgrade
    }
  }

  upgradePool(): Pool {
    this.#upgrade ??= undiciPool(this.#origin, this.#config)
    return this.#upgrade
  }

  async close(): Promise<void> {
    const upgrade = this.#upgrade
    await Promise.allSettled([
      this.pool.close(),
      // (A QueueBoundPool closes the Pool it wraps too: undici takes a second close() calmly.)
      upgrade !== null && upgrade !== this.pool ? upgrade.close() : undefined,
    ])
  }
}

function undiciPool(origin: string, config: UpstreamConfig): Pool {
  return new Pool(origin, {
    connections: config.connections,
    pipelining: 1,
    keepAliveTimeout: parseDuration(config.keepalive_timeout),
    connect: { timeout: parseDuration(config.connect_timeout) },
    // The gateway validates and forwards bodies as they come; a response larger than any
    // fixed cap must still stream, so undici's own limit stays off.
    maxResponseSize: -1,
  })
}

export interface UpstreamTimings {
  readonly headersTimeoutMs: number
  readonly bodyTimeoutMs: number
  readonly retries: number
  readonly ejectAfter: number
  readonly ejectForMs: number
  readonly preserveHost: boolean
}

export class Upstream implements UpstreamTimings {
  readonly name: string
  readonly targets: readonly Target[]
  readonly headersTimeoutMs: number
  readonly bodyTimeoutMs: number
  readonly retries: number
  readonly ejectAfter: number
  readonly ejectForMs: number
  readonly preserveHost: boolean
  /** Failures, retries and ejections under this upstream's name, across reloads (/metrics). */
  readonly meter: UpstreamMeter
  #next = 0

  constructor(
    name: string,
    config: UpstreamConfig,
    pools: PoolCache,
    meter: UpstreamMeter = new UpstreamMeter(),
  ) {
    this.name = name
    this.meter = meter
    this.headersTimeoutMs = parseDuration(config.timeout)
    this.bodyTimeoutMs = parseDuration(config.body_timeout)
    this.retries = config.retries
    this.ejectAfter = config.eject_after
    this.ejectForMs = parseDuration(config.eject_for)
    this.preserveHost = config.preserve_host
    this.targets = config.targets.map((t) => {
      const url = new URL(t)
      return new Target(url, pools.get(url.origin, config))
    })
  }

  /** Next healthy target round-robin; when all are ejected, the one whose ejection ends first. */
  pick(now: number, exclude: Target | null): Target {
    const targets = this.targets
    const n = targets.length
    if (n === 1) return targets[0]!
    let fallback = targets[0]!
    for (let i = 0; i < n; i++) {
      const t = targets[this.#next]!
      this.#next = (this.#next + 1) % n
      if (t.ejectedUntil <= now && t !== exclude) return t
      if (t.ejectedUntil < fallback.ejectedUntil) fallback = t
    }
    return fallback
  }

  recordSuccess(target: Target): void {
    target.consecutiveFailures = 0
    target.ejectedUntil = 0
  }

  recordFailure(target: Target, now: number): boolean {
    if (++target.consecutiveFailures >= this.ejectAfter) {
      target.ejectedUntil = now + this.ejectForMs
      target.consecutiveFailures = 0
      this.meter.ejections++
      return true
    }
    return false
  }
}

/**
 * Pools outlive a reload when their origin and options are unchanged, so a reload keeps warm
 * keep-alive connections and never cuts a request in flight; pools no config uses any more are
 * closed gracefully (undici lets their in-flight requests finish).
 */
export class PoolCache {
  /** The serving process's upstream sockets, which the native transport's pools open on. */
  readonly #sockets: UpstreamSockets
  #pools = new Map<string, TargetPools>()
  #used = new Set<string>()

  constructor(sockets: UpstreamSockets) {
    this.#sockets = sockets
  }

  get(origin: string, config: UpstreamConfig): TargetPools {
    const key = `${origin}|${config.transport}|${config.connections}|${config.connect_timeout}|${config.keepalive_timeout}|${config.queue_timeout}`
    this.#used.add(key)
    let pools = this.#pools.get(key)
    if (pools === undefined) {
      pools = new TargetPools(origin, config, this.#sockets)
      this.#pools.set(key, pools)
    }
    return pools
  }

  /** Starts a new generation: pools not requested again before `sweep` get closed. */
  beginGeneration(): void {
    this.#used = new Set()
  }

  sweep(): void {
    for (const [key, pool] of this.#pools) {
      if (!this.#used.has(key)) {
        this.#pools.delete(key)
        void pool.close().catch(() => undefined)
      }
    }
  }

  async closeAll(): Promise<void> {
    const pools = [...this.#pools.values()]
    this.#pools.clear()
    await Promise.allSettled(pools.map((p) => p.close()))
  }
}
