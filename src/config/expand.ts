/**
 * The parts of a config that live in other files, read into it at load (and on every reload), so
 * that what the workers compile is one self-contained config: the `$ref`s of `validate:` schemas
 * (relative to the config file; bundled, so a recursive schema keeps its internal `$ref`s) and the
 * routes of `openapi:` documents (openapi/import.ts). Asynchronous: the parsers read files so.
 */
import { dirname, resolve } from 'node:path'
import { bundle } from '@apidevtools/json-schema-ref-parser'
import { PortcullisError, type ConfigProblem } from '../errors.js'
import { RouteSchema, type RouteConfig } from '../gateway/route-schema.js'
import { importOpenApi } from '../openapi/import.js'
import { METHODS } from '../router/methods.js'
import type { JsonSchema } from '../stages/validate/schema.js'
import { hasFileRef } from './file-refs.js'
import { validateConfig } from './load.js'
import type { GatewayConfig } from './schema.js'

const SCHEMA_KEYS = ['body', 'query', 'headers', 'path_params'] as const

export interface ExpandedConfig {
  readonly config: GatewayConfig
  /** What an import could not enforce (openapi:), for `check` and the logs. */
  readonly warnings: readonly ConfigProblem[]
  readonly problems: readonly ConfigProblem[]
}

export async function expandConfig(config: GatewayConfig, file: string): Promise<ExpandedConfig> {
  const problems: ConfigProblem[] = []
  const warnings: ConfigProblem[] = []
  const baseDir = dirname(resolve(file))
  const routes: RouteConfig[] = [...config.routes]
  for (let i = 0; i < config.openapi.length; i++) {
    const at = `openapi[${i}]`
    const imported = await importOpenApi(config.openapi[i]!, at, baseDir)
    if (Array.isArray(imported)) {
      problems.push(...imported)
      continue
    }
    warnings.push(...imported.warnings)
    for (const route of imported.routes) {
      try {
        routes.push(validateConfig(route.config, RouteSchema))
      } catch (error) {
        if (!(error instanceof PortcullisError)) throw error
        problems.push(
          ...error.problems.map((p) => ({ path: `${route.at}: ${p.path}`, reason: p.reason })),
        )
      }
    }
  }
  const base = resolve(file)
  for (let i = 0; i < routes.length; i++) {
    const validate = routes[i]!.validate
    if (validate === undefined || !hasFileRef(validate)) continue
    const at = `routes[${i}].validate`
    const copy = { ...validate }
    for (const key of SCHEMA_KEYS) {
      copy[key] = await resolveRefs(copy[key], base, `${at}.${key}`, problems)
    }
    for (const method of METHODS) {
      const own = copy[method]
      if (own === undefined) continue
      const ownCopy = { ...own }
      for (const key of SCHEMA_KEYS) {
        ownCopy[key] = await resolveRefs(ownCopy[key], base, `${at}.${method}.${key}`, problems)
      }
      copy[method] = ownCopy
    }
    routes[i] = { ...routes[i]!, validate: copy }
  }
  return { config: { ...config, routes }, warnings, problems }
}

async function resolveRefs(
  schema: JsonSchema | undefined,
  base: string,
  path: string,
  problems: ConfigProblem[],
): Promise<JsonSchema | undefined> {
  if (schema === undefined || typeof schema === 'boolean' || !hasFileRef(schema)) return schema
  try {
    // URLs are not fetched: a config load must not depend on a network or reach one.
    const options = { resolve: { http: false } } as unknown as Parameters<typeof bundle>[2]
    return (await bundle(base, structuredClone(schema) as object, options)) as JsonSchema
  } catch (error) {
    problems.push({ path, reason: `cannot resolve $ref: ${(error as Error).message}` })
    return schema
  }
}
