/**
 * The supervising process's families: config generation, reloads, worker restarts. Built by the
 * primary (or the single process of --workers 0) without loading prom-client.
 */
import { counter, gauge, type MetricFamily } from './families.js'

export class ProcessCounters {
  /** Reloads applied since start. */
  generation = 0
  reloadsApplied = 0
  reloadsRefused = 0
  workerRestarts = 0

  families(): MetricFamily[] {
    const generation = gauge(
      'portcullis_config_generation',
      'Config generation being served: the number of reloads applied since start.',
      'max',
    )
    generation.values.push({ labels: {}, value: this.generation })
    const reloads = counter('portcullis_config_reloads_total', 'Config reloads by outcome.')
    reloads.values.push({ labels: { outcome: 'applied' }, value: this.reloadsApplied })
    reloads.values.push({ labels: { outcome: 'refused' }, value: this.reloadsRefused })
    const restarts = counter(
      'portcullis_worker_restarts_total',
      'Workers respawned after they died.',
    )
    restarts.values.push({ labels: {}, value: this.workerRestarts })
    return [generation, reloads, restarts]
  }
}
