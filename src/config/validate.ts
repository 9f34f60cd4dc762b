/**
 * Validates a parsed config against a TypeBox schema with Ajv, fills defaults, and turns Ajv's
 * errors into problems a user can act on: a path in the user's words (`routes[2].match.paths[0]`)
 * and a reason that names what is allowed and what was found.
 *
 * Ajv ignores `default` inside `anyOf`/`oneOf` (and refuses it in strict mode), but unions of
 * objects with defaults are how the gateway describes "one of these kinds of thing". So the schema
 * Ajv compiles has those defaults removed (and the defaulted keys dropped from `required`), and
 * after a successful validation the defaults of the branch each union value matched are filled in
 * by validating that value against the branch alone, where Ajv does apply them.
 *
 * A regular expression is no reason a user can act on, so every `pattern` carries its rule in
 * words as `patternReason`, and every record whose keys follow a pattern carries it as
 * `keyReason` (annotations Ajv is told about and ignores; fragments.ts sets them for durations,
 * sizes and names).
 */
import { Ajv2019 } from 'ajv/dist/2019.js'
import type { AnySchema, ErrorObject, ValidateFunction } from 'ajv'
import type { Static, TSchema } from '@sinclair/typebox'
import { PortcullisError, type ConfigProblem } from '../errors.js'
import { PATTERN_REASONS } from './fragments.js'
import { SIZE_PATTERN } from './units.js'

/** One step of a config path: a key, or an index into a list. */
export type PathSegment = string | number

type SchemaNode = { readonly [keyword: string]: unknown }

interface Problem {
  readonly segments: readonly PathSegment[]
  readonly reason: string
}

export const REASONS = {
  required: 'is required',
  /** For a `pattern` without its `patternReason`: still never the expression itself. */
  pattern: 'is not in the form this key takes',
} as const

/** Schema annotations that say a pattern's rule in words (see the file comment). */
export const PATTERN_REASON = 'patternReason'
export const KEY_REASON = 'keyReason'

// ---------------------------------------------------------------------------------------------
// Validator
// ---------------------------------------------------------------------------------------------

/**
 * Compiles `schema` once. The returned function validates a copy of its argument (the caller's
 * data is never modified), fills defaults, and returns it, or throws PCL_ERR_CONFIG_INVALID with
 * every problem found.
 */
export function createValidator<T extends TSchema>(schema: T): (data: unknown) => Static<T> {
  const stripped = { count: 0 }
  const validate = newAjv().compile(prepareSchema(schema, false, stripped, true))
  // Only schemas with defaults inside unions need the second pass.
  const unionDefaults = stripped.count > 0 ? createUnionDefaulter() : undefined

  return (data: unknown): Static<T> => {
    const copy = structuredClone(data)
    if (validate(copy)) {
      return (unionDefaults === undefined ? copy : unionDefaults(schema, copy)) as Static<T>
    }
    throw new PortcullisError(
      'PCL_ERR_CONFIG_INVALID',
      'invalid configuration',
      toConfigProblems(describeErrors(validate.errors ?? [], copy)),
    )
  }
}

function newAjv(): Ajv2019 {
  // Ajv 2019-09 rather than draft-07 so TypeBox's Intersect (`unevaluatedProperties`) compiles.
  // TypeBox marks its schemas with symbol keys, which Ajv never sees, so strict mode holds.
  const ajv = new Ajv2019({
    allErrors: true,
    useDefaults: true,
    coerceTypes: false,
    strict: true,
    // Errors carry the failing data and schema, so reasons can say what was found and allowed.
    verbose: true,
  })
  return ajv.addVocabulary([PATTERN_REASON, KEY_REASON])
}

