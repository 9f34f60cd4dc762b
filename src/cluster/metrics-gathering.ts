/**
 * The primary's side of a scrape: asks every listening worker for its families (`metrics-collect`),
 * waits for their answers or a deadline, and hands them with the primary's own counters to the
 * worker whose status listener was scraped, which merges and writes them (prom-client's
 * aggregate() in observability/metrics/exposition.ts). The primary itself never loads prom-client.
 */
import type { Worker } from 'node:cluster'
import type { MetricFamily } from '../observability/metrics/families.js'
import type { ProcessCounters } from '../observability/metrics/process-metrics.js'
import type { ToWorker } from './messages.js'

/** A worker that does not answer in time is left out of that scrape (it may be busy or dying). */
const GATHER_TIMEOUT_MS = 1000

type Processes = readonly (readonly MetricFamily[])[]

interface Gathering {
  readonly processes: (readonly MetricFamily[])[]
  waiting: number
  readonly timer: NodeJS.Timeout
  readonly done: (processes: Processes) => void
}

export class MetricsGathering {
  readonly #counters: ProcessCounters
  readonly #pending = new Map<number, Gathering>()
  #nextId = 0

  constructor(counters: ProcessCounters) {
    this.#counters = counters
  }

  gather(workers: readonly Worker[], done: (processes: Processes) => void): void {
    const id = this.#nextId++
    const gathering: Gathering = {
      processes: [this.#counters.families()],
      waiting: 0,
      timer: setTimeout(() => this.#finish(id), GATHER_TIMEOUT_MS),
      done,
    }
    this.#pending.set(id, gathering)
    const message: ToWorker = { type: 'metrics-collect', id }
    for (const worker of workers) {
      if (!worker.isConnected()) continue
      worker.send(message)
      gathering.waiting++
    }
    if (gathering.waiting === 0) this.#finish(id)
  }

  receive(id: number, families: readonly MetricFamily[]): void {
    const gathering = this.#pending.get(id)
    if (gathering === undefined) return
    gathering.processes.push(families)
    if (--gathering.waiting === 0) this.#finish(id)
  }

  #finish(id: number): void {
    const gathering = this.#pending.get(id)
    if (gathering === undefined) return
    this.#pending.delete(id)
    clearTimeout(gathering.timer)
    gathering.done(gathering.processes)
  }
}
