import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Type } from '@sinclair/typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PortcullisError } from '../../../src/errors.js'
import { Duration, Name, Port, Size } from '../../../src/config/fragments.js'
import { loadConfig, readConfigFile } from '../../../src/config/load.js'

function catchError(fn: () => unknown): PortcullisError {
  try {
    fn()
  } catch (error) {
    if (error instanceof PortcullisError) return error
    throw error
  }
  throw new Error('expected a PortcullisError')
}

let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-load-'))
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

let counter = 0

/** Writes `text` to a fresh file in the temp dir and returns its path. */
function file(text: string, extension = '.yaml'): string {
  const path = join(dir, `config-${++counter}${extension}`)
  writeFileSync(path, text)
  return path
}

const Schema = Type.Object(
  {
    listeners: Type.Object(
      {
        http: Type.Object(
          { port: Port({ default: 8080 }) },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    redis: Type.Optional(Type.Object({ url: Type.String() }, { additionalProperties: false })),
    upstreams: Type.Record(
      Type.String(),
      Type.Object(
        {
          url: Type.String(),
          timeout: Duration({ default: '30s' }),
          maxBody: Size({ default: '1MiB' }),
        },
        { additionalProperties: false },
      ),
      { default: {} },
    ),
    routes: Type.Array(
      Type.Object({ name: Name(), upstream: Name() }, { additionalProperties: false }),
      { default: [] },
    ),
  },
  { additionalProperties: false },
)

describe('readConfigFile', () => {
  describe('with a YAML file', () => {
    it('parses it into plain data', () => {
      const path = file(
        'listeners:\n  http:\n    port: 80\nroutes:\n  - name: a\n    upstream: b\n',
      )
      expect(readConfigFile(path)).toEqual({
        listeners: { http: { port: 80 } },
        routes: [{ name: 'a', upstream: 'b' }],
      })
    })

    it('keeps on, yes, no and off as strings (YAML 1.2 core schema)', () => {
      const path = file('a: on\nb: yes\nc: no\nd: off\ne: true\nf: 0o17\ng: 012\nh: ~\n')
      expect(readConfigFile(path)).toEqual({
        a: 'on',
        b: 'yes',
        c: 'no',
        d: 'off',
        e: true,
        f: 15,
        g: 12,
        h: null,
      })
    })

    it('reads keys as strings, even when they look like numbers or booleans', () => {
      expect(readConfigFile(file('1: a\ntrue: b\non: c\n'))).toEqual({ 1: 'a', true: 'b', on: 'c' })
    })

    it('expands anchors and aliases', () => {
      const path = file('base: &b\n  url: x\ncopy: *b\n')
      expect(readConfigFile(path)).toEqual({ base: { url: 'x' }, copy: { url: 'x' } })
    })

    it('skips a byte order mark', () => {
      expect(readConfigFile(file('\uFEFFa: 1\n'))).toEqual({ a: 1 })
    })

    it('reads an empty file as null', () => {
      expect(readConfigFile(file(''))).toBeNull()
    })
  })

  describe('with a YAML file that has a duplicate key', () => {
    it('throws PCL_ERR_CONFIG_PARSE at the line and column of the second key', () => {
      const path = file('listeners:\n  http:\n    port: 80\n    port: 81\n')
      const error = catchError(() => readConfigFile(path))
      expect(error.code).toBe('PCL_ERR_CONFIG_PARSE')
      expect(error.problems).toEqual([
        { path: 'line 4, column 5', reason: 'Map keys must be unique' },
      ])
      expect(error.message).toBe(
        `cannot parse config file ${JSON.stringify(path)}\n  - line 4, column 5: Map keys must be unique`,
      )
    })
  })

  describe('with YAML that does not parse', () => {
    it('throws PCL_ERR_CONFIG_PARSE with the line and column of the problem', () => {
      const path = file('routes:\n  - name: a\n    upstream: [b, c\nlisteners: {}\n')
      const error = catchError(() => readConfigFile(path))
      expect(error.code).toBe('PCL_ERR_CONFIG_PARSE')
      expect(error.problems[0]?.path).toBe('line 4, column 1')
      expect(error.problems[0]?.reason).toMatch(/flow sequence/i)
    })

    it('reports a tab used as indentation', () => {
      const error = catchError(() => readConfigFile(file('a:\n\tb: 1\n')))
      expect(error.code).toBe('PCL_ERR_CONFIG_PARSE')
      expect(error.problems[0]?.path).toBe('line 2, column 1')
    })

    it('refuses a tag it does not know instead of ignoring it', () => {
      const error = catchError(() => readConfigFile(file('secret: !env API_KEY\n')))
      expect(error.problems).toEqual([{ path: 'line 1, column 9', reason: 'Unresolved tag: !env' }])
    })

    it('refuses a file with several documents', () => {
      const error = catchError(() => readConfigFile(file('a: 1\n---\nb: 2\n')))
      expect(error.problems[0]?.path).toBe('line 2, column 1')
      expect(error.problems[0]?.reason).toMatch(/multiple documents/)
    })

    it('refuses a key that is a list', () => {
      const error = catchError(() => readConfigFile(file('[a, b]: 1\n')))
      expect(error.problems).toEqual([
        { path: 'line 1, column 1', reason: 'With stringKeys, all keys must be strings' },
      ])
    })

    it('reports an alias whose anchor is not defined above it', () => {
      const error = catchError(() => readConfigFile(file('a: 1\nb: *missing\n')))
      expect(error.problems).toEqual([
        { path: 'line 2, column 4', reason: 'alias *missing has no anchor &missing before it' },
      ])
    })

    it('refuses an alias bomb', () => {
      const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
      for (const [prev, next] of [
        ['a', 'b'],
        ['b', 'c'],
        ['c', 'd'],
        ['d', 'e'],
      ]) {
        lines.push(`${next}: &${next} [${Array(10).fill(`*${prev}`).join(', ')}]`)
      }
      const error = catchError(() => readConfigFile(file(lines.join('\n'))))
      expect(error.code).toBe('PCL_ERR_CONFIG_PARSE')
      expect(error.problems[0]?.reason).toMatch(/alias/i)
    })
  })

  describe('with a .json file', () => {
    it('parses it with JSON.parse', () => {
      expect(readConfigFile(file('{"routes": [], "a": {"b": 1.5}}', '.json'))).toEqual({
        routes: [],
        a: { b: 1.5 },
      })
    })

    it.each([
      ['{\n  "a": 1,\n  "b": }\n', 'line 3, column 8', "Unexpected token '}'"],
      ['{\n  "a": 1\n  "b": 2\n}', 'line 3, column 3', "Expected ',' or '}' after property value"],
      ['{"a": [1, 2', 'line 1, column 12', "Expected ',' or ']' after array element"],
      ['[1, 2', 'line 1, column 6', ''],
      ['[,]', 'line 1, column 2', "Unexpected token ','"],
      ['', 'line 1, column 1', 'Unexpected end of JSON input'],
      ['{"a": "\\x"}', 'line 1, column 9', ''],
      ['{"a": 01}', 'line 1, column 8', ''],
      ['{"a": 1} x', 'line 1, column 10', ''],
    ])('reports the line and column of a syntax error in %j', (text, path, reason) => {
      const error = catchError(() => readConfigFile(file(text, '.json')))
      expect(error.code).toBe('PCL_ERR_CONFIG_PARSE')
      expect(error.problems).toHaveLength(1)
      expect(error.problems[0]?.path).toBe(path)
      expect(error.problems[0]?.reason).toContain(reason)
      expect(error.problems[0]?.reason).not.toMatch(/position|is not valid JSON/)
    })

    it('refuses duplicate keys, which JSON.parse would silently merge', () => {
      const error = catchError(() => readConfigFile(file('{\n  "a": 1,\n  "a": 2\n}\n', '.json')))
      expect(error.code).toBe('PCL_ERR_CONFIG_PARSE')
      expect(error.problems).toEqual([
        { path: 'line 3, column 3', reason: 'Map keys must be unique' },
      ])
    })
  })

  describe('with a file that cannot be read', () => {
    it('throws PCL_ERR_CONFIG_READ naming a missing file and the reason', () => {
      const path = join(dir, 'nowhere.yaml')
      const error = catchError(() => readConfigFile(path))
      expect(error.code).toBe('PCL_ERR_CONFIG_READ')
      expect(error.message).toBe(
        `cannot read config file ${JSON.stringify(path)}: no such file or directory (ENOENT)`,
      )
      expect(error.cause).toMatchObject({ code: 'ENOENT' })
    })

    it('throws PCL_ERR_CONFIG_READ for a directory', () => {
      const path = join(dir, 'a-directory.yaml')
      mkdirSync(path)
      const error = catchError(() => readConfigFile(path))
      expect(error.code).toBe('PCL_ERR_CONFIG_READ')
      expect(error.message).toContain('(EISDIR)')
    })
  })
})

describe('loadConfig', () => {
  describe('with a valid file', () => {
    it('reads, interpolates, validates and fills defaults', () => {
      const path = file(
        [
          'redis:',
          '  url: ${REDIS_URL}',
          'upstreams:',
          '  users:',
          '    url: http://${USERS_HOST:-users}:8080',
          '    timeout: 5s',
          'routes:',
          '  - name: users',
          '    upstream: users',
          '',
        ].join('\n'),
      )
      expect(loadConfig(path, Schema, { REDIS_URL: 'redis://cache:6379' })).toEqual({
        listeners: { http: { port: 8080 } },
        redis: { url: 'redis://cache:6379' },
        upstreams: { users: { url: 'http://users:8080', timeout: '5s', maxBody: '1MiB' } },
        routes: [{ name: 'users', upstream: 'users' }],
      })
    })

    it('reads JSON files the same way', () => {
      const path = file('{"upstreams": {"a": {"url": "$${literal}"}}}', '.json')
      expect(loadConfig(path, Schema, {}).upstreams['a']?.url).toBe('${literal}')
    })

    it('uses process.env when no environment is given', () => {
      process.env['PORTCULLIS_TEST_REDIS_URL'] = 'redis://from-process-env'
      try {
        const path = file('redis:\n  url: ${PORTCULLIS_TEST_REDIS_URL}\n')
        expect(loadConfig(path, Schema).redis?.url).toBe('redis://from-process-env')
      } finally {
        delete process.env['PORTCULLIS_TEST_REDIS_URL']
      }
    })

    it('never lets an environment value add YAML structure', () => {
      const path = file('redis:\n  url: ${REDIS_URL}\n')
      const env = { REDIS_URL: 'x\nlisteners:\n  http:\n    port: 1' }
      expect(loadConfig(path, Schema, env).redis?.url).toBe(env.REDIS_URL)
    })
  })

  describe('with an environment variable that is not set', () => {
    it('throws PCL_ERR_CONFIG_ENV with the config path', () => {
      const path = file('redis:\n  url: ${REDIS_URL}\n')
      const error = catchError(() => loadConfig(path, Schema, {}))
      expect(error.code).toBe('PCL_ERR_CONFIG_ENV')
      expect(error.problems).toEqual([
        { path: 'redis.url', reason: 'environment variable REDIS_URL is not set' },
      ])
    })
  })

  describe('with a config that breaks the schema', () => {
    it("throws PCL_ERR_CONFIG_INVALID with paths in the user's words", () => {
      const path = file(
        [
          'listeners:',
          '  http:',
          '    port: "8080"',
          'upstreams:',
          '  users:',
          '    url: http://users',
          '    timout: 5s',
          '    maxBody: 1 zb',
          'routes:',
          '  - name: ok',
          '    upstream: users',
          '  - name: -bad',
          '    upstream: users',
          '',
        ].join('\n'),
      )
      const error = catchError(() => loadConfig(path, Schema, {}))
      expect(error.code).toBe('PCL_ERR_CONFIG_INVALID')
      expect(error.problems).toEqual([
        { path: 'listeners.http.port', reason: 'must be an integer (got string)' },
        {
          path: 'routes[1].name',
          reason:
            'must be a name of letters, digits, "_", "." or "-", starting with a letter or digit, at most 64 characters (got "-bad")',
        },
        {
          path: 'upstreams.users.maxBody',
          reason: 'must be a size in bytes or with a unit: 1048576, 512KiB, 1MiB, 1MB (got "1 zb")',
        },
        {
          path: 'upstreams.users.timout',
          reason: 'unknown key (allowed: url, timeout, maxBody); did you mean "timeout"?',
        },
      ])
    })

    it('reports an empty file as a config that is not an object', () => {
      const error = catchError(() => loadConfig(file(''), Schema, {}))
      expect(error.problems).toEqual([{ path: '', reason: 'must be an object (got null)' }])
    })
  })
})
