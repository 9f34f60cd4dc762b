/**
 * validate — whether a request meets the JSON Schemas of its route (`validate:`): its query,
 * headers and named path segments in onRequest, its JSON body in onBody once the body is whole.
 * After authorization and rate limiting (order.ts): only admitted requests pay for it.
 *
 * Phases: onRequest (query, headers, path_params; the body's Content-Type and presence), onBody
 * (only on routes with a body schema: depth, UTF-8, JSON syntax, duplicate keys, schema). The
 * schemas are compiled once per config generation (json-schemas.ts); a request builds the objects
 * it checks only for the parts its route validates.
 *
 * Reads: method, query, headers, pathParams. Writes: the forward_path_params headers.
 * Answers: 400 `invalid_request` as RFC 9457 problem details (`errors`: a JSON Pointer and the
 * rule for each problem, at most ten, never a value of the request); 415
 * `unsupported_media_type` for a body that is not JSON on a route that validates JSON bodies.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9457 (problem details)
 * @see https://www.rfc-editor.org/rfc/rfc8259 (JSON)
 */
import { isUtf8 } from 'node:buffer'
import { Type, type Static, type TObject } from '@sinclair/typebox'
import {
  createProblemRejection,
  createRejection,
  type RequestProblem,
  type Rejection,
} from '../../errors.js'
import type {
  RouteSite,
  Stage,
  StageDefinition,
  StageExchange,
  Verdict,
} from '../../pipeline/stage.js'
import { IDENTITY_HEADER_PREFIXES } from '../../http/field-names.js'
import { METHODS } from '../../router/methods.js'
import { findDuplicateKey, isJsonMediaType, withinDepth } from './json-body.js'
import { JsonSchemaCompiler, problemsOf, type SchemaCheck } from './json-schemas.js'
import { ValidateSchema, type JsonSchema, type MethodSchemasConfig } from './schema.js'

/** The route keys this stage owns. */
const ROUTE_KEYS = { validate: Type.Optional(ValidateSchema) }
export type ValidateRouteConfig = Static<TObject<typeof ROUTE_KEYS>>

export interface ValidateDeps {
  /** One per config generation: the schemas of every route compile with it. */
  readonly jsonSchemas: JsonSchemaCompiler
  /** Header names only the gateway sets for identity; never a path segment's. */
  readonly identityHeaders: ReadonlySet<string>
}

export const validate: StageDefinition<typeof ROUTE_KEYS, ValidateDeps> = {
  name: 'validate',
  schema: ROUTE_KEYS,
  compile: (config, route, services) =>
    compileValidate(config, route, services.jsonSchemas, services.identityHeaders),
}

export const INVALID_REQUEST = createRejection(
  400,
  'invalid_request',
  'The request does not meet the schema of this route.',
)

export const UNSUPPORTED_MEDIA_TYPE = createRejection(
  415,
  'unsupported_media_type',
  'This route takes only JSON bodies (application/json or a +json type, in UTF-8).',
)

/** What one method of the route checks, compiled. */
interface MethodRules {
  readonly body: SchemaCheck | null
  readonly bodyRequired: boolean
  readonly query: SchemaCheck | null
  readonly headers: SchemaCheck | null
  readonly pathParams: SchemaCheck | null
}

const NO_RULES: MethodRules = {
  body: null,
  bodyRequired: false,
  query: null,
  headers: null,
  pathParams: null,
}

/** The route's stage; null when it validates nothing and forwards no path segment. */
export function compileValidate(
  config: ValidateRouteConfig,
  site: RouteSite,
  compiler: JsonSchemaCompiler,
  identityHeaders: ReadonlySet<string> = new Set(),
): ValidateStage | null {
  const validate = config.validate
  if (validate === undefined) return null
  const at = `${site.path}.validate`
  const compile = (
    schema: JsonSchema | undefined,
    kind: 'body' | 'params',
    path: string,
  ): SchemaCheck | null =>
    schema === undefined ? null : compiler.compile(schema, kind, path, site.problems)
  checkHeaderSchemas(validate, at, site)

  const base = compileSet(validate, at, compile)
  const byMethod = new Map<string, MethodRules>()
  for (const method of METHODS) {
    const own = validate[method]
    if (own !== undefined) byMethod.set(method, compileSet(own, `${at}.${method}`, compile, base))
  }
  // HEAD follows GET unless listed (as scopes do), as GET implies HEAD in match.methods.
  if (!byMethod.has('HEAD') && byMethod.has('GET')) byMethod.set('HEAD', byMethod.get('GET')!)
  const forward = Object.entries(validate.forward_path_params ?? {}).map(
    ([name, header]) => [name, header.toLowerCase()] as const,
  )
  for (const [name, header] of forward) {
    // The upstream trusts these names as identity: the proxy removes them whatever sets them.
    if (identityHeaders.has(header) || IDENTITY_HEADER_PREFIXES.some((p) => header.startsWith(p))) {
      site.problems.push({
        path: `${at}.forward_path_params.${name}`,
        reason: `${header} is an identity header, which only authentication sets; choose another name`,
      })
    }
  }
  const rules = [base, ...byMethod.values()]
  if (rules.every((r) => r === NO_RULES || isEmpty(r)) && forward.length === 0) return null
  return new ValidateStage(
    base,
    byMethod,
    validate.max_depth,
    validate.reject_duplicate_keys,
    forward,
  )
}

