/**
 * The config rules of a route's `validate:`: schemas compile at load, and an unknown keyword or
 * format, a header name in capitals or an identity header is refused with its path.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { loadGatewayConfig } from '../../../src/config/gateway-config.js'
import { PortcullisError } from '../../../src/errors.js'
import { configProblems, loadTestConfig } from '../../helpers/config.js'

function route(validate: unknown, paths = ['/users/{id}']): Record<string, unknown> {
  return { name: 'users', match: { paths }, upstream: 'u', auth: 'none', validate }
}

describe('validate config', () => {
  it('accepts schemas per route and per method, with defaults filled', () => {
    const { config } = loadTestConfig({
      routes: [
        route({
          query: { type: 'object', properties: { limit: { type: 'integer' } } },
          POST: { body: { type: 'object', required: ['name'] } },
          path_params: true,
        }),
      ],
    })
    expect(config.routes[0]!.validate).toMatchObject({
      max_depth: 64,
      reject_duplicate_keys: false,
    })
  })

  it.each([
    [
      'an unknown keyword',
      { body: { type: 'object', requird: ['a'] } },
      'validate.body',
      /unknown keyword: "requird"/,
    ],
    [
      'an unknown format',
      { query: { properties: { a: { format: 'emial' } } } },
      'validate.query',
      /unknown format "emial"/,
    ],
    [
      'a bad schema in a method',
      { PUT: { body: { type: 'objekt' } } },
      'validate.PUT.body',
      /type/,
    ],
    [
      'a header name in capitals',
      { headers: { properties: { 'X-Tenant': {} } } },
      'validate.headers',
      /lower case/,
    ],
    [
      'an identity header',
      { forward_path_params: { id: 'x-consumer-id' } },
      'validate.forward_path_params.id',
      /identity header/,
    ],
  ])('refuses %s with its path', (_, validate, path, reason) => {
    const found = configProblems({ routes: [route(validate)] })
    expect(found).toContainEqual({
      path: `routes[0].${path}`,
      reason: expect.stringMatching(reason),
    })
  })

  it('refuses a path template that is not whole segments', () => {
    const found = configProblems({ routes: [route(undefined, ['/users/x{id}'])] })
    expect(found).toContainEqual({
      path: 'routes[0].match.paths[0]',
      reason: expect.stringMatching(/whole \{name\}/),
    })
  })

  describe('a $ref to a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-validate-ref-'))
    writeFileSync(join(dir, 'tag.json'), JSON.stringify({ type: 'string', maxLength: 3 }))
    writeFileSync(
      join(dir, 'user.json'),
      JSON.stringify({
        $id: 'user',
        type: 'object',
        required: ['name'],
        properties: { name: { type: 'string' }, tag: { $ref: 'tag.json' }, child: { $ref: '#' } },
      }),
    )
    const load = (body: unknown) => {
      const file = join(dir, 'gateway.json')
      writeFileSync(
        file,
        JSON.stringify({
          upstreams: { u: { targets: ['http://127.0.0.1:1'] } },
          routes: [route({ POST: { body } })],
        }),
      )
      return loadGatewayConfig(file, pino({ level: 'silent' }))
    }

    it('is read relative to the config file, with the files it refers to', () => {
      const { config } = load({ $ref: 'user.json' })
      const body = config.routes[0]!.validate!.POST!.body as Record<string, unknown>
      expect(body['required']).toEqual(['name'])
      expect(body['properties']).toMatchObject({ tag: { type: 'string', maxLength: 3 } })
    })

    it('is a config error with its path when the file is missing', () => {
      expect(() => load({ $ref: 'nope.json' })).toThrow(PortcullisError)
      try {
        load({ $ref: 'nope.json' })
      } catch (error) {
        expect((error as PortcullisError).problems).toContainEqual({
          path: 'routes[0].validate.POST.body',
          reason: expect.stringMatching(/cannot resolve \$ref.*nope\.json/),
        })
      }
    })

    it('never fetches a URL', () => {
      expect(() => load({ $ref: 'http://127.0.0.1:1/schema.json' })).toThrow(/cannot resolve \$ref/)
    })
  })
})

describe('validate.body_required', () => {
  it('keeps the route-wide value in a method entry that does not name it', () => {
    const { config } = loadTestConfig({
      routes: [route({ body_required: false, POST: { body: { type: 'object' } } })],
    })
    expect(config.routes[0]!.validate!.POST!.body_required).toBeUndefined()
    expect(config.routes[0]!.validate!.body_required).toBe(false)
  })
})
