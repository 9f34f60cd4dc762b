/**
 * An upstream: named targets, one keep-alive undici Pool each, chosen round-robin. A target that
 * fails `eject_after` times in a row (connection errors, timeouts) is skipped for `eject_for`
 * (passive health checking, as nginx max_fails/fail_timeout).
 */
import { Pool } from 'undici'
import { parseDuration } from '../config/units.js'
import type { UpstreamConfig } from './schema.js'

export class Target {
  readonly origin: string
  /** Path prefix of the target URL without trailing slash ('' when none). */
  readonly basePath: string
  /** host[:port] to send as Host. */
  readonly hostHeader: string
  readonly pool: Pool
  consecutiveFailures = 0
  ejectedUntil = 0

  constructor(url: URL, pool: Pool) {
    this.origin = url.origin
    this.basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '')
    this.hostHeader = url.host
    this.pool = pool
  }
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
  #next = 0

  constructor(name: string, config: UpstreamConfig, pools: PoolCache) {
    this.name = name
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
  #pools = new Map<string, Pool>()
  #used = new Set<string>()

  get(origin: string, config: UpstreamConfig): Pool {
    const key = `${origin}|${config.connections}|${config.connect_timeout}|${config.keepalive_timeout}`
    this.#used.add(key)
    let pool = this.#pools.get(key)
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: config.connections,
        pipelining: 1,
        keepAliveTimeout: parseDuration(config.keepalive_timeout),
        connect: { timeout: parseDuration(config.connect_timeout) },
        // The gateway validates and forwards bodies as they come; a response larger than any
        // fixed cap must still stream, so undici's own limit stays off.
        maxResponseSize: -1,
      })
      this.#pools.set(key, pool)
    }
    return pool
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