function compileSet(
  set: MethodSchemasConfig,
  at: string,
  compile: (
    schema: JsonSchema | undefined,
    kind: 'body' | 'params',
    path: string,
  ) => SchemaCheck | null,
  base: MethodRules = NO_RULES,
): MethodRules {
  return {
    body: set.body === undefined ? base.body : compile(set.body, 'body', `${at}.body`),
    bodyRequired: set.body_required ?? (base === NO_RULES ? true : base.bodyRequired),
    query: set.query === undefined ? base.query : compile(set.query, 'params', `${at}.query`),
    headers:
      set.headers === undefined ? base.headers : compile(set.headers, 'params', `${at}.headers`),
    pathParams:
      set.path_params === undefined
        ? base.pathParams
        : compile(set.path_params, 'params', `${at}.path_params`),
  }
}

function isEmpty(rules: MethodRules): boolean {
  return (
    rules.body === null &&
    rules.query === null &&
    rules.headers === null &&
    rules.pathParams === null
  )
}

/** Header names arrive in lower case: a schema naming `X-Tenant` would never see it. */
function checkHeaderSchemas(
  validate: NonNullable<ValidateRouteConfig['validate']>,
  at: string,
  site: RouteSite,
): void {
  const check = (schema: JsonSchema | undefined, path: string): void => {
    if (typeof schema !== 'object') return
    const names = [
      ...Object.keys((schema['properties'] as Record<string, unknown> | undefined) ?? {}),
      ...((schema['required'] as unknown[] | undefined) ?? []).map(String),
    ]
    const upper = names.find((name) => name !== name.toLowerCase())
    if (upper !== undefined) {
      site.problems.push({ path, reason: `header names are lower case here: "${upper}"` })
    }
  }
  check(validate.headers, `${at}.headers`)
  for (const method of METHODS) check(validate[method]?.headers, `${at}.${method}.headers`)
}

export class ValidateStage implements Stage {
  readonly name = 'validate'
  readonly onResponse = null
  readonly onFinish = null
  readonly onBody: ((exchange: StageExchange, body: Buffer) => Verdict) | null
  readonly #base: MethodRules
  readonly #byMethod: ReadonlyMap<string, MethodRules>
  readonly #maxDepth: number
  readonly #rejectDuplicateKeys: boolean
  /** [path segment name, header name]… */
  readonly #forward: readonly (readonly [string, string])[]

  constructor(
    base: MethodRules,
    byMethod: ReadonlyMap<string, MethodRules>,
    maxDepth: number,
    rejectDuplicateKeys: boolean,
    forward: readonly (readonly [string, string])[],
  ) {
    this.#base = base
    this.#byMethod = byMethod
    this.#maxDepth = maxDepth
    this.#rejectDuplicateKeys = rejectDuplicateKeys
    this.#forward = forward
    // Only a route that checks a JSON body receives bodies whole (request-path.ts readWholeBody).
    const checksBodies = base.body !== null || [...byMethod.values()].some((r) => r.body !== null)
    this.onBody = checksBodies ? this.#checkBody : null
  }

