/**
 * Path templates: a route path whose segments may be named (`/users/{id}/posts/{post}`), as
 * OpenAPI's path templating (OpenAPI 3.1 §4.8.2) spells them. A named segment matches one whole,
 * non-empty segment; the router tries templates after exact paths and before prefixes, so
 * `/users/me` (exact) wins over `/users/{id}`, and only paths with templates pay for them.
 */

/** A compiled template: literal segments as strings, named ones as null. */
export interface PathTemplate {
  readonly spec: string
  readonly segments: readonly (string | null)[]
  /** The names of the null segments, in order. */
  readonly names: readonly string[]
  /** The spec with every name erased (`/users/{}`): two templates with one shape match alike. */
  readonly shape: string
}

const NAMED = /^\{([A-Za-z_][A-Za-z0-9_.-]*)\}$/

export function isPathTemplate(spec: string): boolean {
  return spec.includes('{') || spec.includes('}')
}

/** The template of `spec`, or the reason it is not one. */
export function parsePathTemplate(spec: string): PathTemplate | string {
  if (spec.endsWith('/*')) {
    return 'a path with named segments cannot also be a prefix (/*); name every segment instead'
  }
  const parts = spec.slice(1).split('/')
  const segments: (string | null)[] = []
  const names: string[] = []
  for (const part of parts) {
    const named = NAMED.exec(part)
    if (named !== null) {
      if (names.includes(named[1]!)) return `names the segment {${named[1]}} twice`
      names.push(named[1]!)
      segments.push(null)
    } else if (part.includes('{') || part.includes('}')) {
      return `segment "${part}" must be a whole {name} (letters, digits, "_", "." or "-") or hold no braces`
    } else {
      segments.push(part)
    }
  }
  const shape = '/' + segments.map((s) => (s === null ? '{}' : s)).join('/')
  return { spec, segments, names, shape }
}

/** Literal segments before named ones, position by position: the most specific template first. */
export function compareTemplates(a: PathTemplate, b: PathTemplate): number {
  const n = Math.min(a.segments.length, b.segments.length)
  for (let i = 0; i < n; i++) {
    const x = a.segments[i] === null ? 1 : 0
    const y = b.segments[i] === null ? 1 : 0
    if (x !== y) return x - y
  }
  return a.segments.length - b.segments.length
}

/** Whether a normalized path fits the template; walks the path in place, allocating nothing. */
export function matchesTemplate(template: PathTemplate, path: string): boolean {
  const segments = template.segments
  let at = 1
  for (let i = 0; i < segments.length; i++) {
    if (at > path.length) return false
    let end = path.indexOf('/', at)
    if (end < 0) end = path.length
    // The last segment must end the path; every other one must not.
    if ((end === path.length) !== (i === segments.length - 1)) return false
    const literal = segments[i]!
    if (literal === null) {
      if (end === at) return false
    } else if (end - at !== literal.length || !path.startsWith(literal, at)) return false
    at = end + 1
  }
  return true
}

/** The named segments of a path the template matched: [name, value, name, value…]. */
export function templateParams(template: PathTemplate, path: string): string[] {
  const out: string[] = []
  const segments = template.segments
  let at = 1
  let named = 0
  for (let i = 0; i < segments.length; i++) {
    let end = path.indexOf('/', at)
    if (end < 0) end = path.length
    if (segments[i] === null) out.push(template.names[named++]!, path.slice(at, end))
    at = end + 1
  }
  return out
}
