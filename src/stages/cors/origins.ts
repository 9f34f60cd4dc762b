/**
 * The origins a CORS policy allows, compiled once: a Set of exact origins and a list of suffix
 * patterns. A request's Origin is compared as browsers serialize it (Fetch standard §3.2.1, RFC
 * 6454 §6.1): lower-case scheme and host, the port only when it is not the scheme's default, no
 * path. Config entries are brought to that form, so `HTTPS://App.Example.com:443` allows
 * `https://app.example.com`.
 *
 * A pattern `https://*.example.com` allows `https://a.example.com` and `https://a.b.example.com`:
 * the same scheme, the same port (none here), and one or more whole labels of letters, digits
 * and "-" before `.example.com`. It never allows `https://example.com` itself, nor
 * `https://evil-example.com`, `http://a.example.com` or `https://a.example.com:8443`.
 */
import type { ConfigProblem } from '../../errors.js'

const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443' }

const LABEL = '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?'
/** scheme://host[:port], host a name, an IPv4 address or a bracketed IPv6 address. */
const ORIGIN = new RegExp(
  `^([a-z][a-z0-9+.-]*)://(${LABEL}(?:\\.${LABEL})*|\\[[0-9a-f:.]+\\])(?::(\\d{1,5}))?$`,
)
/** scheme://*.domain[:port], the domain of at least two labels (`*.com` would allow too much). */
const PATTERN = new RegExp(
  `^([a-z][a-z0-9+.-]*)://\\*\\.(${LABEL}(?:\\.${LABEL})+)(?::(\\d{1,5}))?$`,
)

/** One suffix pattern: the origin must start with `prefix` and end with `suffix`. */
interface OriginSuffix {
  /** `https://` */
  readonly prefix: string
  /** `.example.com`, or `.example.com:8443` */
  readonly suffix: string
}

export class OriginMatcher {
  /** `*`: every origin. */
  readonly any: boolean
  readonly #exact: ReadonlySet<string>
  readonly #suffixes: readonly OriginSuffix[]

  constructor(any: boolean, exact: ReadonlySet<string>, suffixes: readonly OriginSuffix[]) {
    this.any = any
    this.#exact = exact
    this.#suffixes = suffixes
  }

  /** Whether a request's Origin value is allowed (`*` aside: the caller answers that one). */
  allows(origin: string): boolean {
    if (this.any || this.#exact.has(origin)) return true
    const suffixes = this.#suffixes
    for (let i = 0; i < suffixes.length; i++) {
      if (matchesSuffix(origin, suffixes[i]!)) return true
    }
    return false
  }
}

function matchesSuffix(origin: string, pattern: OriginSuffix): boolean {
  const start = pattern.prefix.length
  const end = origin.length - pattern.suffix.length
  if (end <= start || !origin.startsWith(pattern.prefix) || !origin.endsWith(pattern.suffix)) {
    return false
  }
  // Whole labels only: no ':' (a port), '/', '@' or empty label may hide in the wildcard part.
  let previous = 46 /* . */
  for (let i = start; i < end; i++) {
    const c = origin.charCodeAt(i)
    if (c === 46) {
      if (previous === 46) return false
    } else if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 /* - */)) {
      return false
    }
    previous = c
  }
  return previous !== 46
}

/**
 * Compiles `origins` entries (at `path`); a bad entry is a problem naming it. Returns null when
 * an entry has a problem.
 */
export function compileOrigins(
  entries: readonly string[],
  path: string,
  problems: ConfigProblem[],
): OriginMatcher | null {
  let any = false
  let valid = true
  const exact = new Set<string>()
  const suffixes: OriginSuffix[] = []
  entries.forEach((entry, i) => {
    const at = `${path}[${i}]`
    if (entry === '*') {
      any = true
      return
    }
    const text = entry.toLowerCase()
    const origin = ORIGIN.exec(text)
    if (origin !== null) {
      const port = serializedPort(origin[1]!, origin[3], at, problems)
      if (port === null) valid = false
      else exact.add(`${origin[1]!}://${origin[2]!}${port}`)
      return
    }
    const pattern = PATTERN.exec(text)
    if (pattern !== null) {
      const port = serializedPort(pattern[1]!, pattern[3], at, problems)
      if (port === null) valid = false
      else suffixes.push({ prefix: `${pattern[1]!}://`, suffix: `.${pattern[2]!}${port}` })
      return
    }
    valid = false
    problems.push({ path: at, reason: originReason(entry) })
  })
  return valid ? new OriginMatcher(any, exact, suffixes) : null
}

/** ':port' as browsers write it ('' for none or the scheme's default); null when out of range. */
function serializedPort(
  scheme: string,
  port: string | undefined,
  at: string,
  problems: ConfigProblem[],
): string | null {
  if (port === undefined) return ''
  const value = Number(port)
  if (value < 1 || value > 65535) {
    problems.push({ path: at, reason: `port ${port} is not from 1 to 65535` })
    return null
  }
  return DEFAULT_PORTS[scheme] === String(value) ? '' : `:${value}`
}

function originReason(entry: string): string {
  const shown = JSON.stringify(entry)
  if (entry === 'null') {
    return 'the opaque origin "null" (sandboxed frames, file: pages, redirects) cannot be allowed: any page can send it'
  }
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/]+\//i.test(entry)) {
    return `${shown} has a path: an origin is scheme://host[:port] only (browsers send no path)`
  }
  if (entry.includes('*')) {
    return `${shown}: a wildcard must be the whole leftmost label of a domain of at least two labels, as in https://*.example.com, or the single entry *`
  }
  return `${shown} is not an origin: write scheme://host[:port], e.g. https://app.example.com or http://localhost:3000`
}
