/**
 * The scenario contract. A scenario says what the gateway is configured with and which request
 * streams are measured; the harness owns processes, loaders, pinning and statistics.
 *
 * Later scenarios (`jwt-rs256`, `api-key`, `ratelimit`) differ only in what `prepare` returns: a
 * gateway config that turns the feature on, and targets whose `requests` carry the credentials
 * (one entry per token or key; every connection replays the list in order, wrapping around).
 */

/** One HTTP request of a target's stream. Everything is a plain string so it can be serialised to
 * the loader child, into autocannon's `requests` and into a wrk Lua script alike. */
export interface BenchRequest {
  readonly method: string
  /** Path and query, starting with `/`. */
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string
}

/** Where a target's load goes: straight at the bench upstream, or through the gateway. */
export type TargetVia = 'upstream' | 'gateway'

export interface ScenarioTarget {
  /** Column name in the report: `direct`, `passthrough`, `jwt-rs256`… Unique in a scenario. */
  readonly name: string
  readonly via: TargetVia
  /**
   * Replayed in order by every connection, wrapping around. One entry is a fixed request (the
   * loaders then build it once); a list rotates credentials without per-request JS in the loader.
   */
  readonly requests: readonly BenchRequest[]
  /** Statuses that count as success; anything else is an error in the report. Default `[200]`. */
  readonly acceptStatus?: readonly number[]
}

/** What the harness hands a scenario before a run. */
export interface ScenarioContext {
  /** `http://127.0.0.1:18090`: where the bench upstream listens. */
  readonly upstreamOrigin: string
  readonly gatewayHost: string
  readonly gatewayPort: number
  readonly statusPort: number
  /** A private temp dir, removed after the run: keys, JWKS files, token lists go here. */
  readonly workDir: string
}

export interface PreparedScenario {
  /** YAML text of the gateway config; the harness writes it to a temp file. */
  readonly gatewayConfig: string
  /**
   * Measured in this order, interleaved run by run. The first `upstream` target is the baseline:
   * every `gateway` target's ratios are taken against it.
   */
  readonly targets: readonly ScenarioTarget[]
}

export interface Scenario {
  readonly name: string
  /** One line for the report header. */
  readonly description: string
  prepare(ctx: ScenarioContext): Promise<PreparedScenario>
}
