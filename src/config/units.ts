/**
 * Turns the durations and sizes of a config file (`60s`, `1MiB`) into milliseconds and bytes.
 *
 * The patterns below are the schema's too (fragments.ts), so a value that passed validation always
 * converts. They live here rather than with the schema fragments so that a process which only
 * converts (the cluster primary) does not load TypeBox. Arithmetic is done on the decimal digits
 * with BigInt: `0.1s` is exactly 100 ms and `1.1GB` exactly 1 100 000 000 bytes, with no binary
 * floating-point drift.
 */

/** `250ms`, `60s`, `15m`, `1h`, `1d`; decimals allowed (`1.5s`). */
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)$'

/**
 * Plain bytes (an integer) or a number with a unit. `KiB`/`MiB`/`GiB` are powers of 2 and
 * `kB`/`KB`/`MB`/`GB` powers of 10 (IEC 80000-13). Lowercase `kb`/`mb`/`gb` follow nginx and the
 * npm `bytes` package that Node users know: powers of 2, so `1mb` = 1 048 576 bytes.
 */
export const SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?\\s?(B|b|kB|KB|kb|KiB|MB|mb|MiB|GB|gb|GiB)$'

const DURATION_RE = new RegExp(DURATION_PATTERN)
const SIZE_RE = new RegExp(SIZE_PATTERN)

const MS_PER: Readonly<Record<string, bigint>> = {
  ms: 1n,
  s: 1000n,
  m: 60_000n,
  h: 3_600_000n,
  d: 86_400_000n,
}

const BYTES_PER: Readonly<Record<string, bigint>> = {
  B: 1n,
  b: 1n,
  kB: 1000n,
  KB: 1000n,
  MB: 1000n ** 2n,
  GB: 1000n ** 3n,
  KiB: 1024n,
  MiB: 1024n ** 2n,
  GiB: 1024n ** 3n,
  // Lowercase follows nginx and the npm `bytes` package: powers of 2 (see fragments.ts).
  kb: 1024n,
  mb: 1024n ** 2n,
  gb: 1024n ** 3n,
}

/** `250ms` → 250, `1.5s` → 1500, `15m` → 900000. Rounds to a whole millisecond. */
export function parseDuration(text: string): number {
  const match = typeof text === 'string' ? DURATION_RE.exec(text) : null
  const unit = match?.[2]
  const factor = unit === undefined ? undefined : MS_PER[unit]
  if (unit === undefined || factor === undefined) {
    throw new Error(`${describe(text)} is not a duration such as 250ms, 60s, 15m, 1h`)
  }
  return scale(text.slice(0, -unit.length), factor, text, 'ms')
}

/** `1048576` → 1048576, `512KiB` → 524288, `1MB` → 1000000, `1mb` → 1048576. Rounds to a byte. */
export function parseSize(value: number | string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`size ${value} is not a finite number`)
    if (value < 0) throw new RangeError(`size ${value} is negative`)
    const bytes = Math.round(value)
    if (!Number.isSafeInteger(bytes)) {
      throw new RangeError(`size ${value} is more than ${Number.MAX_SAFE_INTEGER} bytes`)
    }
    return bytes
  }
  const match = typeof value === 'string' ? SIZE_RE.exec(value) : null
  const unit = match?.[2]
  const factor = unit === undefined ? undefined : BYTES_PER[unit]
  if (unit === undefined || factor === undefined) {
    throw new Error(
      `${describe(value)} is not a size in bytes or with a unit such as 1048576, 512KiB, 1MiB, 1MB`,
    )
  }
  // The pattern allows one whitespace character between the number and the unit.
  return scale(value.slice(0, -unit.length).trimEnd(), factor, value, 'bytes')
}

/** `digits[.digits] × factor`, rounded half up, as a safe integer. */
function scale(decimal: string, factor: bigint, original: string, unit: string): number {
  const [whole = '', fraction = ''] = decimal.split('.')
  const denominator = 10n ** BigInt(fraction.length)
  const numerator = BigInt(whole + fraction) * factor
  const rounded = (numerator * 2n + denominator) / (denominator * 2n)
  if (rounded > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`${describe(original)} is more than ${Number.MAX_SAFE_INTEGER} ${unit}`)
  }
  return Number(rounded)
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}
