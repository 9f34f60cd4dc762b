/**
 * An OpenAPI Schema Object as a JSON Schema draft 2020-12 that Ajv compiles strictly. OpenAPI 3.1
 * schemas are 2020-12 already, with a few annotations of OpenAPI's own; 3.0 schemas are an
 * extended subset of draft 4/5 (OpenAPI 3.0.3 §4.7.24), whose `nullable` and boolean
 * `exclusiveMinimum`/`exclusiveMaximum` are rewritten here. Only keyword positions are walked, so
 * a property named `example` stays a property.
 */

type SchemaObject = Record<string, unknown>

/** OpenAPI's annotations, no JSON Schema keywords: they change no verdict, so they are left out. */
const ANNOTATIONS = new Set(['example', 'xml', 'externalDocs', 'discriminator'])
const SCHEMA_MAPS = new Set([
  'properties',
  'patternProperties',
  '$defs',
  'definitions',
  'dependentSchemas',
])
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems'])
const SCHEMA_VALUES = new Set([
  'items',
  'additionalItems',
  'additionalProperties',
  'not',
  'if',
  'then',
  'else',
  'contains',
  'propertyNames',
  'unevaluatedItems',
  'unevaluatedProperties',
])

function isObject(value: unknown): value is SchemaObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** A copy of `schema` as draft 2020-12; `version3_0` for documents of OpenAPI 3.0. */
export function toJsonSchema(schema: unknown, version3_0: boolean): unknown {
  if (!isObject(schema)) return schema
  const out: SchemaObject = {}
  for (const [key, value] of Object.entries(schema)) {
    if (ANNOTATIONS.has(key) || key.startsWith('x-')) continue
    if (SCHEMA_MAPS.has(key) && isObject(value)) {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([name, child]) => [name, toJsonSchema(child, version3_0)]),
      )
    } else if (SCHEMA_LISTS.has(key) && Array.isArray(value)) {
      out[key] = value.map((child) => toJsonSchema(child, version3_0))
    } else if (SCHEMA_VALUES.has(key)) {
      out[key] = toJsonSchema(value, version3_0)
    } else out[key] = value
  }
  if (version3_0) rewrite3_0(out)
  return out
}

function rewrite3_0(schema: SchemaObject): void {
  if (schema['nullable'] === true) {
    const type = schema['type']
    if (typeof type === 'string') schema['type'] = [type, 'null']
    if (Array.isArray(schema['enum'])) schema['enum'] = [...(schema['enum'] as unknown[]), null]
  }
  delete schema['nullable']
  for (const [exclusive, bound] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ] as const) {
    if (typeof schema[exclusive] !== 'boolean') continue
    if (schema[exclusive] === true && typeof schema[bound] === 'number') {
      schema[exclusive] = schema[bound]
      delete schema[bound]
    } else delete schema[exclusive]
  }
}
