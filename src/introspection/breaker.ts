/**
 * A circuit breaker in front of an introspection endpoint: after `failures` failed calls in a
 * row it opens and no call is made for `cooldown`; then it lets one probe through (half-open),
 * which closes it on success and opens it again on failure. A failing authorization server is
 * not hammered by every unknown token, and requests fail at once instead of waiting a timeout.
 */

const CLOSED = 0
const OPEN = 1
const HALF_OPEN = 2

export class CircuitBreaker {
  readonly #failures: number
  readonly #cooldownMs: number
  #state = CLOSED
  #inRow = 0
  #openUntil = 0

  constructor(failures: number, cooldownMs: number) {
    this.#failures = failures
    this.#cooldownMs = cooldownMs
  }

  /** Whether a call may be made now; true for the one probe of a half-open breaker. */
  allow(nowMs: number): boolean {
    if (this.#state === CLOSED) return true
    if (this.#state === OPEN && nowMs >= this.#openUntil) {
      this.#state = HALF_OPEN
      return true
    }
    // OPEN within its cooldown, or HALF_OPEN with the probe still out.
    return false
  }

  /** Milliseconds until the breaker lets a call through again; 0 when it does now. */
  retryInMs(nowMs: number): number {
    return this.#state === OPEN ? Math.max(0, this.#openUntil - nowMs) : 0
  }

  get isOpen(): boolean {
    return this.#state !== CLOSED
  }

  succeeded(): void {
    this.#state = CLOSED
    this.#inRow = 0
  }

  failed(nowMs: number): void {
    this.#inRow++
    if (this.#state === HALF_OPEN || this.#inRow >= this.#failures) {
      this.#state = OPEN
      this.#openUntil = nowMs + this.#cooldownMs
    }
  }
}