  #rulesOf(method: string): MethodRules {
    return this.#byMethod.get(method) ?? this.#base
  }

  onRequest(exchange: StageExchange): Verdict {
    const rules = this.#byMethod.size === 0 ? this.#base : this.#rulesOf(exchange.method)
    let problems: RequestProblem[] | null = null
    if (rules.pathParams !== null) {
      problems = check(rules.pathParams, pathParamsOf(exchange), '/path_params', problems)
    }
    if (rules.query !== null) {
      problems = check(rules.query, queryOf(exchange.query), '/query', problems)
    }
    if (rules.headers !== null) {
      problems = check(rules.headers, headersOf(exchange.headers), '/headers', problems)
    }
    if (rules.body !== null) {
      const type = exchange.header('content-type')
      if (type === undefined && exchange.contentLength === 0) {
        if (rules.bodyRequired) {
          ;(problems ??= []).push({ pointer: '/body', rule: 'required', detail: 'must be present' })
        }
      } else if (type === undefined || !isJsonMediaType(type)) return UNSUPPORTED_MEDIA_TYPE
    }
    if (problems !== null) return createProblemRejection(INVALID_REQUEST, problems)
    if (this.#forward.length > 0) forwardPathParams(exchange, this.#forward)
    return undefined
  }

  readonly #checkBody = (exchange: StageExchange, body: Buffer): Verdict => {
    const rules = this.#byMethod.size === 0 ? this.#base : this.#rulesOf(exchange.method)
    const schema = rules.body
    // No schema for this method, or an absent body that onRequest let pass.
    if (schema === null || (body.length === 0 && exchange.header('content-type') === undefined)) {
      return undefined
    }
    if (!withinDepth(body, this.#maxDepth)) {
      return bodyProblem('max_depth', `must not nest deeper than ${this.#maxDepth}`)
    }
    if (!isUtf8(body)) return bodyProblem('json', 'must be UTF-8 (RFC 8259 §8.1)')
    let value: unknown
    try {
      value = JSON.parse(body.toString('utf8'))
    } catch {
      return bodyProblem('json', 'must be valid JSON')
    }
    if (this.#rejectDuplicateKeys) {
      const duplicate = findDuplicateKey(body)
      if (duplicate !== null) {
        return createProblemRejection(INVALID_REQUEST, [
          { pointer: `/body${duplicate}`, rule: 'duplicate_keys', detail: 'must not repeat a key' },
        ])
      }
    }
    if (schema(value)) return undefined
    const problems: RequestProblem[] = []
    problemsOf(schema.errors, '/body', problems)
    return createProblemRejection(INVALID_REQUEST, problems)
  }
}

function bodyProblem(rule: string, detail: string): Rejection {
  return createProblemRejection(INVALID_REQUEST, [{ pointer: '/body', rule, detail }])
}

function check(
  schema: SchemaCheck,
  value: unknown,
  prefix: string,
  problems: RequestProblem[] | null,
): RequestProblem[] | null {
  if (schema(value)) return problems
  const into = problems ?? []
  problemsOf(schema.errors, prefix, into)
  return into
}

/** The query as OpenAPI's form style reads it: a name once → a string, more often → an array. */
function queryOf(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<
    string,
    string | string[]
  >
  if (query === '') return out
  for (const [name, value] of new URLSearchParams(query)) {
    const known = out[name]
    if (known === undefined) out[name] = value
    else if (typeof known === 'string') out[name] = [known, value]
    else known.push(value)
  }
  return out
}

/** Header fields by lower-case name; a repeated field joined with ", " (RFC 9110 §5.3). */
function headersOf(headers: readonly string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!
    const known = out[name]
    out[name] = known === undefined ? headers[i + 1]! : `${known}, ${headers[i + 1]!}`
  }
  return out
}

/** Named path segments, percent-decoded; one that is not UTF-8 stays as sent and fails its schema. */
function pathParamsOf(exchange: StageExchange): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>
  const params = exchange.pathParams
  if (params === null) return out
  for (let i = 0; i < params.length; i += 2) {
    const raw = params[i + 1]!
    let value = raw
    if (raw.includes('%')) {
      try {
        value = decodeURIComponent(raw)
      } catch {
        value = raw
      }
    }
    out[params[i]!] = value
  }
  return out
}

function forwardPathParams(
  exchange: StageExchange,
  forward: readonly (readonly [string, string])[],
): void {
  const params = exchange.pathParams
  for (let i = 0; i < forward.length; i++) {
    const [name, header] = forward[i]!
    let value: string | undefined
    if (params !== null) {
      for (let k = 0; k < params.length; k += 2) if (params[k] === name) value = params[k + 1]
    }
    if (value === undefined) exchange.deleteHeader(header)
    else exchange.setHeader(header, value)
  }
}
