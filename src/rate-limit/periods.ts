/**
 * The calendar periods of quotas (./quota.ts), in UTC so every member and Redis agree: an hour
 * from :00, a day from 00:00 UTC, a month from the 1st at 00:00 UTC.
 */
import type { QuotaPeriod } from './schema.js'

const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000

/** Start of the UTC calendar period holding `nowMs`. */
export function periodStart(period: QuotaPeriod, nowMs: number): number {
  if (period === 'hour') return nowMs - (nowMs % HOUR_MS)
  if (period === 'day') return nowMs - (nowMs % DAY_MS)
  const date = new Date(nowMs)
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1)
}

/** End (exclusive) of the UTC calendar period starting at `start`. */
export function periodEnd(period: QuotaPeriod, start: number): number {
  if (period === 'hour') return start + HOUR_MS
  if (period === 'day') return start + DAY_MS
  const date = new Date(start)
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1)
}
