/**
 * Metric families in prom-client's JSON shape (`Registry.getMetricsAsJSON()`): what each process
 * reports over IPC and what `AggregatorRegistry.aggregate()` merges across workers. Plain data,
 * so building it loads nothing of prom-client (the primary never does).
 */
import type { Histogram } from './histogram.js'

export type Labels = Readonly<Record<string, string>>

export interface MetricSample {
  readonly value: number
  readonly labels: Labels
  /** For a histogram's series: `<name>_bucket`, `_sum`, `_count`. */
  readonly metricName?: string
}

/** How the workers' values of one series combine (prom-client's aggregators). */
export type Aggregator = 'sum' | 'max' | 'min'

export interface MetricFamily {
  readonly name: string
  readonly help: string
  readonly type: 'counter' | 'gauge' | 'histogram'
  readonly aggregator: Aggregator
  readonly values: MetricSample[]
}

export function counter(name: string, help: string): MetricFamily {
  return { name, help, type: 'counter', aggregator: 'sum', values: [] }
}

export function gauge(name: string, help: string, aggregator: Aggregator = 'sum'): MetricFamily {
  return { name, help, type: 'gauge', aggregator, values: [] }
}

export function histogram(name: string, help: string): MetricFamily {
  return { name, help, type: 'histogram', aggregator: 'sum', values: [] }
}

/** Appends one labelled series of `h` to a histogram family: cumulative buckets, sum, count. */
export function addHistogram(family: MetricFamily, labels: Labels, h: Histogram): void {
  let cumulative = 0
  const bucket = `${family.name}_bucket`
  for (let i = 0; i < h.bounds.length; i++) {
    cumulative += h.counts[i]!
    family.values.push({
      labels: { ...labels, le: String(h.bounds[i]) },
      value: cumulative,
      metricName: bucket,
    })
  }
  family.values.push({ labels: { ...labels, le: '+Inf' }, value: h.count, metricName: bucket })
  family.values.push({ labels, value: h.sum, metricName: `${family.name}_sum` })
  family.values.push({ labels, value: h.count, metricName: `${family.name}_count` })
}
