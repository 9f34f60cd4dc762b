/**
 * RFC 3339 §5.6 date-times (`2027-01-01T00:00:00Z`, `2027-01-01T09:30:00.5+02:00`): the times of
 * key records and of keys in the config. Parsed here rather than by Date.parse, which takes many
 * other shapes and guesses the zone of some.
 */

export const RFC3339_PATTERN =
  '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$'
export const RFC3339_REASON =
  'must be an RFC 3339 date-time with a zone, such as 2027-01-01T00:00:00Z or 2027-01-01T09:30:00+02:00'

const rfc3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/

/** Milliseconds since the epoch; NaN when `text` is not a valid RFC 3339 date-time. */
export function parseRfc3339(text: string): number {
  const m = rfc3339.exec(text)
  if (m === null) return NaN
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  const offsetHours = m[9] === undefined ? 0 : Number(m[9])
  const offsetMinutes = m[10] === undefined ? 0 : Number(m[10])
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth(year, month) ||
    hour > 23 ||
    minute > 59 ||
    // 60: a leap second (RFC 3339 §5.7), counted as the second before it.
    second > 60 ||
    offsetHours > 23 ||
    offsetMinutes > 59
  ) {
    return NaN
  }
  const fraction = m[7] === undefined ? 0 : Math.floor(Number(m[7]) * 1000)
  const offsetMs = (offsetHours * 60 + offsetMinutes) * 60_000 * (m[8] === '-' ? -1 : 1)
  // setUTCFullYear, since Date.UTC reads years 0–99 as 1900–1999.
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, Math.min(second, 59), fraction)
  return date.getTime() - offsetMs
}

function daysInMonth(year: number, month: number): number {
  const date = new Date(0)
  date.setUTCFullYear(year, month, 0)
  return date.getUTCDate()
}
