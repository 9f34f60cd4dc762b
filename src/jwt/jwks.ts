/**
 * Where an issuer's keys come from: a JWKS endpoint kept warm in the background
 * (`JwksKeySource`), or a key file or secret loaded once (`StaticKeySource`). Both answer
 * `candidates()` from an index built at load, so the hot path neither waits nor allocates.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5 JWK Set
 * @see https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.1 Cache-Control max-age
 */
import type { Logger } from 'pino'
import { Agent, request } from 'undici'
import { parseDuration } from '../config/units.js'
import {
  formatKeyProblem,
  importJwks,
  importKeyFile,
  importSecret,
  type KeyLoad,
  type KeyProblem,
} from './keys.js'
import type { IssuerConfig } from './schema.js'
import {
  ASYMMETRIC_ALGORITHMS,
  HMAC_ALGORITHMS,
  type JwsAlgorithm,
  type KeySource,
  type VerificationKey,
} from './types.js'

/** A JWK Set of 100 RSA-4096 keys is under 100 KiB: a bigger body is cut off, not buffered. */
export const MAX_JWKS_BODY_BYTES = 1024 * 1024
/** First retry after a failed refresh; doubles per failure in a row, up to the `refresh` interval. */
const FIRST_RETRY_MS = 1000
/** Delays are shortened by up to this fraction, so the workers of a cluster do not fetch in step. */
const JITTER = 0.1
/** setTimeout's limit (2^31 - 1 ms, about 24.8 days); longer delays would fire at once. */
const MAX_TIMER_MS = 2_147_483_647

const EMPTY: readonly VerificationKey[] = Object.freeze([])

/** Keys of one load, indexed by kid and per algorithm; lookups return prebuilt arrays. */
class KeyIndex {
  /** Changes exactly when the keys (kid, material, algorithms) change: drives `generation`. */
  readonly fingerprint: string
  readonly size: number
  readonly #byKid = new Map<string, { key: VerificationKey; alone: readonly VerificationKey[] }>()
  readonly #byAlg = new Map<JwsAlgorithm, readonly VerificationKey[]>()
  readonly #kidlessByAlg = new Map<JwsAlgorithm, readonly VerificationKey[]>()

  constructor(keys: readonly VerificationKey[]) {
    const byAlg = new Map<JwsAlgorithm, VerificationKey[]>()
    const kidlessByAlg = new Map<JwsAlgorithm, VerificationKey[]>()
    for (const key of keys) {
      if (key.kid !== null) {
        if (this.#byKid.has(key.kid)) continue // importJwks leaves none; first wins otherwise
        this.#byKid.set(key.kid, { key, alone: Object.freeze([key]) })
      }
      for (const alg of key.algorithms) {
        append(byAlg, alg, key)
        if (key.kid === null) append(kidlessByAlg, alg, key)
      }
    }
    for (const [alg, list] of byAlg) this.#byAlg.set(alg, Object.freeze(list))
    for (const [alg, list] of kidlessByAlg) this.#kidlessByAlg.set(alg, Object.freeze(list))
    this.size = keys.length
    this.fingerprint = keys
      .map((key) => `${key.kid ?? ''} ${key.id} ${[...key.algorithms].sort().join(',')}`)
      .sort()
      .join('\n')
  }

  /**
   * A kid the index has → that key alone, if it verifies `alg`. A kid it does not have → the keys
   * without a kid (a PEM file, a secret: tokens often carry a kid their issuer's PEM cannot
   * name; trying them is no wider than a token leaving its kid out). No kid → every key for alg.
   */
  candidates(kid: string | null, alg: JwsAlgorithm): readonly VerificationKey[] {
    if (kid !== null) {
      const entry = this.#byKid.get(kid)
      if (entry !== undefined) return entry.key.algorithms.has(alg) ? entry.alone : EMPTY
      return this.#kidlessByAlg.get(alg) ?? EMPTY
    }
    return this.#byAlg.get(alg) ?? EMPTY
  }
}

function append<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}

/** Keys of a `keys:` file or a `secret:`, loaded once at config load. */
export class StaticKeySource implements KeySource {
  readonly generation: number = 1
  readonly usable: boolean
  readonly #index: KeyIndex

  constructor(keys: readonly VerificationKey[]) {
    this.#index = new KeyIndex(keys)
    this.usable = keys.length > 0
  }

