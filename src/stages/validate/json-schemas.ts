/**
 * Compiles the JSON Schemas of `validate:` (draft 2020-12, Ajv) once per config generation, and
 * turns a failed validation into the problems of a 400: a JSON Pointer to each value and the rule
 * it broke, never the value itself (it may be a secret).
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import type { ConfigProblem, RequestProblem } from '../../errors.js'
import type { JsonSchema } from './schema.js'

/** RFC 9457 answers list at most this many problems; the rest are left out. */
export const MAX_PROBLEMS = 10

/** A compiled schema: true when the value meets it; its errors then in `errors`. */
export type SchemaCheck = ValidateFunction<unknown>

/**
 * The compilers of one config generation (the runtime's StageServices): one for bodies, taken as
 * they are, and one for parameters (query, headers, path), whose string values are coerced to the
 * types the schema names, as OpenAPI's parameter styles do.
 */
export class JsonSchemaCompiler {
  readonly #body = createAjv(false)
  readonly #params = createAjv('array')

  /** The compiled schema, or null with a problem at `path` (unknown keyword, unknown format…). */
  compile(
    schema: JsonSchema,
    kind: 'body' | 'params',
    path: string,
    problems: ConfigProblem[],
  ): SchemaCheck | null {
    try {
      return (kind === 'body' ? this.#body : this.#params).compile(schema)
    } catch (error) {
      problems.push({ path, reason: `not a usable JSON Schema: ${(error as Error).message}` })
      return null
    }
  }
}

function createAjv(coerceTypes: false | 'array'): Ajv2020 {
  const ajv = new Ajv2020({
    // Unknown keywords and formats are config errors: a typo must not disable a rule.
    strictSchema: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    allErrors: true,
    coerceTypes,
    // OpenAPI's discriminator (a oneOf shortcut) compiles as Ajv's keyword.
    discriminator: true,
    // Schemas with the same $id on two routes are two schemas, not a conflict.
    addUsedSchema: false,
    messages: true,
  })
  addFormats.default(ajv)
  return ajv
}

/**
 * The problems of a failed check, under `prefix` (`/body`, `/query`…). Ajv's messages name the
 * rule and the schema's own values (a pattern, allowed values) but never the instance's.
 */
export function problemsOf(
  errors: readonly ErrorObject[] | null | undefined,
  prefix: string,
  into: RequestProblem[],
): void {
  if (errors === null || errors === undefined) return
  for (let i = 0; i < errors.length && into.length < MAX_PROBLEMS; i++) {
    const error = errors[i]!
    let pointer = prefix + error.instancePath
    // Point at the value that is missing or not allowed, not at the object around it.
    const params = error.params as Record<string, unknown>
    if (error.keyword === 'required' && typeof params['missingProperty'] === 'string') {
      pointer += '/' + escapePointer(params['missingProperty'])
    } else if (
      error.keyword === 'additionalProperties' &&
      typeof params['additionalProperty'] === 'string'
    ) {
      pointer += '/' + escapePointer(params['additionalProperty'])
    }
    into.push({
      pointer,
      rule: error.keyword,
      detail: error.message ?? `must meet ${error.keyword}`,
    })
  }
}

/** RFC 6901 §3: `~` as `~0`, `/` as `~1`. */
export function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1')
}
