/**
 * limits.max_concurrent_per_client: requests in flight per client address in this worker (as
 * nginx limit_conn, counted per request rather than per connection, so a client cannot get
 * around it with pipelining or many connections). Only addresses with a request in flight are
 * kept.
 */
export class ClientSlots {
  readonly #inFlight = new Map<string, number>()

  /** Takes a slot for `address`; false when it already holds `max`. */
  take(address: string, max: number): boolean {
    const count = this.#inFlight.get(address) ?? 0
    if (count >= max) return false
    this.#inFlight.set(address, count + 1)
    return true
  }

  release(address: string): void {
    const count = this.#inFlight.get(address)
    if (count === undefined) return
    if (count <= 1) this.#inFlight.delete(address)
    else this.#inFlight.set(address, count - 1)
  }
}