  /** Loads the issuer's `keys` file or `secret`; every problem is meant for config load. */
  static fromIssuer(issuer: IssuerConfig): { source: StaticKeySource; problems: KeyProblem[] } {
    let load: KeyLoad
    if (issuer.keys !== undefined) load = importKeyFile(issuer.keys, issuer.algorithms)
    else if (issuer.secret !== undefined) load = importSecret(issuer.secret, issuer.algorithms)
    else load = { keys: [], problems: [{ reason: 'the issuer has no keys or secret', kid: null }] }
    const problems = [...load.problems]
    if (load.keys.length === 0 && problems.length === 0) {
      problems.push({ reason: `no usable key in ${issuer.keys ?? 'the secret'}`, kid: null })
    }
    return { source: new StaticKeySource(load.keys), problems }
  }

  candidates(kid: string | null, alg: JwsAlgorithm): readonly VerificationKey[] {
    return this.#index.candidates(kid, alg)
  }

  refreshForUnknownKid(): null {
    return null
  }

  start(): Promise<void> {
    return Promise.resolve()
  }

  close(): void {}
}

export interface JwksKeySourceOptions {
  /** Clock (ms since the epoch) for staleness and cooldown; Date.now by default. */
  readonly now?: () => number
  /** Largest body read from the endpoint; MAX_JWKS_BODY_BYTES by default. */
  readonly maxBodyBytes?: number
}

export interface JwksStats {
  /** Fetches started, successful or not. */
  fetches: number
  failures: number
  lastError: string | null
  /** When the last fetch that brought usable keys ended (the `now` clock). */
  lastSuccessAt: number | null
  /** When the next background refresh is due; null while one runs and after close(). */
  nextRefreshAt: number | null
}

/** A refusal of the endpoint's answer (status, size, content): logged as a reason, no stack. */
class JwksRefusal extends Error {}

/**
 * The keys of a `jwks_uri`, refreshed in the background: at the response's Cache-Control max-age
 * bounded by `min_refresh`/`max_refresh` (`refresh` without one), after a failure with backoff
 * (1 s doubling up to `refresh`), and on demand for an unknown kid (single flight, at most once
 * per `cooldown`). A failed refresh keeps the last good keys for `stale_for` after their fetch.
 * Redirects are not followed: a 3xx is a failure like any status other than 200.
 */
