/**
 * Reloads one at a time. A reload asked for while the process is still starting waits until it
 * serves; one asked for while another runs is run once that one is over, and several asked for
 * meanwhile collapse into one with the latest request: two overlapping reloads could otherwise
 * finish in the wrong order and leave the older config in place.
 */
export class ReloadQueue<T> {
  readonly #run: (request: T) => Promise<void>
  #started = false
  #running = false
  #pending: { readonly request: T } | null = null

  /** `run` applies one request; its failure is its own to report (a rejection is ignored). */
  constructor(run: (request: T) => Promise<void>) {
    this.#run = run
  }

  /** Asks for a reload; `request` replaces any still waiting. */
  request(request: T): void {
    this.#pending = { request }
    this.#next()
  }

  /** The process serves: reloads asked for until now run. */
  start(): void {
    this.#started = true
    this.#next()
  }

  #next(): void {
    if (!this.#started || this.#running || this.#pending === null) return
    const { request } = this.#pending
    this.#pending = null
    this.#running = true
    const done = () => {
      this.#running = false
      this.#next()
    }
    this.#run(request).then(done, done)
  }
}
