import { describe, expect, it } from 'vitest'
import { PortcullisError } from '../../../src/errors.js'
import { interpolateEnv } from '../../../src/config/interpolate.js'

function catchError(fn: () => unknown): PortcullisError {
  try {
    fn()
  } catch (error) {
    if (error instanceof PortcullisError) return error
    throw error
  }
  throw new Error('expected a PortcullisError')
}

describe('interpolateEnv', () => {
  describe('with ${NAME}', () => {
    it('replaces the reference with the value of the variable', () => {
      expect(
        interpolateEnv({ redis: { url: '${REDIS_URL}' } }, { REDIS_URL: 'redis://r:6379' }),
      ).toEqual({ redis: { url: 'redis://r:6379' } })
    })

    it('replaces every reference inside a longer string', () => {
      const env = { HOST: 'db', PORT: '5432' }
      expect(interpolateEnv('postgres://${HOST}:${PORT}/app?host=${HOST}', env)).toBe(
        'postgres://db:5432/app?host=db',
      )
    })

    it('replaces references in list items and nested lists', () => {
      expect(interpolateEnv({ a: ['${X}', ['x=${X}']] }, { X: '1' })).toEqual({ a: ['1', ['x=1']] })
    })

    it('keeps an empty value as the empty string', () => {
      expect(interpolateEnv('[${EMPTY}]', { EMPTY: '' })).toBe('[]')
    })

    it('accepts names with letters, digits and underscores, not starting with a digit', () => {
      expect(interpolateEnv('${_a1_B2}', { _a1_B2: 'ok' })).toBe('ok')
    })
  })

  describe('with ${NAME:-default}', () => {
    it('uses the value when the variable is set', () => {
      expect(interpolateEnv('${LEVEL:-info}', { LEVEL: 'debug' })).toBe('debug')
    })

    it('uses the default when the variable is unset', () => {
      expect(interpolateEnv('${LEVEL:-info}', {})).toBe('info')
    })

    it('uses the default when the variable is empty', () => {
      expect(interpolateEnv('${LEVEL:-info}', { LEVEL: '' })).toBe('info')
    })

    it('allows an empty default', () => {
      expect(interpolateEnv('a${NONE:-}b', {})).toBe('ab')
    })

    it('takes the default literally, including ":" and "$"', () => {
      expect(interpolateEnv('${URL:-http://localhost:8080/$x}', {})).toBe(
        'http://localhost:8080/$x',
      )
    })
  })

  describe('with $${', () => {
    it('writes a literal ${ and does not read the variable', () => {
      expect(interpolateEnv('$${HOME} and $${', { HOME: '/root' })).toBe('${HOME} and ${')
    })

    it('leaves any other $ alone', () => {
      expect(interpolateEnv('pa$$word $5 $HOME', { HOME: '/root' })).toBe('pa$$word $5 $HOME')
    })
  })

  describe('with values that look like YAML or JSON', () => {
    it('inserts them as plain text, never as structure', () => {
      const env = { EVIL: 'x\nadmin: true\n- {"a": 1}' }
      expect(interpolateEnv({ name: '${EVIL}' }, env)).toEqual({ name: env.EVIL })
    })

    it('does not interpolate references that an environment value contains', () => {
      expect(interpolateEnv('${A}', { A: '${B}', B: 'secret' })).toBe('${B}')
    })
  })

  describe('with keys and non-string values', () => {
    it('never interpolates keys', () => {
      expect(interpolateEnv({ '${KEY}': '${KEY}' }, { KEY: 'k' })).toEqual({ '${KEY}': 'k' })
    })

    it('returns numbers, booleans and null unchanged', () => {
      const tree = { n: 1, b: true, z: null, list: [2.5, false] }
      expect(interpolateEnv(tree, {})).toEqual(tree)
    })
  })

  describe('with the input tree', () => {
    it('returns a new tree and leaves the input unchanged', () => {
      const input = { a: { b: ['${X}'] }, c: 'plain' }
      const output = interpolateEnv(input, { X: '1' }) as typeof input
      expect(input).toEqual({ a: { b: ['${X}'] }, c: 'plain' })
      expect(output).not.toBe(input)
      expect(output.a).not.toBe(input.a)
      expect(output.a.b).not.toBe(input.a.b)
    })

    it('keeps a "__proto__" key as a plain key without touching prototypes', () => {
      const input = JSON.parse('{"__proto__": {"polluted": "${X}"}}') as unknown
      const output = interpolateEnv(input, { X: 'yes' }) as Record<string, unknown>
      expect(Object.hasOwn(output, '__proto__')).toBe(true)
      expect(Object.getPrototypeOf(output)).toBe(Object.prototype)
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
    })
  })

  describe('with a variable that is unset and has no default', () => {
    it('throws PCL_ERR_CONFIG_ENV naming the path and the variable', () => {
      const error = catchError(() => interpolateEnv({ redis: { url: '${REDIS_URL}' } }, {}))
      expect(error.code).toBe('PCL_ERR_CONFIG_ENV')
      expect(error.problems).toEqual([
        { path: 'redis.url', reason: 'environment variable REDIS_URL is not set' },
      ])
      expect(error.message).toContain('redis.url: environment variable REDIS_URL is not set')
    })

    it('collects every missing variable of the whole tree before throwing', () => {
      const tree = {
        routes: [{ upstream: 'ok' }, { upstream: '${A}-${B}-${A}' }],
        upstreams: { 'my svc': { url: '${C}' } },
      }
      const error = catchError(() => interpolateEnv(tree, {}))
      expect(error.problems).toEqual([
        { path: 'routes[1].upstream', reason: 'environment variable A is not set' },
        { path: 'routes[1].upstream', reason: 'environment variable B is not set' },
        { path: 'upstreams["my svc"].url', reason: 'environment variable C is not set' },
      ])
    })

    it('treats a variable set to the empty string as set', () => {
      expect(interpolateEnv('${A}', { A: '' })).toBe('')
    })

    it('does not find names on Object.prototype', () => {
      const error = catchError(() => interpolateEnv('${constructor}${toString}', {}))
      expect(error.problems.map((p) => p.reason)).toEqual([
        'environment variable constructor is not set',
        'environment variable toString is not set',
      ])
    })

    it('reports a string at the root with an empty path', () => {
      const error = catchError(() => interpolateEnv('${A}', {}))
      expect(error.problems).toEqual([{ path: '', reason: 'environment variable A is not set' }])
    })
  })

  describe('with a malformed reference', () => {
    it('reports a name that starts with a digit or has other characters', () => {
      const error = catchError(() => interpolateEnv({ a: '${1A}', b: '${A-B}' }, {}))
      expect(error.code).toBe('PCL_ERR_CONFIG_ENV')
      expect(error.problems).toEqual([
        {
          path: 'a',
          reason:
            '"${1A}" is not a valid reference: use ${NAME} or ${NAME:-default}, where NAME is letters, digits and "_" not starting with a digit (write $${ for a literal "${")',
        },
        {
          path: 'b',
          reason:
            '"${A-B}" is not a valid reference: use ${NAME} or ${NAME:-default}, where NAME is letters, digits and "_" not starting with a digit (write $${ for a literal "${")',
        },
      ])
    })

    it('reports a ${ without a closing }', () => {
      const error = catchError(() => interpolateEnv({ a: 'x ${HOME' }, { HOME: '/root' }))
      expect(error.problems).toEqual([
        {
          path: 'a',
          reason: '"x ${HOME" has a "${" without a closing "}" (write $${ for a literal "${")',
        },
      ])
    })
  })
})
