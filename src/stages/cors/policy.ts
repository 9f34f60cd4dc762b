/**
 * A `cors:` config compiled once (the top-level default once per generation, a route's own once
 * per route): the origin matcher, the method and header sets, and the header values that do not
 * change between requests.
 */
import { parseDuration } from '../../config/units.js'
import type { ConfigProblem } from '../../errors.js'
import { compileOrigins, type OriginMatcher } from './origins.js'
import type { CorsConfig } from './schema.js'

export interface CorsPolicy {
  readonly origins: OriginMatcher
  readonly credentials: boolean
  /** The methods a preflight may ask for; null: every method the route takes. */
  readonly methods: ReadonlySet<string> | null
  /** Access-Control-Allow-Methods of a preflight; '' when `methods` is null (the asked one). */
  readonly methodsValue: string
  /** Lower-case names a preflight may ask for; null: any (`*`). */
  readonly allowHeaders: ReadonlySet<string> | null
  /** Access-Control-Allow-Headers of a preflight when allowHeaders is a set ('' when empty). */
  readonly allowHeadersValue: string
  /** Lower-case names of expose_headers, `*` included as written. */
  readonly exposeHeaders: readonly string[]
  /** Access-Control-Max-Age, whole seconds. */
  readonly maxAgeValue: string
}

const WILDCARD_WITH_CREDENTIALS =
  'cannot be * with credentials: true: browsers refuse a wildcard on credentialed requests ' +
  '(Fetch standard, CORS protocol); list the names instead, or turn credentials off'

/** Compiles a `cors:` config found at `path`; null when it has a problem. */
export function compileCorsPolicy(
  config: CorsConfig,
  path: string,
  problems: ConfigProblem[],
): CorsPolicy | null {
  const before = problems.length
  const origins = compileOrigins(config.origins, `${path}.origins`, problems)
  if (config.credentials) {
    const wildcard = (list: readonly string[], key: string): void => {
      const at = list.indexOf('*')
      if (at >= 0)
        problems.push({ path: `${path}.${key}[${at}]`, reason: WILDCARD_WITH_CREDENTIALS })
    }
    wildcard(config.origins, 'origins')
    wildcard(config.allow_headers, 'allow_headers')
    wildcard(config.expose_headers, 'expose_headers')
  }
  if (origins === null || problems.length > before) return null
  const allowNames = config.allow_headers.map((name) => name.toLowerCase())
  const anyHeader = allowNames.includes('*')
  return {
    origins,
    credentials: config.credentials,
    methods: config.methods === undefined ? null : new Set(config.methods),
    methodsValue: config.methods?.join(', ') ?? '',
    allowHeaders: anyHeader ? null : new Set(allowNames),
    allowHeadersValue: anyHeader ? '' : allowNames.join(', '),
    exposeHeaders: [...new Set(config.expose_headers.map((name) => name.toLowerCase()))],
    maxAgeValue: String(Math.floor(parseDuration(config.max_age) / 1000)),
  }
}
