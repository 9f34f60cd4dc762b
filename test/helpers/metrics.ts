/** Scrapes a gateway's /metrics and reads it with a real Prometheus text parser. */
import parsePrometheusTextFormat, {
  type ParsedFamily,
  type ParsedSample,
} from 'parse-prometheus-text-format'
import { send } from './http.js'

export interface Scrape {
  readonly contentType: string
  readonly text: string
  readonly families: readonly ParsedFamily[]
  /**
   * The same text parsed without its histogram TYPE lines: the parser folds every series of a
   * histogram family into one, so `<name>_count`/`_sum`/`_bucket` are read as labelled series.
   */
  readonly series: readonly ParsedFamily[]
}

export async function scrape(statusUrl: string, accept?: string): Promise<Scrape> {
  const res = await send(
    `${statusUrl}/metrics`,
    accept === undefined ? {} : { headers: { accept } },
  )
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${res.text}`)
  return {
    contentType: String(res.headers['content-type']),
    text: res.text,
    families: parsePrometheusTextFormat(res.text),
    series: parsePrometheusTextFormat(res.text.replace(/^# TYPE \S+ histogram\n/gm, '')),
  }
}

/** The samples of `name` whose labels include `labels`. */
export function samples(
  scraped: Scrape,
  name: string,
  labels: Readonly<Record<string, string>> = {},
  from: readonly ParsedFamily[] = scraped.families,
): ParsedSample[] {
  // A name can come back as several families: the series of one histogram interleave.
  return from
    .filter((f) => f.name === name)
    .flatMap((f) => f.metrics)
    .filter((m) => Object.entries(labels).every(([key, value]) => m.labels?.[key] === value))
}

/** The sum of the counter or gauge samples of `name` whose labels include `labels`. */
export function valueOf(
  scraped: Scrape,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  return samples(scraped, name, labels).reduce((sum, m) => sum + Number(m.value ?? 0), 0)
}

/** The observation count of the histogram `name` for `labels`. */
export function countOf(
  scraped: Scrape,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  if (scraped.families.find((f) => f.name === name)?.type !== 'HISTOGRAM') return -1
  return samples(scraped, `${name}_count`, labels, scraped.series).reduce(
    (sum, m) => sum + Number(m.value ?? 0),
    0,
  )
}

/** Every label value of every sample, for boundedness checks. */
export function labelValues(scraped: Scrape): string[] {
  return scraped.families.flatMap((f) => f.metrics.flatMap((m) => Object.values(m.labels ?? {})))
}
