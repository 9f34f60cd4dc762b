/**
 * A rate of the config (`100/s`, `1000/min`, RATE_PATTERN of ./schema.ts) in numbers. Apart from
 * the schema so that a worker, which compiles rates but never validates, does not load TypeBox.
 */

/** A rate in numbers: `count` requests per `windowMs`. */
export interface Rate {
  readonly count: number
  readonly windowMs: number
}

const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1000,
  sec: 1000,
  second: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
}

/** Parses a rate the schema accepted (`1000/min` → 1000 per 60 000 ms); null otherwise. */
export function parseRate(text: string): Rate | null {
  const match = /^([1-9][0-9]{0,9})\/([a-z]+)$/.exec(text)
  if (match === null) return null
  const windowMs = UNIT_MS[match[2]!]
  if (windowMs === undefined) return null
  return { count: Number(match[1]), windowMs }
}
