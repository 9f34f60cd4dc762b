/**
 * Compiles the routes of a config into a table that matching walks without allocating much:
 * hosts first (exact, then wildcard, then any), then paths (exact, then prefixes from the longest),
 * then methods. Built once at load and on reload, from routes that overlaps.ts found apart.
 */
import type { RouteMeter } from '../observability/metrics/meter.js'
import type { Stage } from '../pipeline/stage.js'
import type { Upstream } from '../proxy/upstream.js'
import type { MatchConfig } from './schema.js'
import {
  compareTemplates,
  isPathTemplate,
  parsePathTemplate,
  type PathTemplate,
} from './template.js'

/** Everything a request needs from its route, resolved at compile time. */
export interface CompiledRoute {
  readonly name: string
  readonly upstream: Upstream
  readonly stages: readonly Stage[]
  readonly responseStages: readonly Stage[]
  readonly finishStages: readonly Stage[]
  /** The stages that read the whole body (Stage.onBody); empty on most routes. */
  readonly bodyStages: readonly Stage[]
  /** Methods this route answers (HEAD included when GET is), or null for every method. */
  readonly methods: ReadonlySet<string> | null
  /** Length of the prefix to strip from the path before forwarding; 0 when strip_path is off. */
  readonly stripPrefix: boolean
  readonly maxBodyBytes: number
  /** Bodies up to this size are received whole before the upstream request (limits.buffer_body). */
  readonly bufferBodyBytes: number
  readonly timeoutMs: number
  readonly websocket: boolean
  /**
   * The route has a cors stage: it answers preflights for its methods (request-path.ts) and its
   * answers carry the gateway's CORS fields, never the upstream's.
   */
  readonly ownsCors: boolean
  /** Strict-Transport-Security value for TLS listeners (routes[].hsts), or null. */
  readonly hsts: string | null
  /** Its requests and durations for /metrics; null when metrics are off. */
  readonly meter: RouteMeter | null
}

export interface RouteEntry {
  readonly route: CompiledRoute
  readonly match: MatchConfig
  /** Index in the config's routes, for error paths. */
  readonly index: number
}

/** The routes sharing one host spec and one path spec: they differ by method. */
export interface PathLevel {
  readonly routes: readonly CompiledRoute[]
  /** Value of the Allow header of a 405 at this level; '' when some route takes every method. */
  readonly allow: string
  /** Names of its routes, comma-separated: the access log's route of a 405 at this level. */
  readonly names: string
  /** Length of the matched path spec (for strip_path): the exact path, or the prefix before /*. */
  readonly prefixLength: number
}

/** The routes of one template shape (`/users/{}`), and the template that extracts its names. */
export interface TemplateLevel {
  readonly template: PathTemplate
  readonly level: PathLevel
}

export interface PathTable {
  readonly exact: ReadonlyMap<string, PathLevel>
  /** Templated paths, the most specific first (template.ts compareTemplates); tried after exact. */
  readonly templates: readonly TemplateLevel[]
  /** Keys are prefixes without the trailing '/*' ('' for '/*'). */
  readonly prefix: ReadonlyMap<string, PathLevel>
}

export interface RouteTable {
  readonly exactHosts: ReadonlyMap<string, PathTable>
  /** Wildcard hosts as their suffix ('.example.com'), longest first. */
  readonly wildcardHosts: readonly (readonly [string, PathTable])[]
  readonly anyHost: PathTable | null
  readonly routeCount: number
}

interface MutablePathTable {
  exact: Map<string, RouteEntry[]>
  prefix: Map<string, RouteEntry[]>
  /** By shape; the template of the first route on it (overlaps.ts makes the others agree). */
  templates: Map<string, { template: PathTemplate; entries: RouteEntry[] }>
}

export function compileRouteTable(entries: readonly RouteEntry[]): RouteTable {
  const byHost = new Map<string, MutablePathTable>()
  const ANY = '\0any'

  for (const entry of entries) {
    const hosts = entry.match.hosts?.map((h) => h.toLowerCase()) ?? [ANY]
    for (const host of new Set(hosts)) {
      let table = byHost.get(host)
      if (table === undefined) {
        byHost.set(host, (table = { exact: new Map(), prefix: new Map(), templates: new Map() }))
      }
      for (const spec of new Set(entry.match.paths)) {
        if (isPathTemplate(spec)) {
          const template = parsePathTemplate(spec)
          // An invalid template was reported when its route compiled.
          if (typeof template === 'string') continue
          const known = table.templates.get(template.shape)
          if (known === undefined)
            table.templates.set(template.shape, { template, entries: [entry] })
          else known.entries.push(entry)
          continue
        }
        const isPrefix = spec.endsWith('/*')
        const key = isPrefix ? spec.slice(0, -2) : spec
        const map = isPrefix ? table.prefix : table.exact
        const list = map.get(key)
        if (list === undefined) map.set(key, [entry])
        else list.push(entry)
      }
    }
  }

  const finish = (table: MutablePathTable): PathTable => ({
    exact: finishLevels(table.exact),
    templates: finishTemplates(table.templates),
    prefix: finishLevels(table.prefix),
  })
  const exactHosts = new Map<string, PathTable>()
  const wildcardHosts: [string, PathTable][] = []
  let anyHost: PathTable | null = null
  for (const [host, table] of byHost) {
    if (host === ANY) anyHost = finish(table)
    else if (host.startsWith('*.')) wildcardHosts.push([host.slice(1), finish(table)])
    else exactHosts.set(host, finish(table))
  }
  wildcardHosts.sort((a, b) => b[0].length - a[0].length)
  return { exactHosts, wildcardHosts, anyHost, routeCount: entries.length }
}

function finishLevels(levels: Map<string, RouteEntry[]>): Map<string, PathLevel> {
  const out = new Map<string, PathLevel>()
  for (const [key, entries] of levels) out.set(key, finishLevel(entries, key.length))
  return out
}

function finishTemplates(
  templates: Map<string, { template: PathTemplate; entries: RouteEntry[] }>,
): TemplateLevel[] {
  return [...templates.values()]
    .map(({ template, entries }) => ({ template, level: finishLevel(entries, 0) }))
    .sort((a, b) => compareTemplates(a.template, b.template))
}

function finishLevel(entries: readonly RouteEntry[], prefixLength: number): PathLevel {
  const routes = [...new Set(entries.map((e) => e.route))]
  const takesAll = routes.some((r) => r.methods === null)
  const allow = takesAll
    ? ''
    : [...new Set(routes.flatMap((r) => [...r.methods!]))].sort().join(', ')
  const names = routes.map((r) => r.name).join(',')
  return { routes, allow, names, prefixLength }
}

/** The method set of a route: GET implies HEAD (RFC 9110 §9.3.2). */
export function compileMethods(methods: readonly string[] | undefined): ReadonlySet<string> | null {
  if (methods === undefined) return null
  const set = new Set(methods)
  if (set.has('GET')) set.add('HEAD')
  return set
}
