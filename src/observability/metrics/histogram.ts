/**
 * A cumulative histogram in plain numbers: the hot path adds an observation with no lookup and no
 * allocation, and a scrape reads it as prom-client's JSON (families.ts).
 */

/**
 * Upper bounds in seconds shared by every duration histogram: from a cached-token decision to a
 * slow upstream, so one dashboard query fits every route.
 */
export const DURATION_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]

export class Histogram {
  readonly bounds: readonly number[]
  /** Observations per bucket, not cumulative; the last slot is above every bound (+Inf). */
  readonly counts: Float64Array
  sum = 0
  count = 0

  constructor(bounds: readonly number[] = DURATION_BUCKETS) {
    this.bounds = bounds
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe(seconds: number): void {
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && seconds > bounds[i]!) i++
    this.counts[i]!++
    this.sum += seconds
    this.count++
  }
}
