/**
 * The scenario contract. A scenario says what the gateway is configured with and which request
 * streams are measured; the harness owns processes, loaders, pinning and statistics.
 *
 * Scenarios differ only in what `prepare` returns: a portcullis config that turns the feature on,
 * and targets whose `requests` carry the credentials (one entry per token or key; the loaders
 * replay the list in order, wrapping around). A target that other gateways can serve too says what
 * they must do in `work`; `--peers` then measures it on every peer that supports that work
 * (bench/peers/).
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
   * Replayed in order, wrapping around: wrk (per thread) and the paced loader take the next entry
   * for each request whatever its connection, autocannon runs the list on each connection from the
   * start. One entry is a fixed request (the loaders then build it once); a list rotates
   * credentials without per-request JS in the loader.
   */
  readonly requests: readonly BenchRequest[]
  /** Statuses that count as success; anything else is an error in the report. Default `[200]`. */
  readonly acceptStatus?: readonly number[]
  /**
   * For a `gateway` target: what any gateway must do to serve it, in words each peer turns into
   * its own config. Without it the target is portcullis-only (e.g. a transport comparison) and
   * `--peers` leaves it out.
   */
  readonly work?: GatewayWork
  /**
   * A portcullis config for this target alone (e.g. its token cache off); the harness starts a
   * portcullis of its own for it. Default: the scenario's `gatewayConfig`.
   */
  readonly gatewayConfig?: GatewayConfig
  /**
   * The name of another gateway target this one is priced against (the same gateway without a
   * feature): the report adds their gateway CPU per request ratio, run by run.
   */
  readonly pricedAgainst?: string
  /** Served over TLS: loaders connect with https and these settings. Default: plain HTTP. */
  readonly tls?: TargetTls
  /**
   * `requests` (default): keep-alive requests, measured in the saturation and fixed-rate phases.
   * `handshakes`: new TLS connections, each a full handshake and no request (the `handshakes`
   * phase); needs `tls`.
   */
  readonly load?: 'requests' | 'handshakes'
}

/** How a loader connects to a TLS target. */
export interface TargetTls {
  /** PEM file of the CA the server certificate chains to. */
  readonly caFile: string
  /** The name sent in SNI, one the server certificate is valid for. */
  readonly servername: string
  /** mTLS: the certificate and key (PEM files) every connection presents. */
  readonly client?: { readonly certFile: string; readonly keyFile: string }
}

/** Where one gateway instance listens. Every instance of a run has ports of its own. */
export interface Listen {
  readonly host: string
  readonly port: number
  /** portcullis's status listener; other gateways ignore it. */
  readonly statusPort: number
}

/** A portcullis config (YAML text) for an instance listening at `at`. */
export type GatewayConfig = (at: Listen) => string

/**
 * What a gateway does with a target's requests. Every kind forwards `/*` to the bench upstream
 * with keep-alive; later kinds (`api-key`, `ratelimit`) join this union, and the compiler then
 * points at every peer that has to say whether and how it does them.
 */
export type GatewayWork = ProxyWork | JwtWork | TlsWork

/** Forward and nothing else. */
export interface ProxyWork {
  readonly kind: 'proxy'
}

/**
 * Terminate TLS (1.2 or 1.3, keep-alive), then forward. With `clientCaFile`, every connection must
 * present a certificate of that CA, verified in the handshake (mutual TLS).
 */
export interface TlsWork {
  readonly kind: 'tls'
  /** Absolute paths in the run's temp dir: the server certificate (PEM chain) and its key. */
  readonly certFile: string
  readonly keyFile: string
  readonly clientCaFile?: string
}

/** Verify a bearer JWT (signature, iss, aud, exp), then forward; 401 otherwise. */
export interface JwtWork {
  readonly kind: 'jwt'
  readonly alg: 'RS256' | 'ES256' | 'EdDSA'
  /** Absolute paths in the run's temp dir: SPKI PEM, and a JWKS with the same key and its kid. */
  readonly publicKeyFile: string
  readonly jwksFile: string
  readonly issuer: string
  readonly audience: string
  /**
   * true: a gateway that can keep verified tokens uses that cache (one token repeated is then a
   * cache hit). false: it must not, so every request pays a signature check.
   */
  readonly cache: boolean
}

/** What the harness hands a scenario before a run. */
export interface ScenarioContext {
  /** `http://127.0.0.1:18090`: where the bench upstream listens. */
  readonly upstreamOrigin: string
  /** A private temp dir of this scenario, removed after the run: keys, JWKS files go here. */
  readonly workDir: string
}

export interface PreparedScenario {
  /** The portcullis config of the scenario's gateway targets; the harness writes it to a file. */
  readonly gatewayConfig: GatewayConfig
  /**
   * Measured in this order, interleaved run by run. The first `upstream` target is the baseline:
   * every `gateway` target's ratios are taken against it.
   */
  readonly targets: readonly ScenarioTarget[]
  /** The scenario's targets as ratios of two subjects' CPU, checked in every phase both ran. */
  readonly checks?: readonly RatioCheck[]
}

/** A subject of a check: a target through a gateway (default `portcullis`). */
export interface CheckSubject {
  readonly target: string
  readonly peer?: string
}

/**
 * One target of a scenario, e.g. "keep-alive TLS at most 1.25× plain passthrough's CPU per
 * request": `subject`'s gateway CPU per request (or handshake) against `baseline`'s.
 */
export interface RatioCheck {
  readonly label: string
  readonly subject: CheckSubject
  readonly baseline: CheckSubject
  /**
   * `cpu`: subject µs ÷ baseline µs (lower is better, `max` bounds it). `per-core`: what one core
   * serves, subject ÷ baseline = baseline µs ÷ subject µs (higher is better, `min` bounds it).
   */
  readonly figure: 'cpu' | 'per-core'
  /** Omitted: shown for reference, no target. */
  readonly max?: number
  readonly min?: number
}

export interface Scenario {
  readonly name: string
  /** One line for the report header. */
  readonly description: string
  /** false: portcullis-only, left out of the scenarios `--peers` runs by default. */
  readonly peers?: boolean
  prepare(ctx: ScenarioContext): Promise<PreparedScenario>
}