export class JwksKeySource implements KeySource {
  readonly #stats: JwksStats = {
    fetches: 0,
    failures: 0,
    lastError: null,
    lastSuccessAt: null,
    nextRefreshAt: null,
  }
  readonly #uri: string
  readonly #fields: { issuer: string; jwks_uri: string }
  readonly #algorithms: readonly JwsAlgorithm[]
  readonly #logger: Logger
  readonly #now: () => number
  readonly #maxBodyBytes: number
  readonly #timeoutMs: number
  readonly #refreshMs: number
  readonly #minRefreshMs: number
  readonly #maxRefreshMs: number
  readonly #cooldownMs: number
  readonly #staleForMs: number
  readonly #agent: Agent
  #index = new KeyIndex([])
  #generation = 0
  #started: Promise<void> | null = null
  #inFlight: Promise<void> | null = null
  #abort: AbortController | null = null
  #timer: NodeJS.Timeout | null = null
  #lastUnknownKidRefreshAt = -Infinity
  #failuresInRow = 0
  #loggedProblems = ''
  #loggedExpiry = false
  #closed = false

  constructor(issuer: IssuerConfig, logger: Logger, options: JwksKeySourceOptions = {}) {
    if (issuer.jwks_uri === undefined) throw new TypeError(`issuer ${issuer.name} has no jwks_uri`)
    this.#uri = issuer.jwks_uri
    this.#fields = { issuer: issuer.name, jwks_uri: issuer.jwks_uri }
    this.#algorithms = issuer.algorithms
    this.#logger = logger
    this.#now = options.now ?? Date.now
    this.#maxBodyBytes = options.maxBodyBytes ?? MAX_JWKS_BODY_BYTES
    this.#timeoutMs = parseDuration(issuer.jwks.timeout)
    this.#refreshMs = parseDuration(issuer.jwks.refresh)
    this.#minRefreshMs = parseDuration(issuer.jwks.min_refresh)
    this.#maxRefreshMs = parseDuration(issuer.jwks.max_refresh)
    this.#cooldownMs = parseDuration(issuer.jwks.cooldown)
    this.#staleForMs = parseDuration(issuer.jwks.stale_for)
    // The fetch's own deadline (#attempt) bounds headers and body; the connect timeout names
    // the stage that failed when the host does not answer at all.
    this.#agent = new Agent({ connect: { timeout: this.#timeoutMs } })
  }

  /** Counters for metrics and the admin API; updated in place. */
  get stats(): Readonly<JwksStats> {
    return this.#stats
  }

  get generation(): number {
    return this.#generation
  }

  get usable(): boolean {
    const at = this.#stats.lastSuccessAt
    return at !== null && this.#now() - at < this.#staleForMs
  }

  candidates(kid: string | null, alg: JwsAlgorithm): readonly VerificationKey[] {
    return this.usable ? this.#index.candidates(kid, alg) : EMPTY
  }

  start(): Promise<void> {
    this.#started ??= this.#refresh()
    return this.#started
  }

  refreshForUnknownKid(): Promise<void> | null {
    if (this.#closed) return null
    if (this.#inFlight !== null) return this.#inFlight
    const now = this.#now()
    if (now - this.#lastUnknownKidRefreshAt < this.#cooldownMs) return null
    this.#lastUnknownKidRefreshAt = now
    return this.#refresh()
  }

  close(): void {
    this.#closed = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#stats.nextRefreshAt = null
    this.#abort?.abort(new Error('key source closed'))
    this.#agent.destroy().catch(() => undefined)
  }

  /** One refresh at a time: callers during a fetch share it. Never rejects. */
  #refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    if (this.#inFlight === null) {
      this.#inFlight = this.#attempt().finally(() => {
        this.#inFlight = null
      })
    }
    return this.#inFlight
  }

  async #attempt(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#stats.nextRefreshAt = null
    const abort = new AbortController()
    this.#abort = abort
    // One deadline from connect to the last body byte, whatever stage the fetch is in.
    const deadline = setTimeout(
      () => abort.abort(new JwksRefusal(`no complete answer within ${this.#timeoutMs} ms`)),
      this.#timeoutMs,
    )
    this.#stats.fetches++
    try {
      const { load, maxAgeMs } = await this.#fetch(abort.signal)
      if (!this.#closed) this.#succeed(load, maxAgeMs)
    } catch (error) {
      if (!this.#closed) this.#fail(abort.signal.aborted ? abort.signal.reason : error)
    } finally {
      clearTimeout(deadline)
      this.#abort = null
    }
  }

  async #fetch(signal: AbortSignal): Promise<{ load: KeyLoad; maxAgeMs: number | null }> {
    const { statusCode, headers, body } = await request(this.#uri, {
      method: 'GET',
      dispatcher: this.#agent,
      signal,
      headers: { accept: 'application/jwk-set+json, application/json' },
    })
    // Destroying an unfinished body emits an error: with no listener it would end the process.
    body.on('error', () => undefined)
    const chunks: Buffer[] = []
    try {
      if (statusCode !== 200) throw new JwksRefusal(`status ${statusCode}, 200 expected`)
      const declared = Number(headers['content-length'])
      if (declared > this.#maxBodyBytes) {
        throw new JwksRefusal(`body of ${declared} bytes exceeds ${this.#maxBodyBytes}`)
      }
      let size = 0
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length
        // Stop reading here: the rest is never buffered (the finally closes the connection).
        if (size > this.#maxBodyBytes)
          throw new JwksRefusal(`body exceeds ${this.#maxBodyBytes} bytes`)
        chunks.push(chunk)
      }
    } finally {
      body.destroy()
    }
    let json: unknown
    try {
      json = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      throw new JwksRefusal('body is not JSON')
    }
    const load = importJwks(json, this.#algorithms)
    if (load.keys.length === 0) {
      const reasons = load.problems.slice(0, 3).map(formatKeyProblem)
      throw new JwksRefusal(
        `no usable key in the answer (${reasons.join('; ') || 'the set is empty'})`,
      )
    }
    return { load, maxAgeMs: maxAge(headers) }
  }

  #succeed(load: KeyLoad, maxAgeMs: number | null): void {
    this.#stats.lastSuccessAt = this.#now()
    this.#failuresInRow = 0
    this.#loggedExpiry = false
    const index = new KeyIndex(load.keys)
    if (index.fingerprint !== this.#index.fingerprint) {
      this.#index = index
      this.#generation++
      this.#logger.info(
        { ...this.#fields, keys: index.size, generation: this.#generation },
        'jwks keys loaded',
      )
    }
    // Keys a provider publishes for other uses (use=enc…) come back at every refresh: once is enough.
    const problems = load.problems.map(formatKeyProblem)
    if (problems.join('\n') !== this.#loggedProblems) {
      this.#loggedProblems = problems.join('\n')
      if (problems.length > 0) this.#logger.warn({ ...this.#fields, problems }, 'jwks keys skipped')
    }
    const delay =
      maxAgeMs === null
        ? this.#refreshMs
        : Math.min(Math.max(maxAgeMs, this.#minRefreshMs), this.#maxRefreshMs)
    this.#schedule(delay)
  }

  #fail(error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error)
    this.#stats.failures++
    this.#stats.lastError = reason
    this.#failuresInRow++
    if (error instanceof JwksRefusal)
      this.#logger.warn({ ...this.#fields, reason }, 'jwks refresh failed')
    else this.#logger.warn({ ...this.#fields, reason, err: error }, 'jwks refresh failed')
    if (this.#stats.lastSuccessAt !== null && !this.usable && !this.#loggedExpiry) {
      this.#loggedExpiry = true
      this.#logger.error(
        { ...this.#fields, last_success_at: new Date(this.#stats.lastSuccessAt).toISOString() },
        'jwks keys expired: no successful refresh within stale_for, tokens of this issuer are refused',
      )
    }
    const backoff = FIRST_RETRY_MS * 2 ** Math.min(this.#failuresInRow - 1, 30)
    this.#schedule(Math.min(backoff, this.#refreshMs))
  }

  #schedule(ms: number): void {
    if (this.#closed) return
    if (this.#timer !== null) clearTimeout(this.#timer)
    const delay = Math.min(Math.round(ms * (1 - JITTER * Math.random())), MAX_TIMER_MS)
    this.#stats.nextRefreshAt = this.#now() + delay
    this.#timer = setTimeout(() => {
      this.#timer = null
      void this.#refresh()
    }, delay)
    // A key source never keeps the process alive: shutdown does not wait for the next refresh.
    this.#timer.unref()
  }
}

