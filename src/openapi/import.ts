/**
 * Turns an OpenAPI 3.0 or 3.1 document into routes: one per path and method, with the JSON
 * Schemas of its path, query and header parameters and of its JSON request body (validate:), and
 * the authentication and scopes of its `security` requirement. The document is read, checked
 * against the OpenAPI schemas and dereferenced (across files) by @readme/openapi-parser.
 *
 * What the gateway cannot enforce (cookie parameters, parameters given by `content`, non-JSON
 * bodies, security schemes it has no method for) is returned as a warning. An operation whose
 * security cannot be enforced at all gets no route (its requests are 404): never a public one.
 *
 * @see https://spec.openapis.org/oas/v3.1.0 (and v3.0.3)
 */
import { resolve } from 'node:path'
import { dereference, validate } from '@readme/openapi-parser'
import type { ConfigProblem } from '../errors.js'
import type { AuthConfig } from '../stages/authenticate/schema.js'
import { isJsonMediaType } from '../stages/validate/json-body.js'
import { toJsonSchema } from './convert-schema.js'
import type { OpenApiImportConfig } from './schema.js'

type Json = Record<string, unknown>

const OPERATION_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

/** Header parameters OpenAPI says to ignore (3.1 §4.8.12.1): the protocol's own fields. */
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization'])

/** What one document made: routes as config (checked by the caller), and the warnings. */
export interface ImportedRoutes {
  readonly routes: readonly ImportedRoute[]
  readonly warnings: ConfigProblem[]
}

export interface ImportedRoute {
  /** Where the operation is, for problems: `openapi[0] GET /users/{id}`. */
  readonly at: string
  readonly config: Json
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Reads, checks and converts one `openapi:` entry; throws a problem list when it cannot. */
export async function importOpenApi(
  entry: OpenApiImportConfig,
  at: string,
  baseDir: string,
): Promise<ImportedRoutes | ConfigProblem[]> {
  const file = resolve(baseDir, entry.file)
  // URLs are not fetched: a config load must not depend on a network or reach one.
  const options = { resolve: { http: false } } as unknown as Parameters<typeof dereference>[1]
  let doc: Json
  try {
    const result = await validate(file, options)
    if (!result.valid) {
      return result.errors.map((e) => ({
        path: `${at}.file`,
        reason: `${entry.file}: ${e.message}`,
      }))
    }
    doc = (await dereference(file, {
      ...options,
      dereference: { circular: false },
    })) as unknown as Json
  } catch (error) {
    return [{ path: `${at}.file`, reason: `${entry.file}: ${(error as Error).message}` }]
  }
  const version = typeof doc['openapi'] === 'string' ? doc['openapi'] : ''
  if (!version.startsWith('3.0') && !version.startsWith('3.1')) {
    return [{ path: `${at}.file`, reason: `${entry.file}: only OpenAPI 3.0 and 3.1 are imported` }]
  }
  const importer = new DocumentImporter(entry, at, doc, version.startsWith('3.0'))
  return importer.run()
}

class DocumentImporter {
  readonly routes: ImportedRoute[] = []
  readonly warnings: ConfigProblem[] = []
  readonly #entry: OpenApiImportConfig
  readonly #at: string
  readonly #doc: Json
  readonly #version3_0: boolean
  readonly #schemes: Json

  constructor(entry: OpenApiImportConfig, at: string, doc: Json, version3_0: boolean) {
    this.#entry = entry
    this.#at = at
    this.#doc = doc
    this.#version3_0 = version3_0
    const components = isObject(doc['components']) ? doc['components'] : {}
    this.#schemes = isObject(components['securitySchemes']) ? components['securitySchemes'] : {}
  }

  run(): ImportedRoutes {
    const paths = isObject(this.#doc['paths']) ? this.#doc['paths'] : {}
    for (const [path, item] of Object.entries(paths)) {
      if (!isObject(item)) continue
      for (const method of OPERATION_METHODS) {
        const operation = item[method]
        if (isObject(operation)) this.#operation(path, method.toUpperCase(), item, operation)
      }
    }
    return { routes: this.routes, warnings: this.warnings }
  }

  #warn(where: string, reason: string): void {
    this.warnings.push({ path: `${this.#at} ${where}`, reason })
  }

