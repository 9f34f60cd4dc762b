/**
 * Schema fragments shared by every config section: durations, sizes, names.
 *
 * Values stay in the user's words in the schema (`60s`, `1MiB`); src/config/units.ts turns them
 * into numbers when a section is compiled.
 */
import { Type, type ObjectOptions, type SchemaOptions, type TSchema } from '@sinclair/typebox'
import { DURATION_PATTERN, SIZE_PATTERN } from './units.js'

/** Names of routes, upstreams and other referenced objects: safe in logs, metrics and headers. */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'

/** RFC 9110 §5.1 field-name token. */
export const HEADER_NAME_PATTERN = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
export const HEADER_NAME_REASON =
  "must be a header name: letters, digits and ! # $ % & ' * + . ^ _ ` | ~ -"

/** The rules of the patterns above in words, for config errors (validate.ts never shows a regex). */
export const PATTERN_REASONS = {
  duration: 'must be a duration such as 250ms, 60s, 15m, 1h',
  size: 'must be a size in bytes or with a unit: 1048576, 512KiB, 1MiB, 1MB',
  name: 'must be a name of letters, digits, "_", "." or "-", starting with a letter or digit, at most 64 characters',
} as const

/**
 * A string that must match `pattern`, with the rule in words (`reason`, "must be …") that a
 * config error gives instead of the expression.
 */
export function Pattern(pattern: string, reason: string, options: SchemaOptions = {}) {
  return Type.String({ pattern, patternReason: reason, ...options })
}

export function Duration(options: SchemaOptions & { default?: string }) {
  return Pattern(DURATION_PATTERN, PATTERN_REASONS.duration, options)
}

export function Size(options: SchemaOptions & { default?: string | number }) {
  return Type.Union(
    [Type.Integer({ minimum: 0 }), Pattern(SIZE_PATTERN, PATTERN_REASONS.size)],
    options,
  )
}

export function Name(options: SchemaOptions = {}) {
  return Pattern(NAME_PATTERN, PATTERN_REASONS.name, options)
}

/**
 * A map from names (NAME_PATTERN) to `value`: `upstreams:`, `rate_limits:`. TypeBox turns the key
 * pattern into `patternProperties`, where the rule is given as `keyReason`.
 */
export function NamedRecord<V extends TSchema>(value: V, options: ObjectOptions = {}) {
  return Type.Record(Type.String({ pattern: NAME_PATTERN }), value, {
    additionalProperties: false,
    keyReason: PATTERN_REASONS.name,
    ...options,
  })
}

export function Port(options: SchemaOptions = {}) {
  return Type.Integer({ minimum: 0, maximum: 65535, ...options })
}
