/**
 * The /metrics answer: every process's families merged by prom-client's
 * `AggregatorRegistry.aggregate()` (counters and histograms summed, gauges by their aggregator)
 * and written by its registry, in the Prometheus text format or, when the scraper's `Accept`
 * asks for it, OpenMetrics. prom-client is imported on the first scrape only; the static
 * aggregate() registers none of its node:cluster listeners, which would answer our IPC.
 *
 * @see https://prometheus.io/docs/instrumenting/exposition_formats/
 * @see https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md
 */
import type { RegistryContentType } from 'prom-client'
import type { MetricFamily } from './families.js'

export interface MetricsAnswer {
  readonly contentType: string
  readonly body: string
}

/** Whether `accept` asks for OpenMetrics (application/openmetrics-text, any version it names). */
export function wantsOpenMetrics(accept: string): boolean {
  return /application\/openmetrics-text/i.test(accept)
}

export async function renderMetrics(
  processes: readonly (readonly MetricFamily[])[],
  accept: string,
): Promise<MetricsAnswer> {
  const { AggregatorRegistry, Registry } = await import('prom-client')
  const type: RegistryContentType = wantsOpenMetrics(accept)
    ? Registry.OPENMETRICS_CONTENT_TYPE
    : Registry.PROMETHEUS_CONTENT_TYPE
  // OpenMetrics names a counter family without `_total` and its sample with it; prom-client adds
  // the suffix to the samples of an aggregated family but keeps the family name it is given.
  const families =
    type === Registry.OPENMETRICS_CONTENT_TYPE
      ? processes.map((p) => p.map(openMetricsName))
      : processes
  const registry = AggregatorRegistry.aggregate<RegistryContentType>([...families])
  registry.setContentType(type)
  return { contentType: registry.contentType, body: await registry.metrics() }
}

function openMetricsName(family: MetricFamily): MetricFamily {
  return family.type === 'counter' && family.name.endsWith('_total')
    ? { ...family, name: family.name.slice(0, -'_total'.length) }
    : family
}
