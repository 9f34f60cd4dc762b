/**
 * The stage registry: the list of stage definitions, which a route's config keys and pipeline are
 * built from. Adding a stage takes its folder (index.ts exporting a StageDefinition, schema.ts),
 * its entry in pipeline/order.ts and its entry in {@link STAGES}: the route schema
 * (route-schema.ts) takes its keys from here, and the runtime compiles every route through here.
 */
import type { Static, TObject } from '@sinclair/typebox'
import type { ConfigProblem } from '../errors.js'
import { stageRank } from '../pipeline/order.js'
import type { RouteBuild, RouteProduct, Stage } from '../pipeline/stage.js'
import { authenticate } from '../stages/authenticate/index.js'
import { authorize } from '../stages/authorize/index.js'
import { cors } from '../stages/cors/index.js'
import { forward } from '../stages/forward/index.js'
import { ipRestriction } from '../stages/ip-restriction/index.js'
import { rateLimit } from '../stages/rate-limit/index.js'
import { validate } from '../stages/validate/index.js'

/**
 * Every stage folder's definition. Compiled in this order, so a definition that reads another's
 * product (authenticate's challenges, rate-limit's fields for cors) comes after it; the
 * pipeline's order is order.ts's.
 */
export const STAGES = [
  ipRestriction,
  authenticate,
  authorize,
  rateLimit,
  cors,
  validate,
  forward,
] as const

type Definition = (typeof STAGES)[number]

type Intersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void
  ? I
  : never

/** Every route key the stages own, with its schema (`auth`, `jwt`, `scopes`…). */
export type StageRouteKeys = Intersection<Definition['schema']>

/** A route's config as the stages see it: their keys, and the route's name. */
export type StageRouteConfig = Static<TObject<StageRouteKeys>> & { readonly name: string }

/** What the stages ask for, together: the runtime provides one of these per generation. */
export type StageServices = Intersection<
  Definition extends infer D
    ? D extends { compile(config: never, route: RouteBuild, services: infer S): unknown }
      ? S
      : never
    : never
>

/** The route keys of every stage, in the registry's order. */
export function stageRouteKeys(): StageRouteKeys {
  return Object.assign({}, ...STAGES.map((definition) => definition.schema)) as StageRouteKeys
}

function isStageList(compiled: Stage | readonly Stage[]): compiled is readonly Stage[] {
  return Array.isArray(compiled)
}

/** The route a definition compiles for, and what the definitions before it provided. */
class RouteBuilder implements RouteBuild {
  readonly name: string
  readonly path: string
  readonly problems: ConfigProblem[]
  readonly #products = new Map<RouteProduct<unknown>, unknown>()

  constructor(name: string, path: string, problems: ConfigProblem[]) {
    this.name = name
    this.path = path
    this.problems = problems
  }

  provide<T>(product: RouteProduct<T>, value: T): void {
    this.#products.set(product, value)
  }

  product<T>(product: RouteProduct<T>): T | undefined {
    return this.#products.get(product) as T | undefined
  }
}

/**
 * A route's pipeline, in the one order of pipeline/order.ts whatever the config says. `config` is
 * the whole route: each definition reads its own keys of it.
 */
export function compilePipeline(
  config: StageRouteConfig,
  path: string,
  services: StageServices,
  problems: ConfigProblem[],
): Stage[] {
  const route = new RouteBuilder(config.name, path, problems)
  const stages: Stage[] = []
  for (const definition of STAGES) {
    const compiled = definition.compile(config, route, services)
    if (compiled === null) continue
    if (isStageList(compiled)) stages.push(...compiled)
    else stages.push(compiled)
  }
  return stages.sort((a, b) => stageRank(a.name) - stageRank(b.name))
}