  #operation(path: string, method: string, item: Json, operation: Json): void {
    const where = `${method} ${path}`
    const security = this.#security(where, operation)
    if (security === null) return
    const validate = this.#validate(where, item, operation)
    const entry = this.#entry
    const id =
      typeof operation['operationId'] === 'string'
        ? operation['operationId']
        : `${method.toLowerCase()}${path.replace(/[{}]/g, '')}`
    const prefix = entry.name_prefix ?? `${entry.upstream}.`
    const name = (prefix + id.replace(/[^A-Za-z0-9_.-]+/g, '-')).slice(0, 64)
    const config: Json = {
      name,
      match: { paths: [entry.base_path + path], methods: [method] },
      upstream: entry.upstream,
      auth: security.auth,
      ...(security.scopes.length > 0 ? { scopes: security.scopes } : {}),
      ...(Object.keys(validate).length > 0
        ? { validate: { ...validate, reject_duplicate_keys: entry.reject_duplicate_keys } }
        : {}),
    }
    const methods = authMethods(security.auth)
    if (methods.includes('jwt') && entry.jwt !== undefined) config['jwt'] = entry.jwt
    if (methods.includes('api_key')) {
      const apiKey = entry.api_key ?? security.apiKey
      if (apiKey !== null) config['api_key'] = apiKey
    }
    this.routes.push({ at: `${this.#at} ${where}`, config })
  }