// Keywords whose subschemas Ajv evaluates as a "composite rule", where it ignores `default`.
const COMPOSITE_ARRAY_KEYWORDS = new Set(['anyOf', 'oneOf'])
const COMPOSITE_SCHEMA_KEYWORDS = new Set(['not', 'if', 'contains', 'propertyNames'])
const SCHEMA_MAP_KEYWORDS = new Set([
  'properties',
  'patternProperties',
  '$defs',
  'definitions',
  'dependentSchemas',
])
const SCHEMA_KEYWORDS = new Set([
  'additionalProperties',
  'unevaluatedProperties',
  'additionalItems',
  'unevaluatedItems',
  'then',
  'else',
])

/**
 * A plain copy of `node` for Ajv, without the `default`s Ajv would ignore (see the file comment).
 * Property names in `properties` are never mistaken for keywords: a config key may be `default`.
 */
function prepareSchema(
  node: unknown,
  inComposite: boolean,
  stripped: { count: number },
  isRoot = false,
): AnySchema {
  // Anything else is not a schema (or is `true`/`false`); Ajv's own schema check reports it.
  if (!isRecord(node)) return node as AnySchema
  const out: Record<string, unknown> = {}
  const prepare = (child: unknown, composite: boolean): unknown =>
    prepareSchema(child, composite, stripped)
  for (const [key, value] of Object.entries(node)) {
    if (key === 'default') {
      if (inComposite) stripped.count++
      // Ajv never applies a root default (the value itself is given) and strict mode refuses it.
      else if (!isRoot) out[key] = value
    } else if (SCHEMA_MAP_KEYWORDS.has(key) && isRecord(value)) {
      out[key] = mapValues(value, (child) => prepare(child, inComposite))
    } else if (COMPOSITE_ARRAY_KEYWORDS.has(key) && Array.isArray(value)) {
      out[key] = value.map((child) => prepare(child, true))
    } else if (key === 'allOf' && Array.isArray(value)) {
      out[key] = value.map((child) => prepare(child, inComposite))
    } else if (COMPOSITE_SCHEMA_KEYWORDS.has(key)) {
      out[key] = prepare(value, true)
    } else if (key === 'items' || key === 'prefixItems') {
      out[key] = Array.isArray(value)
        ? value.map((child) => prepare(child, inComposite))
        : prepare(value, inComposite)
    } else if (SCHEMA_KEYWORDS.has(key)) {
      out[key] = prepare(value, inComposite)
    } else {
      out[key] = value
    }
  }
  // TypeBox lists defaulted properties as required; without their default they must be optional.
  const properties = node['properties']
  const required = out['required']
  if (inComposite && isRecord(properties) && Array.isArray(required)) {
    out['required'] = required.filter(
      (name) => !(typeof name === 'string' && hasDefault(properties[name])),
    )
  }
  return out
}

function hasDefault(schema: unknown): boolean {
  return isRecord(schema) && Object.hasOwn(schema, 'default')
}

/**
 * Fills the defaults of the union branches that the (already valid) data matched. Each branch is
 * compiled on its own the first time it is needed: there it is not a composite rule, so Ajv
 * applies its defaults, and unions nested inside it are handled by recursing.
 */
function createUnionDefaulter(): (schema: unknown, value: unknown) => unknown {
  const ajv = newAjv()
  const branchValidators = new Map<SchemaNode, ValidateFunction>()
  const branchValidator = (branch: SchemaNode): ValidateFunction => {
    let validate = branchValidators.get(branch)
    if (validate === undefined) {
      validate = ajv.compile(prepareSchema(branch, false, { count: 0 }, true))
      branchValidators.set(branch, validate)
    }
    return validate
  }

  const fill = (schema: unknown, value: unknown): unknown => {
    if (!isRecord(schema)) return value
    let result = value
    const branches = schema['anyOf'] ?? schema['oneOf']
    if (Array.isArray(branches)) {
      for (const branch of branches) {
        if (!isRecord(branch)) continue
        const candidate = structuredClone(result)
        if (branchValidator(branch)(candidate)) {
          result = fill(branch, candidate)
          break
        }
      }
    }
    const allOf = schema['allOf']
    if (Array.isArray(allOf)) for (const part of allOf) result = fill(part, result)

    if (Array.isArray(result)) {
      const items = schema['prefixItems'] ?? schema['items']
      result.forEach((item, i) => {
        const itemSchema = Array.isArray(items) ? items[i] : items
        result[i] = fill(itemSchema, item)
      })
    } else if (isRecord(result)) {
      const object: Record<string, unknown> = result
      const properties = isRecord(schema['properties']) ? schema['properties'] : {}
      const patterns = Object.entries(
        isRecord(schema['patternProperties']) ? schema['patternProperties'] : {},
      )
      const additional = schema['additionalProperties']
      for (const key of Object.keys(object)) {
        let matched = false
        if (Object.hasOwn(properties, key)) {
          setOwn(object, key, fill(properties[key], object[key]))
          matched = true
        }
        for (const [pattern, patternSchema] of patterns) {
          if (new RegExp(pattern, 'u').test(key)) {
            setOwn(object, key, fill(patternSchema, object[key]))
            matched = true
          }
        }
        if (!matched && isRecord(additional)) setOwn(object, key, fill(additional, object[key]))
      }
    }
    return result
  }
  return fill
}

