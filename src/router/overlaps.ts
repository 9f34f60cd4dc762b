/**
 * Routes that could take the same request. The table picks one route per host, path and method;
 * two routes sharing all three would make the outcome depend on config order, so the config is
 * refused instead of guessing.
 */
import type { ConfigProblem } from '../errors.js'
import { compileMethods } from './compile.js'
import { isPathTemplate, parsePathTemplate } from './template.js'

/** What overlap detection reads of a route: its match, as written. */
export interface RouteMatchOf {
  /** Position in the config's routes, for the problem's path. */
  readonly index: number
  readonly name: string
  /** Absent: any host. */
  readonly hosts: readonly string[] | undefined
  readonly paths: readonly string[]
  /** Absent: every method. */
  readonly methods: readonly string[] | undefined
}

const ANY_HOST = '\0any'

/** One problem, at the later route's `match`, per host and path spec two routes share. */
export function findOverlaps(routes: readonly RouteMatchOf[]): ConfigProblem[] {
  // host → path spec → the routes on it, in config order.
  const byHost = new Map<string, Map<string, RouteMatchOf[]>>()
  for (const route of routes) {
    for (const host of new Set(route.hosts?.map((h) => h.toLowerCase()) ?? [ANY_HOST])) {
      let specs = byHost.get(host)
      if (specs === undefined) byHost.set(host, (specs = new Map()))
      for (const spec of new Set(route.paths.map(shapeOf))) {
        const list = specs.get(spec)
        if (list === undefined) specs.set(spec, [route])
        else list.push(route)
      }
    }
  }
  const problems: ConfigProblem[] = findNameConflicts(routes)
  for (const specs of byHost.values()) {
    for (const [spec, list] of specs) {
      for (let i = 0; i < list.length; i++) {
        for (let j = i + 1; j < list.length; j++) {
          const a = list[i]!
          const b = list[j]!
          const shared = sharedMethods(compileMethods(a.methods), compileMethods(b.methods))
          if (shared === null) continue
          problems.push({
            path: `routes[${b.index}].match`,
            reason:
              `overlaps route "${a.name}" (routes[${a.index}]) on path ${spec}` +
              `${shared === '' ? '' : ` for ${shared}`}; give them different hosts, paths or methods`,
          })
        }
      }
    }
  }
  return problems
}

/** null when the two method sets are disjoint; '' when either takes every method. */
function sharedMethods(
  a: ReadonlySet<string> | null,
  b: ReadonlySet<string> | null,
): string | null {
  if (a === null || b === null) return ''
  const shared = [...a].filter((m) => b.has(m))
  return shared.length === 0 ? null : shared.join(', ')
}

/** `/users/{id}` and `/users/{uid}` match the same requests: both are `/users/{}`. */
function shapeOf(spec: string): string {
  if (!isPathTemplate(spec)) return spec
  const template = parsePathTemplate(spec)
  return typeof template === 'string' ? spec : template.shape
}

/**
 * Routes of one template shape must name its segments alike: the router extracts one set of
 * names per shape, and two spellings of one path would be a trap for whoever reads the config.
 */
function findNameConflicts(routes: readonly RouteMatchOf[]): ConfigProblem[] {
  const seen = new Map<string, { spec: string; route: RouteMatchOf }>()
  const problems: ConfigProblem[] = []
  for (const route of routes) {
    for (const spec of route.paths) {
      if (!isPathTemplate(spec)) continue
      const template = parsePathTemplate(spec)
      if (typeof template === 'string') continue
      const first = seen.get(template.shape)
      if (first === undefined) seen.set(template.shape, { spec, route })
      else if (first.spec !== spec) {
        problems.push({
          path: `routes[${route.index}].match.paths[${route.paths.indexOf(spec)}]`,
          reason:
            `${spec} names the segments of ${first.spec} (route "${first.route.name}") ` +
            'differently; use the same names',
        })
      }
    }
  }
  return problems
}
