/**
 * Finds the route of a request in a compiled {@link RouteTable}. The most specific match wins:
 * an exact host before a wildcard host before any host; within a host, an exact path before a
 * template (`/users/{id}`, literal segments first) before the longest prefix. The most specific path that has routes decides the method: if none of its
 * routes takes the method, the answer is 405 with its Allow list, never a less specific route
 * (so a GET-only admin path can never fall through to a catch-all for POST).
 */
import type { CompiledRoute, PathLevel, PathTable, RouteTable } from './compile.js'
import { matchesTemplate, type PathTemplate } from './template.js'

export const MatchKind = { Found: 0, NotFound: 1, MethodNotAllowed: 2 } as const
export type MatchKind = (typeof MatchKind)[keyof typeof MatchKind]

/** Reused result object: matching allocates no result per request. */
export interface MatchResult {
  kind: MatchKind
  route: CompiledRoute | null
  /** Allow header value for 405. */
  allow: string
  /** For 405: the names of the routes on the matched path (PathLevel.names). */
  routeNames: string
  /** Length of the matched path spec, for strip_path. */
  prefixLength: number
  /** The template of a templated path that matched (its names to extract), else null. */
  template: PathTemplate | null
}

export function createMatchResult(): MatchResult {
  return {
    kind: MatchKind.NotFound,
    route: null,
    allow: '',
    routeNames: '',
    prefixLength: 0,
    template: null,
  }
}

export function matchRoute(
  table: RouteTable,
  host: string,
  path: string,
  method: string,
  out: MatchResult,
): MatchResult {
  out.kind = MatchKind.NotFound
  out.route = null
  out.template = null
  if (table.exactHosts.size > 0) {
    const t = table.exactHosts.get(host)
    if (t !== undefined && matchPath(t, path, method, out)) return out
  }
  const wild = table.wildcardHosts
  for (let i = 0; i < wild.length; i++) {
    const suffix = wild[i]![0]
    if (
      host.length > suffix.length &&
      host.endsWith(suffix) &&
      matchPath(wild[i]![1], path, method, out)
    ) {
      return out
    }
  }
  if (table.anyHost !== null) matchPath(table.anyHost, path, method, out)
  return out
}

/** True when this table decided (found, or 405); false lets a less specific host table try. */
function matchPath(table: PathTable, path: string, method: string, out: MatchResult): boolean {
  if (table.exact.size > 0) {
    const level = table.exact.get(path)
    if (level !== undefined) return pickMethod(level, method, out)
  }
  const templates = table.templates
  for (let i = 0; i < templates.length; i++) {
    const entry = templates[i]!
    if (matchesTemplate(entry.template, path)) {
      out.template = entry.template
      return pickMethod(entry.level, method, out)
    }
  }
  const prefixes = table.prefix
  if (prefixes.size === 0) return false
  // Walk the segment boundaries from the longest: /a/b/c → /a/b/c, /a/b, /a, '' (the /* root).
  let end = path.length
  if (path.charCodeAt(end - 1) === 47 /* / */) end--
  for (;;) {
    const level = prefixes.get(end === path.length ? path : path.slice(0, end))
    if (level !== undefined) return pickMethod(level, method, out)
    if (end <= 0) return false
    end = path.lastIndexOf('/', end - 1)
    if (end < 0) return false
  }
}

function pickMethod(level: PathLevel, method: string, out: MatchResult): boolean {
  const routes = level.routes
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i]!
    if (route.methods === null || route.methods.has(method)) {
      out.kind = MatchKind.Found
      out.route = route
      out.prefixLength = level.prefixLength
      return true
    }
  }
  out.kind = MatchKind.MethodNotAllowed
  out.allow = level.allow
  out.routeNames = level.names
  return true
}