// Plain assignment of a `__proto__` key would replace the object's prototype instead.
function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  if (object[key] === value) return
  Object.defineProperty(object, key, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  })
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

const IDENTIFIER_RE = /^[A-Za-z_][A-Za-z0-9_]*$/
const INDEX_RE = /^(?:0|[1-9][0-9]*)$/

/**
 * A JSON pointer as the user would write it: `/routes/2/match/paths/0` →
 * `routes[2].match.paths[0]`, `/upstreams/my svc` → `upstreams["my svc"]`. Without the data, a
 * segment of digits is taken to be a list index.
 */
export function formatConfigPath(instancePath: string): string {
  return formatPathSegments(pointerToSegments(instancePath))
}

/** `['routes', 2, 'match']` → `routes[2].match`; keys that are not identifiers are quoted. */
export function formatPathSegments(segments: readonly PathSegment[]): string {
  let out = ''
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`
    else if (IDENTIFIER_RE.test(segment)) out += out === '' ? segment : `.${segment}`
    else out += `[${JSON.stringify(segment)}]`
  }
  return out
}

/**
 * Splits a JSON pointer. With `root`, a segment is an index only where the data holds a list
 * there, so a record key `"2"` stays a key.
 */
function pointerToSegments(pointer: string, root?: { readonly data: unknown }): PathSegment[] {
  if (pointer === '') return []
  let node = root?.data
  return pointer
    .split('/')
    .slice(1)
    .map((raw) => {
      const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
      const isIndex = root === undefined ? INDEX_RE.test(key) : Array.isArray(node)
      node =
        (isRecord(node) || Array.isArray(node)) && Object.hasOwn(node, key)
          ? (node as Record<string, unknown>)[key]
          : undefined
      return isIndex && INDEX_RE.test(key) ? Number(key) : key
    })
}

function comparePaths(a: readonly PathSegment[], b: readonly PathSegment[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!
    const y = b[i]!
    if (x === y) continue
    if (typeof x === 'number' && typeof y === 'number') return x - y
    if (typeof x === 'number') return -1
    if (typeof y === 'number') return 1
    return x < y ? -1 : 1
  }
  return a.length - b.length
}

function toConfigProblems(problems: readonly Problem[]): ConfigProblem[] {
  const seen = new Set<string>()
  const unique: Problem[] = []
  for (const problem of problems) {
    const id = `${formatPathSegments(problem.segments)}\u0000${problem.reason}`
    if (seen.has(id)) continue
    seen.add(id)
    unique.push(problem)
  }
  // Stable sort: problems at the same path keep the order Ajv found them in.
  unique.sort((a, b) => comparePaths(a.segments, b.segments))
  return unique.map((p) => ({ path: formatPathSegments(p.segments), reason: p.reason }))
}

// ---------------------------------------------------------------------------------------------
// Reasons
// ---------------------------------------------------------------------------------------------

type Root = { readonly data: unknown }

/** Explains one list of Ajv errors: the whole validation, or one branch of a union. */
function describeErrors(errors: readonly ErrorObject[], data: unknown): Problem[] {
  return describe(errors, { data })
}

function describe(errors: readonly ErrorObject[], root: Root): Problem[] {
  const unions = errors.filter(isUnionError)
  const outer = unions.filter((u) => !unions.some((o) => o !== u && isWithin(u, o)))
  const handled = new Set<ErrorObject>(outer)
  const problems: Problem[] = []
  for (const union of outer) {
    const members = errors.filter((e) => e !== union && isWithin(e, union))
    for (const member of members) handled.add(member)
    problems.push(...describeUnion(union, members, root))
  }
  const rest = errors.filter((e) => !handled.has(e))
  for (const error of rest) {
    // "must be one of: a, b (got 5)" already says it; "must be a string (got number)" is noise.
    if (error.keyword === 'type' && rest.some((e) => isValueListError(e) && sameNode(e, error))) {
      continue
    }
    problems.push(...describeError(error, root))
  }
  return problems
}

function isUnionError(error: ErrorObject): boolean {
  return error.keyword === 'anyOf' || error.keyword === 'oneOf'
}

function isValueListError(error: ErrorObject): boolean {
  return error.keyword === 'const' || error.keyword === 'enum'
}

/** Whether `error` was raised inside the subschemas of `union`, on the union's value or below. */
function isWithin(error: ErrorObject, union: ErrorObject): boolean {
  return (
    error.schemaPath.startsWith(`${union.schemaPath}/`) &&
    (error.instancePath === union.instancePath ||
      error.instancePath.startsWith(`${union.instancePath}/`))
  )
}

function sameNode(a: ErrorObject, b: ErrorObject): boolean {
  return a.instancePath === b.instancePath && parentPath(a.schemaPath) === parentPath(b.schemaPath)
}

function parentPath(schemaPath: string): string {
  return schemaPath.slice(0, schemaPath.lastIndexOf('/'))
}

function depthOf(instancePath: string): number {
  return instancePath === '' ? 0 : instancePath.split('/').length - 1
}

interface Branch {
  readonly schema: unknown
  readonly problems: Problem[]
  readonly typeMatched: boolean
  readonly discriminator: Discriminator | undefined
}

/** A key whose allowed values tell the branches of a union apart (`kind: jwt`). */
interface Discriminator {
  readonly key: string
  readonly values: readonly unknown[]
  readonly missing: boolean
  readonly got: unknown
}

function describeUnion(union: ErrorObject, members: ErrorObject[], root: Root): Problem[] {
  const segments = pointerToSegments(union.instancePath, root)
  const data = union.data
  const schemas = unionBranches(union.parentSchema)
  if (union.keyword === 'oneOf' && members.length === 0) {
    return [{ segments, reason: 'matches more than one of the allowed forms; make it match one' }]
  }
  if (isSizeUnion(schemas))
    return [{ segments, reason: `${PATTERN_REASONS.size} (got ${show(data)})` }]
  if (schemas.length > 0 && schemas.every(isValueList)) {
    return [{ segments, reason: oneOfReason(schemas.flatMap(valuesOf), data) }]
  }

  const depth = depthOf(union.instancePath)
  const branches: Branch[] = schemas.map((schema, i) => {
    const prefix = `${union.schemaPath}/${i}`
    const errors = members.filter(
      (e) => e.schemaPath === prefix || e.schemaPath.startsWith(`${prefix}/`),
    )
    const typeMatched = !errors.some(
      (e) => e.keyword === 'type' && e.instancePath === union.instancePath,
    )
    return {
      schema,
      problems: describe(errors, root),
      typeMatched,
      discriminator: typeMatched ? findDiscriminator(errors, depth) : undefined,
    }
  })

  const candidates = branches.filter((b) => b.typeMatched)
  if (candidates.length === 0) {
    const expected = unique(schemas.flatMap(expectedOf))
    const reason =
      expected.length === 0 ? 'is not of an allowed type' : `must be ${joinOr(expected)}`
    return [{ segments, reason: `${reason} (got ${typeName(data)})` }]
  }

  // The user got every branch's discriminator wrong: name the allowed values, nothing else.
  const shared = sharedDiscriminator(candidates)
  if (shared !== undefined) {
    const values = unique(candidates.flatMap((b) => b.discriminator?.values ?? []))
    const at = [...segments, shared.key]
    return [
      shared.missing
        ? { segments: at, reason: `${REASONS.required} (one of: ${values.map(plain).join(', ')})` }
        : { segments: at, reason: oneOfReason(values, shared.got) },
    ]
  }

  // Otherwise the branch that got furthest: right type, right discriminator, deepest, fewest.
  let best = candidates[0]!
  for (const branch of candidates.slice(1)) {
    if (compareBranches(branch, best) > 0) best = branch
  }
  return best.problems
}

function unionBranches(parentSchema: unknown): unknown[] {
  if (!isRecord(parentSchema)) return []
  const branches = parentSchema['anyOf'] ?? parentSchema['oneOf']
  return Array.isArray(branches) ? branches : []
}

function compareBranches(a: Branch, b: Branch): number {
  const score = (branch: Branch): number[] => [
    branch.discriminator === undefined ? 1 : 0,
    Math.max(0, ...branch.problems.map((p) => p.segments.length)),
    -branch.problems.length,
  ]
  const [x, y] = [score(a), score(b)]
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!
  return 0
}

/** A wrong or missing value list (`const`/`enum`/union of literals) on a key of the branch. */
function findDiscriminator(
  errors: readonly ErrorObject[],
  depth: number,
): Discriminator | undefined {
  for (const e of errors) {
    if (depthOf(e.instancePath) === depth + 1) {
      const key = lastKey(e.instancePath)
      if (isValueListError(e))
        return { key, values: valuesOf(e.parentSchema), missing: false, got: e.data }
      if (isUnionError(e)) {
        const schemas = unionBranches(e.parentSchema)
        if (schemas.length > 0 && schemas.every(isValueList)) {
          return { key, values: schemas.flatMap(valuesOf), missing: false, got: e.data }
        }
      }
    }
    if (e.keyword === 'required' && depthOf(e.instancePath) === depth) {
      const key = stringParam(e, 'missingProperty')
      const properties = isRecord(e.parentSchema) ? e.parentSchema['properties'] : undefined
      const property = isRecord(properties) ? properties[key] : undefined
      const values = literalValues(property)
      if (values !== undefined) return { key, values, missing: true, got: undefined }
    }
  }
  return undefined
}

function sharedDiscriminator(branches: readonly Branch[]): Discriminator | undefined {
  const first = branches[0]?.discriminator
  if (first === undefined) return undefined
  const shared = branches.every(
    (b) => b.discriminator?.key === first.key && b.discriminator.missing === first.missing,
  )
  return shared ? first : undefined
}

function literalValues(schema: unknown): unknown[] | undefined {
  if (isValueList(schema)) return valuesOf(schema)
  const branches = unionBranches(schema)
  return branches.length > 0 && branches.every(isValueList) ? branches.flatMap(valuesOf) : undefined
}

function lastKey(instancePath: string): string {
  return pointerToSegments(instancePath).map(String).at(-1) ?? ''
}

function isSizeUnion(schemas: readonly unknown[]): boolean {
  return (
    schemas.some((s) => isRecord(s) && s['pattern'] === SIZE_PATTERN) &&
    schemas.every((s) => isRecord(s) && (s['pattern'] === SIZE_PATTERN || s['type'] === 'integer'))
  )
}

function isValueList(schema: unknown): boolean {
  return isRecord(schema) && (Object.hasOwn(schema, 'const') || Array.isArray(schema['enum']))
}

function valuesOf(schema: unknown): unknown[] {
  if (!isRecord(schema)) return []
  if (Object.hasOwn(schema, 'const')) return [schema['const']]
  const values = schema['enum']
  return Array.isArray(values) ? values : []
}

/** How a branch would describe itself in "must be a string or an object". */
function expectedOf(schema: unknown): string[] {
  if (isValueList(schema)) return valuesOf(schema).map(plain)
  if (!isRecord(schema)) return []
  const type = schema['type']
  const types = Array.isArray(type) ? type : [type]
  return types.filter((t): t is string => typeof t === 'string').map(withArticle)
}

function describeError(e: ErrorObject, root: Root): Problem[] {
  const segments = pointerToSegments(e.instancePath, root)
  const at = (reason: string): Problem[] => [{ segments, reason }]
  const data: unknown = e.data
  const limit = numberParam(e, 'limit')
  const propertyName = e.propertyName
  if (propertyName !== undefined) {
    // An error from `propertyNames`: about the key itself, not its value.
    return describeError({ ...e, propertyName: undefined, data: propertyName }, root).map((p) => ({
      segments: [...segments, propertyName],
      reason: `invalid key: ${p.reason}`,
    }))
  }
  switch (e.keyword) {
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const key = stringParam(
        e,
        e.keyword === 'additionalProperties' ? 'additionalProperty' : 'unevaluatedProperty',
      )
      return [{ segments: [...segments, key], reason: unknownKeyReason(key, e.parentSchema) }]
    }
    case 'required':
      return [
        { segments: [...segments, stringParam(e, 'missingProperty')], reason: REASONS.required },
      ]
    case 'dependentRequired':
    case 'dependencies':
      return [
        {
          segments: [...segments, stringParam(e, 'missingProperty')],
          reason: `is required when ${JSON.stringify(stringParam(e, 'property'))} is set`,
        },
      ]
    case 'type':
      return at(typeReason(stringParam(e, 'type'), data))
    case 'const':
    case 'enum':
      return at(oneOfReason(valuesOf(e.parentSchema), data))
    case 'pattern':
      return at(
        `${annotation(e.parentSchema, PATTERN_REASON) ?? REASONS.pattern} (got ${show(data)})`,
      )
    case 'format':
      return at(`must be a valid ${stringParam(e, 'format')} (got ${show(data)})`)
    case 'minimum':
      return at(`must be at least ${limit} (got ${show(data)})`)
    case 'maximum':
      return at(`must be at most ${limit} (got ${show(data)})`)
    case 'exclusiveMinimum':
      return at(`must be greater than ${limit} (got ${show(data)})`)
    case 'exclusiveMaximum':
      return at(`must be less than ${limit} (got ${show(data)})`)
    case 'multipleOf':
      return at(`must be a multiple of ${numberParam(e, 'multipleOf')} (got ${show(data)})`)
    case 'minLength':
      return at(
        limit === 1 ? 'must not be empty' : `must be at least ${count(limit, 'character')} long`,
      )
    case 'maxLength':
      return at(`must be at most ${count(limit, 'character')} long (got ${lengthOf(data)})`)
    case 'minItems':
      return at(`must have at least ${count(limit, 'item')} (got ${lengthOf(data)})`)
    case 'maxItems':
    case 'additionalItems':
      return at(`must have at most ${count(limit, 'item')} (got ${lengthOf(data)})`)
    case 'minProperties':
      return at(`must have at least ${count(limit, 'key')}`)
    case 'maxProperties':
      return at(`must have at most ${count(limit, 'key')}`)
    case 'uniqueItems': {
      const [i, j] = [numberParam(e, 'i'), numberParam(e, 'j')].sort((a, b) => a - b)
      return at(`must not contain duplicates (items [${i}] and [${j}] are equal)`)
    }
    case 'not':
    case 'false schema':
      return at('is not allowed here')
    case 'if':
    case 'propertyNames':
      // Explained by the errors of `then`/`else` and of the key itself.
      return []
    default:
      return at(e.message ?? 'is invalid')
  }
}

function unknownKeyReason(key: string, parentSchema: unknown): string {
  const allowed = unique(allowedKeys(parentSchema))
  const patterns =
    isRecord(parentSchema) && isRecord(parentSchema['patternProperties'])
      ? Object.keys(parentSchema['patternProperties'])
      : []
  const keyRule = annotation(parentSchema, KEY_REASON) ?? REASONS.pattern
  if (allowed.length === 0 && patterns.length > 0) return `invalid key: ${keyRule}`
  const choices = patterns.length === 0 ? allowed : [...allowed, `a key that ${keyRule}`]
  if (choices.length === 0) return 'unknown key (no keys are allowed here)'
  const suggestion = closest(key, allowed)
  const hint = suggestion === undefined ? '' : `; did you mean ${JSON.stringify(suggestion)}?`
  return `unknown key (allowed: ${choices.join(', ')})${hint}`
}

/** The keys an object schema declares, including those of its `allOf` parts (TypeBox Intersect). */
function allowedKeys(schema: unknown): string[] {
  if (!isRecord(schema)) return []
  const own = isRecord(schema['properties']) ? Object.keys(schema['properties']) : []
  const parts = ['allOf', 'anyOf', 'oneOf'].flatMap((k) => {
    const list = schema[k]
    return Array.isArray(list) ? list : []
  })
  return [...own, ...parts.flatMap(allowedKeys)]
}

/** The allowed key within edit distance 2 of `key`, if any, unless the two share too little. */
function closest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of allowed) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase())
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance]
  }
  // `ab` is 2 edits from any other 2-letter key, which is no resemblance at all.
  return bestDistance <= 2 && bestDistance < key.length ? best : undefined
}

/** Optimal string alignment distance: Levenshtein plus swapping two neighbours (`tiemout`). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = []
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i]
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j)
        continue
      }
      const previous = rows[i - 1]!
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2]![j - 2]! + 1)
      }
      row.push(d)
    }
    rows.push(row)
  }
  return rows[a.length]![b.length]!
}

function typeReason(expected: string, data: unknown): string {
  const types = expected.split(',')
  // A number that is not whole is still a number: show it rather than say "got number".
  const got =
    types.includes('integer') && typeof data === 'number' && Number.isFinite(data)
      ? String(data)
      : typeName(data)
  return `must be ${joinOr(types.map(withArticle))} (got ${got})`
}

function annotation(schema: unknown, keyword: string): string | undefined {
  const value = isRecord(schema) ? schema[keyword] : undefined
  return typeof value === 'string' ? value : undefined
}

function oneOfReason(values: readonly unknown[], data: unknown): string {
  const list = unique(values.map(plain))
  return list.length === 1
    ? `must be ${list[0]} (got ${show(data)})`
    : `must be one of: ${list.join(', ')} (got ${show(data)})`
}

function withArticle(type: string): string {
  if (type === 'null') return 'null'
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`
}

function joinOr(items: readonly string[]): string {
  const list = unique(items)
  if (list.length <= 1) return list[0] ?? ''
  return `${list.slice(0, -1).join(', ')} or ${list.at(-1)}`
}

function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

/** A value as it appears in a reason: strings quoted, lists and maps by their type. */
function show(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)
  }
  if (value === null || typeof value !== 'object') return String(value)
  return typeName(value)
}

/** A value as one of a list of allowed values: bare, as the user would type it in YAML. */
function plain(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))
}

function lengthOf(value: unknown): number | string {
  if (typeof value === 'string' || Array.isArray(value)) return value.length
  return typeName(value)
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

function stringParam(e: ErrorObject, name: string): string {
  const params: Record<string, unknown> = e.params
  const value = params[name]
  return Array.isArray(value) ? value.join(',') : String(value)
}

function numberParam(e: ErrorObject, name: string): number {
  const params: Record<string, unknown> = e.params
  return Number(params[name])
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)]
}

function mapValues(
  record: Record<string, unknown>,
  fn: (value: unknown) => unknown,
): Record<string, unknown> {
  // fromEntries keeps a property literally named `__proto__` as a property.
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, fn(v)]))
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
