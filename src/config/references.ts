/**
 * The rules between sections of a gateway config: route names are unique, what a route names
 * (its upstream, issuers, introspectors and rate-limit policies) exists, and no two routes take the same
 * request. They read the config as written and skip what is malformed, so they also run on a
 * config the schema refused: its problems are then listed with the schema's, all at once.
 */
import type { ConfigProblem } from '../errors.js'
import { findOverlaps, type RouteMatchOf } from '../router/overlaps.js'

/** Every cross-reference problem of `data` (a parsed config, valid or not), in config order. */
export function checkReferences(data: unknown): ConfigProblem[] {
  if (!isRecord(data) || !Array.isArray(data['routes'])) return []
  const routes: readonly unknown[] = data['routes']
  const upstreams = keysOf(data['upstreams'] ?? {})
  const policies = keysOf(data['rate_limits'] ?? {})
  const issuers = entryNames(data['issuers'] ?? [])
  const introspectors = entryNames(data['introspectors'] ?? [])
  const problems: ConfigProblem[] = []
  const seen = new Map<string, number>()
  const matches: RouteMatchOf[] = []
  routes.forEach((route, index) => {
    if (!isRecord(route)) return
    const path = `routes[${index}]`
    const name = route['name']
    if (typeof name === 'string') {
      const earlier = seen.get(name)
      if (earlier !== undefined) {
        problems.push({
          path: `${path}.name`,
          reason: `"${name}" is already the name of routes[${earlier}]`,
        })
      } else seen.set(name, index)
    }
    const upstream = route['upstream']
    if (upstreams !== null && typeof upstream === 'string' && !upstreams.includes(upstream)) {
      problems.push({
        path: `${path}.upstream`,
        reason: unknownName('upstream', upstream, upstreams),
      })
    }
    const jwt = route['jwt']
    if (issuers !== null && isRecord(jwt) && Array.isArray(jwt['issuers'])) {
      jwt['issuers'].forEach((issuer: unknown, i) => {
        if (typeof issuer === 'string' && !issuers.includes(issuer)) {
          problems.push({
            path: `${path}.jwt.issuers[${i}]`,
            reason: unknownName('issuer', issuer, issuers),
          })
        }
      })
    }
    const introspection = route['introspection']
    if (
      introspectors !== null &&
      isRecord(introspection) &&
      Array.isArray(introspection['introspectors'])
    ) {
      introspection['introspectors'].forEach((name: unknown, i) => {
        if (typeof name === 'string' && !introspectors.includes(name)) {
          problems.push({
            path: `${path}.introspection.introspectors[${i}]`,
            reason: unknownName('introspector', name, introspectors, 'introspectors'),
          })
        }
      })
    }
    const limits = route['rate_limit']
    if (policies !== null) {
      const named = typeof limits === 'string' ? [limits] : Array.isArray(limits) ? limits : []
      named.forEach((policy: unknown, i) => {
        if (typeof policy === 'string' && !policies.includes(policy)) {
          problems.push({
            path: typeof limits === 'string' ? `${path}.rate_limit` : `${path}.rate_limit[${i}]`,
            reason: unknownName('policy', policy, policies, 'rate_limits'),
          })
        }
      })
    }
    const match = matchOf(route, index)
    if (match !== null) matches.push(match)
  })
  problems.push(...findOverlaps(matches))
  return problems
}

/** `no upstream named "x" (defined: a, b)`. */
function unknownName(kind: string, name: string, known: readonly string[], where?: string): string {
  const list = known.length === 0 ? 'none' : known.join(', ')
  return `no ${kind} named "${name}" (defined${where === undefined ? '' : ` in ${where}`}: ${list})`
}

/** A route's match as overlap detection reads it, or null when it is too malformed to say. */
function matchOf(route: Record<string, unknown>, index: number): RouteMatchOf | null {
  const match = route['match']
  if (!isRecord(match)) return null
  const paths = strings(match['paths'])
  const hosts = match['hosts'] === undefined ? undefined : strings(match['hosts'])
  const methods = match['methods'] === undefined ? undefined : strings(match['methods'])
  if (paths === null || hosts === null || methods === null) return null
  const name = typeof route['name'] === 'string' ? route['name'] : `routes[${index}]`
  return { index, name, hosts, paths, methods }
}

/** The keys of a map section, or null when it is not a map (the schema reports that). */
function keysOf(value: unknown): string[] | null {
  return isRecord(value) ? Object.keys(value) : null
}

function entryNames(value: unknown): string[] | null {
  if (!Array.isArray(value)) return null
  return value.flatMap((entry: unknown) =>
    isRecord(entry) && typeof entry['name'] === 'string' ? [entry['name']] : [],
  )
}

/** A list of strings, or null when it is not one. */
function strings(value: unknown): string[] | null {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : null
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