/**
 * RFC 9111 §5.2.2.1 max-age minus the Age header (§5.1), in ms; `no-store`/`no-cache` count as 0
 * (the bounds turn that into `min_refresh`). null when the response says nothing.
 */
function maxAge(headers: Record<string, string | string[] | undefined>): number | null {
  const value = headers['cache-control']
  const text = Array.isArray(value) ? value.join(',') : value
  if (text === undefined) return null
  if (/(?:^|,)\s*no-(?:store|cache)\s*(?:[,=]|$)/i.test(text)) return 0
  const match = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?\s*(?:,|$)/i.exec(text)
  if (match === null) return null
  const age = Number(headers.age)
  const seconds = Number(match[1]) - (Number.isFinite(age) && age > 0 ? age : 0)
  return Math.max(seconds, 0) * 1000
}

/**
 * The key source of an issuer: JWKS, file or secret. `problems` are for config load (each about
 * the issuer's `jwks_uri`, `keys` or `secret`, whichever it has, or its `algorithms`); a source
 * is returned even then, and one without keys is not usable.
 */
export function createKeySource(
  issuer: IssuerConfig,
  logger: Logger,
): { source: KeySource; problems: string[] } {
  const given = [issuer.jwks_uri, issuer.keys, issuer.secret].filter((v) => v !== undefined)
  if (given.length !== 1) {
    const problem = 'exactly one of jwks_uri, keys and secret is required'
    return { source: new StaticKeySource([]), problems: [problem] }
  }
  // RFC 8725 §2.1, §3.1: an HMAC secret and a public key never verify each other's algorithms.
  const problems: string[] = []
  const secret = issuer.secret !== undefined
  const foreign: readonly JwsAlgorithm[] = secret ? ASYMMETRIC_ALGORITHMS : HMAC_ALGORITHMS
  for (const alg of issuer.algorithms.filter((a) => foreign.includes(a))) {
    problems.push(
      secret
        ? `algorithm ${alg} cannot be verified with a secret: use jwks_uri or keys`
        : `algorithm ${alg} needs a secret: a public key never verifies an HMAC token`,
    )
  }
  if (issuer.jwks_uri !== undefined) {
    return { source: new JwksKeySource(issuer, logger), problems }
  }
  const { source, problems: loaded } = StaticKeySource.fromIssuer(issuer)
  return { source, problems: [...problems, ...loaded.map(formatKeyProblem)] }
}