  /**
   * The route's auth and scopes. Requirements are alternatives (OpenAPI 3.1 §4.8.10.1) of schemes
   * that all apply; a route has one method list and one scope list, so several alternatives with
   * different scopes require all of them (a warning says so), never fewer.
   */
  #security(
    where: string,
    operation: Json,
  ): { auth: AuthConfig; scopes: string[]; apiKey: Json | null } | null {
    const requirements = operation['security'] ?? this.#doc['security']
    if (!Array.isArray(requirements) || requirements.length === 0) {
      return { auth: 'none', scopes: [], apiKey: null }
    }
    // An empty requirement makes authentication optional: the route cannot be both.
    if (requirements.some((r) => isObject(r) && Object.keys(r).length === 0)) {
      this.#warn(where, 'security makes authentication optional ({}): the route is public')
      return { auth: 'none', scopes: [], apiKey: null }
    }
    const methods = new Set<'jwt' | 'api_key'>()
    const scopeSets: string[][] = []
    let apiKey: Json | null = null
    for (const requirement of requirements) {
      if (!isObject(requirement)) continue
      const scopes: string[] = []
      let usable = true
      for (const [schemeName, listed] of Object.entries(requirement)) {
        const scheme = this.#schemes[schemeName]
        const method = isObject(scheme) ? methodOf(scheme) : null
        if (method === null) {
          this.#warn(
            where,
            `security scheme "${schemeName}" has no gateway method; that alternative is left out`,
          )
          usable = false
          break
        }
        methods.add(method)
        if (method === 'api_key' && isObject(scheme)) apiKey = apiKeyConfig(scheme)
        if (Array.isArray(listed)) scopes.push(...listed.map(String))
      }
      if (usable) scopeSets.push(scopes)
    }
    if (scopeSets.length === 0) {
      this.#warn(where, 'no security requirement the gateway can enforce: no route is made')
      return null
    }
    const scopes = [...new Set(scopeSets.flat())].sort()
    if (scopeSets.some((s) => s.length !== scopes.length)) {
      this.#warn(
        where,
        `alternatives with different scopes: the route requires all of ${scopes.join(' ')}`,
      )
    }
    let auth: AuthConfig
    if (this.#entry.auth !== undefined) {
      auth = this.#entry.auth
      const named = authMethods(auth)
      for (const method of methods) {
        if (!named.includes(method))
          this.#warn(where, `security asks for ${method}, which openapi auth does not name`)
      }
    } else auth = methods.size === 1 ? [...methods][0]! : { any: [...methods].sort() }
    return { auth, scopes, apiKey }
  }

  #validate(where: string, item: Json, operation: Json): Json {
    const params = new Map<string, Json>()
    for (const list of [item['parameters'], operation['parameters']]) {
      if (!Array.isArray(list)) continue
      for (const p of list)
        if (isObject(p)) params.set(`${String(p['in'])}:${String(p['name'])}`, p)
    }
    const groups: Record<'path' | 'query' | 'header', { properties: Json; required: string[] }> = {
      path: { properties: {}, required: [] },
      query: { properties: {}, required: [] },
      header: { properties: {}, required: [] },
    }
    for (const p of params.values()) {
      const name = String(p['name'])
      const location = p['in']
      if (location === 'cookie') {
        this.#warn(where, `cookie parameter "${name}" is not validated`)
        continue
      }
      if (location !== 'path' && location !== 'query' && location !== 'header') continue
      const key = location === 'header' ? name.toLowerCase() : name
      if (location === 'header' && IGNORED_HEADERS.has(key)) continue
      if (p['schema'] === undefined) {
        this.#warn(
          where,
          `${location} parameter "${name}" is described by content, not schema: not validated`,
        )
        continue
      }
      const style = p['style']
      const defaultStyle = location === 'query' ? 'form' : 'simple'
      if (
        (style !== undefined && style !== defaultStyle) ||
        (location === 'query' && p['explode'] === false)
      ) {
        this.#warn(
          where,
          `${location} parameter "${name}" uses a style the gateway does not parse: not validated`,
        )
        continue
      }
      const group = groups[location]
      group.properties[key] = toJsonSchema(p['schema'], this.#version3_0)
      if (p['required'] === true) group.required.push(key)
    }
    const out: Json = {}
    const asSchema = (g: { properties: Json; required: string[] }): Json => ({
      type: 'object',
      properties: g.properties,
      ...(g.required.length > 0 ? { required: g.required } : {}),
    })
    if (Object.keys(groups.path.properties).length > 0) out['path_params'] = asSchema(groups.path)
    if (Object.keys(groups.query.properties).length > 0) out['query'] = asSchema(groups.query)
    if (Object.keys(groups.header.properties).length > 0) out['headers'] = asSchema(groups.header)

    const body = operation['requestBody']
    if (isObject(body) && isObject(body['content'])) {
      const types = Object.keys(body['content'])
      const json = types.filter((t) => isJsonMediaType(t))
      if (json.length === 0 || json.length !== types.length) {
        this.#warn(
          where,
          `request body of ${types.filter((t) => !json.includes(t)).join(', ')} is not validated`,
        )
      } else {
        const media = (body['content'] as Json)[json[0]!]
        const schema = isObject(media) && media['schema'] !== undefined ? media['schema'] : true
        out['body'] = toJsonSchema(schema, this.#version3_0)
        out['body_required'] = body['required'] === true
      }
    }
    return out
  }
}

function methodOf(scheme: Json): 'jwt' | 'api_key' | null {
  const type = scheme['type']
  if (type === 'oauth2' || type === 'openIdConnect') return 'jwt'
  if (type === 'http' && String(scheme['scheme']).toLowerCase() === 'bearer') return 'jwt'
  if (type === 'apiKey' && (scheme['in'] === 'header' || scheme['in'] === 'query')) return 'api_key'
  return null
}

/** Where an apiKey scheme says the key is. */
function apiKeyConfig(scheme: Json): Json {
  const name = String(scheme['name'])
  return scheme['in'] === 'query' ? { query: name } : { header: name.toLowerCase() }
}

function authMethods(auth: AuthConfig): readonly string[] {
  if (typeof auth === 'string') return auth === 'none' ? [] : [auth]
  return 'any' in auth ? auth.any : auth.all
}
