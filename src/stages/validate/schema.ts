/**
 * Config schema of a route's `validate:` (JSON Schemas its requests must meet). The schemas are
 * user data, not config keys: they are compiled by the stage (json-schemas.ts), and a problem in
 * one (an unknown keyword or format) is reported with its path when the route compiles.
 */
import { Type, type Static, type TOptional } from '@sinclair/typebox'
import { HEADER_NAME_PATTERN, HEADER_NAME_REASON, Pattern } from '../../config/fragments.js'
import { METHODS } from '../../router/methods.js'

/** A JSON Schema (draft 2020-12): an object, or `true`/`false`. `$ref`s to files are inlined at load. */
export type JsonSchema = boolean | { readonly [keyword: string]: unknown }

const JsonSchemaValue = (description: string) =>
  Type.Optional(
    Type.Unsafe<JsonSchema>({ anyOf: [{ type: 'object' }, { type: 'boolean' }], description }),
  )

/** The schemas of one method (or of every method, at the top of `validate:`). */
const SchemaSet = {
  body: JsonSchemaValue(
    'JSON Schema of the request body. The body must be JSON (application/json or a +json type, ' +
      'UTF-8): another Content-Type is refused with 415. The route receives bodies whole, up to ' +
      'max_body, and forwards the exact bytes. A { $ref: file } is resolved relative to the ' +
      'config file.',
  ),
  // No filled default: a method's entry that does not name it keeps the route-wide value.
  body_required: Type.Optional(
    Type.Boolean({
      description:
        'A request without a body (no bytes and no Content-Type) is refused (the default, true, ' +
        'for a method with a body schema). false: such a request passes, and the body schema ' +
        'checks only bodies that are sent.',
    }),
  ),
  query: JsonSchemaValue(
    'JSON Schema of the query, as an object of its parameters: a parameter given once is a ' +
      'string, given again an array of strings; values are coerced to the types the schema ' +
      'names (integer, number, boolean), as OpenAPI does.',
  ),
  headers: JsonSchemaValue(
    'JSON Schema of the request headers, as an object of lower-case names; repeated fields are ' +
      'joined with ", ". Values are coerced to the types the schema names.',
  ),
  path_params: JsonSchemaValue(
    'JSON Schema of the named path segments (match.paths such as /users/{id}), as an object of ' +
      'their percent-decoded values, coerced to the types the schema names.',
  ),
}

export const MethodSchemasSchema = Type.Object(SchemaSet, {
  additionalProperties: false,
  description:
    'The schemas of one method, used instead of the route-wide ones it names (the others still ' +
    'apply). HEAD follows GET unless listed.',
})

export const ValidateSchema = Type.Object(
  {
    ...SchemaSet,
    ...(Object.fromEntries(METHODS.map((m) => [m, Type.Optional(MethodSchemasSchema)])) as Record<
      (typeof METHODS)[number],
      TOptional<typeof MethodSchemasSchema>
    >),
    max_depth: Type.Integer({
      minimum: 1,
      maximum: 1024,
      description:
        'Deepest nesting of arrays and objects a JSON body may have; checked on the bytes before ' +
        'the body is parsed, so a deep body cannot exhaust the parser.',
      default: 64,
    }),
    reject_duplicate_keys: Type.Boolean({
      description:
        'Refuse a JSON body where an object names a key twice (RFC 8259 §4 leaves the meaning to ' +
        'each parser, so the gateway and the upstream could read different values).',
      default: false,
    }),
    forward_path_params: Type.Optional(
      Type.Record(
        Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$' }),
        Pattern(HEADER_NAME_PATTERN, HEADER_NAME_REASON),
        {
          description:
            'Named path segments to send upstream as headers ({ id: x-user-id }), as they are in ' +
            'the path (percent-encoded). The client cannot set these headers: theirs are removed.',
          additionalProperties: false,
          keyReason: 'must be a segment name of match.paths: letters, digits, "_", "." or "-"',
        },
      ),
    ),
  },
  {
    additionalProperties: false,
    description:
      'JSON Schemas (draft 2020-12) the requests of this route must meet, checked after ' +
      'authorization; a request that fails is refused with 400 invalid_request (problem details).',
  },
)

export type ValidateConfig = Static<typeof ValidateSchema>
export type MethodSchemasConfig = Static<typeof MethodSchemasSchema>
