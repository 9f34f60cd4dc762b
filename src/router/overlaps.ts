/**
 * Routes that could take the same request. The table picks one route per host, path and method;
 * two routes sharing all three would make the outcome depend on config order, so the config is
 * refused instead of guessing.
 */
import type { ConfigProblem } from '../errors.js'
import { compileMethods } from './compile.js'

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
      for (const spec of new Set(route.paths)) {
        const list = specs.get(spec)
        if (list === undefined) specs.set(spec, [route])
        else list.push(route)
      }
    }
  }
  const problems: ConfigProblem[] = []
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
