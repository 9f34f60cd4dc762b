/**
 * `${NAME}` references to environment variables in config values.
 *
 * Interpolation runs on the parsed tree, never on the file's text: an environment value is only
 * ever the content of one string, so it cannot add keys, list items or YAML/JSON syntax. Keys are
 * left alone so the shape of the config is fixed by the file.
 *
 * - `${NAME}`: the value of NAME; an error if NAME is unset (an empty value is a value).
 * - `${NAME:-default}`: the value of NAME, or `default` if NAME is unset or empty. The default is
 *   taken literally and cannot contain `}`.
 * - `$${`: a literal `${` (so `$${NAME}` is the text `${NAME}`). Any other `$` is literal.
 */
import { PortcullisError, type ConfigProblem } from '../errors.js'
import { formatPathSegments, type PathSegment } from './validate.js'

// One scan finds, in order: an escaped `$${`, a complete `${…}`, or an unterminated `${`.
const TOKEN_RE = /\$\$\{|\$\{([^}]*)\}|\$\{/g
const REFERENCE_RE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([^]*))?$/

/** Returns a copy of `tree` with references replaced; throws PCL_ERR_CONFIG_ENV listing all. */
export function interpolateEnv(tree: unknown, env: NodeJS.ProcessEnv): unknown {
  const problems: ConfigProblem[] = []
  const result = walk(tree, [], env, problems)
  if (problems.length > 0) {
    throw new PortcullisError(
      'PCL_ERR_CONFIG_ENV',
      'configuration refers to environment variables that are not available',
      problems,
    )
  }
  return result
}

function walk(
  node: unknown,
  path: PathSegment[],
  env: NodeJS.ProcessEnv,
  problems: ConfigProblem[],
): unknown {
  if (typeof node === 'string') return interpolateString(node, path, env, problems)
  if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i], env, problems))
  if (node !== null && typeof node === 'object') {
    // fromEntries defines own properties, so a `__proto__` key stays a plain key of the copy.
    return Object.fromEntries(
      Object.entries(node).map(([key, value]) => [key, walk(value, [...path, key], env, problems)]),
    )
  }
  return node
}

function interpolateString(
  text: string,
  path: readonly PathSegment[],
  env: NodeJS.ProcessEnv,
  problems: ConfigProblem[],
): string {
  if (!text.includes('${')) return text
  const reported = new Set<string>()
  const report = (reason: string): void => {
    if (reported.has(reason)) return
    reported.add(reason)
    problems.push({ path: formatPathSegments(path), reason })
  }
  return text.replace(TOKEN_RE, (token: string, inner: string | undefined) => {
    if (token === '$${') return '${'
    if (inner === undefined) {
      report(
        `${JSON.stringify(excerpt(text))} has a "\${" without a closing "}" (write $\${ for a literal "\${")`,
      )
      return token
    }
    const reference = REFERENCE_RE.exec(inner)
    const name = reference?.[1]
    if (reference === null || name === undefined) {
      report(
        `"${token}" is not a valid reference: use \${NAME} or \${NAME:-default}, where NAME is letters, digits and "_" not starting with a digit (write $\${ for a literal "\${")`,
      )
      return token
    }
    const fallback = reference[2]
    // Own properties only: `${constructor}` must not find Object.prototype.constructor.
    const value = Object.hasOwn(env, name) ? env[name] : undefined
    if (typeof value === 'string' && (value !== '' || fallback === undefined)) return value
    if (fallback !== undefined) return fallback
    report(`environment variable ${name} is not set`)
    return token
  })
}

function excerpt(text: string): string {
  return text.length <= 60 ? text : `${text.slice(0, 57)}...`
}
