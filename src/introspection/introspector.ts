/**
 * One introspection endpoint as a worker uses it: answers cached by a hash of the token (never
 * the token), one call in flight per uncached token (single flight), a circuit breaker in front
 * of the endpoint, and stale active answers when it fails (`stale_for`).
 *
 * A cached answer is returned synchronously: a warm token creates no promise. An active answer
 * is fresh until the earliest of its `exp`, `cache_ttl` and {@link MAX_CACHE_TTL_MS}; an inactive
 * one, or a failed call, for `negative_ttl`. Past fresh, the endpoint is asked again and the
 * request waits for it, so a token revoked at the server is refused at most `cache_ttl` after.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-4 caching and its trade-off
 */
import type { Logger } from 'pino'
import { TokenCache } from '../jwt/cache.js'
import { judgeAnswer, refused, type Answer, type AnswerPolicy } from './answer.js'
import { CircuitBreaker } from './breaker.js'

/**
 * No answer is trusted longer than this, whatever cache_ttl says: a revocation is seen within
 * the hour even on a config that asked for longer.
 */
export const MAX_CACHE_TTL_MS = 60 * 60_000
/** Tokens longer than this are refused unsent: no authorization server issues them. */
export const MAX_TOKEN_BYTES = 8192

/** The call an introspector makes: the parsed body of the endpoint's answer, or a rejection. */
export interface IntrospectionCall {
  call(token: string): Promise<unknown>
  close(): void
}

export interface IntrospectorSettings {
  readonly policy: AnswerPolicy
  readonly cacheTtlMs: number
  readonly negativeTtlMs: number
  readonly staleForMs: number
  readonly cacheSize: number
  readonly breakerFailures: number
  readonly breakerCooldownMs: number
}

interface CachedAnswer {
  readonly answer: Answer
  /** Until then the answer is used without a call. */
  readonly freshUntilMs: number
  /** Until then an active answer stands in when a new call fails; its cache expiry. */
  readonly staleUntilMs: number
}

const UNAVAILABLE = refused('unavailable')
const TOO_LARGE = refused('too_large')

export class Introspector {
  readonly name: string
  /**
   * Seconds a 503 asks the client to wait: until the breaker may call again and the failure is
   * no longer remembered (negative_ttl), whichever is later.
   */
  readonly retryAfterSeconds: number
  /** Whether its answers can name a consumer (consumer_claim). */
  readonly namesConsumers: boolean
  /**
   * For /metrics: lookups a fresh cached answer served (hits) or not (misses), and calls to the
   * endpoint by result.
   */
  readonly stats = { hits: 0, misses: 0, calls: 0, failures: 0 }
  readonly #settings: IntrospectorSettings
  readonly #endpoint: IntrospectionCall
  readonly #cache: TokenCache<CachedAnswer>
  readonly #inFlight = new Map<string, Promise<Answer>>()
  readonly #breaker: CircuitBreaker
  readonly #logger: Logger
  readonly #now: () => number

  constructor(
    settings: IntrospectorSettings,
    endpoint: IntrospectionCall,
    logger: Logger,
    now: () => number = Date.now,
  ) {
    this.name = settings.policy.name
    this.retryAfterSeconds = Math.max(
      1,
      Math.ceil(Math.max(settings.breakerCooldownMs, settings.negativeTtlMs) / 1000),
    )
    this.namesConsumers = settings.policy.consumerClaim !== null
    this.#settings = settings
    this.#endpoint = endpoint
    this.#cache = new TokenCache<CachedAnswer>(settings.cacheSize)
    this.#breaker = new CircuitBreaker(settings.breakerFailures, settings.breakerCooldownMs)
    this.#logger = logger
    this.#now = now
  }

  /** Answers held, expired ones not yet dropped included. */
  get cached(): number {
    return this.#cache.size
  }

  /** Whether the breaker keeps calls from the endpoint (open, or half-open awaiting its probe). */
  get breakerOpen(): boolean {
    return this.#breaker.isOpen
  }

  /** Calls waiting for the endpoint. */
  get inFlight(): number {
    return this.#inFlight.size
  }

  /** The answer for `token`: synchronous when a fresh one is cached or the breaker is open. */
  introspect(token: string): Answer | Promise<Answer> {
    if (token.length > MAX_TOKEN_BYTES) return TOO_LARGE
    const key = this.#cache.keyOf(token)
    const now = this.#now()
    const cached = this.#cache.get(key, now)
    if (cached !== undefined && now < cached.freshUntilMs) {
      this.stats.hits++
      return cached.answer
    }
    this.stats.misses++
    const pending = this.#inFlight.get(key)
    if (pending !== undefined) return pending
    if (!this.#breaker.allow(now)) return this.#fallback(cached, now)
    const call = this.#ask(token, key, cached)
    this.#inFlight.set(key, call)
    return call
  }

  close(): void {
    this.#endpoint.close()
  }

  async #ask(token: string, key: string, cached: CachedAnswer | undefined): Promise<Answer> {
    this.stats.calls++
    try {
      let body: unknown
      try {
        body = await this.#endpoint.call(token)
      } catch (error) {
        return this.#failed(key, cached, (error as Error).message)
      }
      const now = this.#now()
      const answer = judgeAnswer(body, this.#settings.policy, now / 1000)
      if (answer === null)
        return this.#failed(key, cached, 'the body is not an introspection answer')
      if (this.#breaker.isOpen)
        this.#logger.info({ introspector: this.name }, 'introspection endpoint answers again')
      this.#breaker.succeeded()
      const entry = this.#entry(answer, now)
      this.#cache.set(key, entry, entry.staleUntilMs)
      return answer
    } finally {
      this.#inFlight.delete(key)
    }
  }

  #failed(key: string, cached: CachedAnswer | undefined, reason: string): Answer {
    this.stats.failures++
    const now = this.#now()
    const wasOpen = this.#breaker.isOpen
    this.#breaker.failed(now)
    const fields = { introspector: this.name, reason }
    if (this.#breaker.isOpen && !wasOpen) {
      this.#logger.warn(fields, 'introspection endpoint failing: calls paused')
    } else this.#logger.debug(fields, 'introspection call failed')
    const fallback = this.#fallback(cached, now)
    // No stale answer to keep: the failure is remembered briefly, so a retried token waits for
    // the negative_ttl instead of a call per request.
    if (fallback === UNAVAILABLE) {
      const until = now + this.#settings.negativeTtlMs
      this.#cache.set(key, { answer: UNAVAILABLE, freshUntilMs: until, staleUntilMs: until }, until)
    }
    return fallback
  }

  /** The answer when the endpoint cannot be asked: a stale active one within stale_for, or 503. */
  #fallback(cached: CachedAnswer | undefined, now: number): Answer {
    return cached !== undefined && now < cached.staleUntilMs ? cached.answer : UNAVAILABLE
  }

  #entry(answer: Answer, now: number): CachedAnswer {
    const settings = this.#settings
    if (answer.failure !== null) {
      const until = now + settings.negativeTtlMs
      return { answer, freshUntilMs: until, staleUntilMs: until }
    }
    const expMs = answer.expSeconds === null ? Infinity : answer.expSeconds * 1000
    const fresh = Math.min(now + settings.cacheTtlMs, now + MAX_CACHE_TTL_MS, expMs)
    const stale = settings.staleForMs > 0 ? Math.min(fresh + settings.staleForMs, expMs) : fresh
    return { answer, freshUntilMs: fresh, staleUntilMs: stale }
  }
}
