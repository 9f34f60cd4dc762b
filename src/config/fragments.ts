/**
 * Schema fragments shared by every config section: durations, sizes, names.
 *
 * Values stay in the user's words in the schema (`60s`, `1MiB`); src/config/units.ts turns them
 * into numbers when a section is compiled.
 */
import { Type, type SchemaOptions } from '@sinclair/typebox'

/** `250ms`, `60s`, `15m`, `1h`, `1d`; decimals allowed (`1.5s`). */
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)$'

/**
 * Plain bytes (an integer) or a number with a unit. `KiB`/`MiB`/`GiB` are powers of 2 and
 * `kB`/`KB`/`MB`/`GB` powers of 10 (IEC 80000-13). Lowercase `kb`/`mb`/`gb` follow nginx and the
 * npm `bytes` package that Node users know: powers of 2, so `1mb` = 1 048 576 bytes.
 */
export const SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?\\s?(B|b|kB|KB|kb|KiB|MB|mb|MiB|GB|gb|GiB)$'

/** Names of routes, upstreams and other referenced objects: safe in logs, metrics and headers. */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'

/** RFC 9110 §5.1 field-name token. */
export const HEADER_NAME_PATTERN = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"

export function Duration(options: SchemaOptions & { default?: string }) {
  return Type.String({ pattern: DURATION_PATTERN, ...options })
}

export function Size(options: SchemaOptions & { default?: string | number }) {
  return Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: SIZE_PATTERN })], options)
}

export function Name(options: SchemaOptions = {}) {
  return Type.String({ pattern: NAME_PATTERN, ...options })
}

export function Port(options: SchemaOptions = {}) {
  return Type.Integer({ minimum: 0, maximum: 65535, ...options })
}
