/**
 * Request validation through real gateway processes on both fronts: JSON Schemas of path
 * segments, query, headers and JSON bodies, the body's framing rules, and an upstream that
 * records the exact bytes it receives.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send, type HttpResult } from '../helpers/http.js'
import { closeAllRaw, rawRequest } from '../helpers/raw.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'

const SECRET = 'hunter2-do-not-echo'

/** Ten properties, as a typical resource: the bench's scenario uses the same shape. */
const USER_SCHEMA = {
  type: 'object',
  required: ['name', 'email'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', maxLength: 64 },
    email: { type: 'string', format: 'email' },
    age: { type: 'integer', minimum: 0 },
    admin: { type: 'boolean' },
    tags: { type: 'array', items: { type: 'string' } },
    role: { enum: ['reader', 'writer'] },
    bio: { type: 'string' },
    score: { type: 'number' },
    team: { type: 'object' },
    nested: { type: ['object', 'array'] },
  },
}

interface Problem {
  readonly type: string
  readonly title: string
  readonly status: number
  readonly error: string
  readonly errors: readonly { pointer: string; rule: string; detail: string }[]
}

describe.each(FRONTS)('request validation on the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream
  /** The bytes of each body the upstream received, in order. */
  const bodies: Buffer[] = []

  beforeAll(async () => {
    upstream = await startUpstream('app')
    upstream.handle((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks))
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ userId: req.headers['x-path-id'] ?? null }))
      })
    })
    gateway = await startGateway({
      front,
      config: {
        upstreams: { app: { targets: [upstream.url] } },
        routes: [
          {
            name: 'users',
            match: { paths: ['/users/{id}'], methods: ['GET', 'PUT'] },
            upstream: 'app',
            auth: 'none',
            max_body: '4kb',
            validate: {
              path_params: {
                type: 'object',
                properties: { id: { type: 'integer', minimum: 1 } },
              },
              query: {
                type: 'object',
                properties: { limit: { type: 'integer', maximum: 100 } },
              },
              headers: {
                type: 'object',
                required: ['x-tenant'],
                properties: { 'x-tenant': { type: 'string', pattern: '^[a-z]+$' } },
              },
              PUT: { body: USER_SCHEMA },
              max_depth: 8,
              reject_duplicate_keys: true,
              forward_path_params: { id: 'x-path-id' },
            },
          },
          { name: 'me', match: { paths: ['/users/me'] }, upstream: 'app', auth: 'none' },
        ],
      },
    })
  })

  afterAll(async () => {
    closeAllRaw()
    await stopAllGateways()
    await closeAllUpstreams()
  })

  beforeEach(() => {
    upstream.reset()
    bodies.length = 0
  })

  const get = (path: string, headers: Record<string, string> = { 'x-tenant': 'acme' }) =>
    send(`${gateway.url}${path}`, { headers })
  const put = (body: string | Buffer, type = 'application/json', path = '/users/7') =>
    send(`${gateway.url}${path}`, {
      method: 'PUT',
      headers: { 'x-tenant': 'acme', 'content-type': type },
      body,
    })

  /** A 400 in problem details form, none of whose text holds the secret. */
  function problemOf(result: HttpResult): Problem {
    expect(result.status).toBe(400)
    expect(result.headers['content-type']).toBe('application/problem+json')
    expect(result.text).not.toContain(SECRET)
    const problem = result.json<Problem>()
    expect(problem).toMatchObject({ type: 'about:blank', status: 400, error: 'invalid_request' })
    return problem
  }

  describe('path, query and headers', () => {
    it('admits a request that meets every schema and forwards the named segment', async () => {
      const result = await get('/users/42?limit=5')
      expect(result.status).toBe(200)
      expect(result.json()).toEqual({ userId: '42' })
    })

    it('does not let the client set a forwarded segment header itself', async () => {
      const result = await get('/users/42', { 'x-tenant': 'acme', 'x-path-id': '1' })
      expect(result.json()).toEqual({ userId: '42' })
    })

    it('prefers an exact path to a template', async () => {
      const result = await get('/users/me', {})
      expect(result.status).toBe(200)
      expect(result.json()).toEqual({ userId: null })
    })

    it.each([
      ['a path segment', `/users/${SECRET}`, { 'x-tenant': 'acme' }, '/path_params/id', 'type'],
      ['a query value', `/users/7?limit=${SECRET}`, { 'x-tenant': 'acme' }, '/query/limit', 'type'],
      ['a header value', '/users/7', { 'x-tenant': SECRET }, '/headers/x-tenant', 'pattern'],
      ['a missing header', '/users/7', {}, '/headers/x-tenant', 'required'],
      [
        'a number out of range',
        '/users/7?limit=101',
        { 'x-tenant': 'acme' },
        '/query/limit',
        'maximum',
      ],
    ])(
      'refuses %s with its pointer and rule, never its value',
      async (_, path, headers, pointer, rule) => {
        const problem = problemOf(await get(path, headers))
        expect(problem.errors).toContainEqual(expect.objectContaining({ pointer, rule }))
        expect(upstream.requests).toEqual([])
      },
    )

    it('lists every problem of a request, each once', async () => {
      const problem = problemOf(await get(`/users/0?limit=${SECRET}`, {}))
      expect(problem.errors.map((e) => e.pointer).sort()).toEqual([
        '/headers/x-tenant',
        '/path_params/id',
        '/query/limit',
      ])
    })
  })

  describe('JSON bodies', () => {
    const valid =
      '{ "name" : "Ada",\n "email":"ada@example.com", "bio": "caf\\u00e9 \u00e9", "age": 36 }'

    it('forwards the exact bytes received, never a re-serialization', async () => {
      const result = await put(valid, 'application/json; charset=UTF-8')
      expect(result.status).toBe(200)
      expect(bodies).toEqual([Buffer.from(valid)])
    })

    it('takes a +json media type', async () => {
      expect((await put(valid, 'application/merge-patch+json')).status).toBe(200)
    })

    it.each([
      ['text/plain', 'text/plain'],
      ['a form', 'application/x-www-form-urlencoded'],
      ['JSON in another charset', 'application/json; charset=utf-16'],
    ])('refuses %s with 415', async (_, type) => {
      const result = await put(valid, type)
      expect(result.status).toBe(415)
      expect(result.json()).toMatchObject({ error: 'unsupported_media_type' })
      expect(upstream.requests).toEqual([])
    })

    it('refuses a body without Content-Type with 415', async () => {
      const result = await send(`${gateway.url}/users/7`, {
        method: 'PUT',
        headers: { 'x-tenant': 'acme' },
        body: valid,
      })
      expect(result.status).toBe(415)
    })

    it('refuses a missing body', async () => {
      const result = await send(`${gateway.url}/users/7`, {
        method: 'PUT',
        headers: { 'x-tenant': 'acme', 'content-length': '0' },
      })
      expect(problemOf(result).errors).toEqual([
        { pointer: '/body', rule: 'required', detail: 'must be present' },
      ])
    })

    it('refuses a body that breaks the schema, pointing at each value', async () => {
      const body = JSON.stringify({ name: 'Ada', email: SECRET, age: -1, password: SECRET })
      const problem = problemOf(await put(body))
      expect(problem.errors).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ pointer: '/body/email', rule: 'format' }),
          expect.objectContaining({ pointer: '/body/age', rule: 'minimum' }),
          expect.objectContaining({ pointer: '/body/password', rule: 'additionalProperties' }),
        ]),
      )
      expect(bodies).toEqual([])
    })

    it('lists at most ten problems', async () => {
      const tags = Array.from({ length: 30 }, () => 1)
      const problem = problemOf(await put(JSON.stringify({ name: 'a', email: 'a@b.c', tags })))
      expect(problem.errors).toHaveLength(10)
    })

    it('refuses invalid JSON', async () => {
      const problem = problemOf(await put(`{"name": "${SECRET}",}`))
      expect(problem.errors).toEqual([
        { pointer: '/body', rule: 'json', detail: 'must be valid JSON' },
      ])
    })

    it('refuses bytes that are not UTF-8', async () => {
      const body = Buffer.concat([
        Buffer.from('{"name":"'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('"}'),
      ])
      expect(problemOf(await put(body)).errors[0]).toMatchObject({ rule: 'json' })
    })

    it('refuses a key named twice in one object', async () => {
      const body = `{"name":"Ada","email":"a@b.c","team":{"id":1,"i\\u0064":"${SECRET}"}}`
      expect(problemOf(await put(body)).errors).toEqual([
        { pointer: '/body/team/id', rule: 'duplicate_keys', detail: 'must not repeat a key' },
      ])
    })

    it('refuses nesting deeper than max_depth before parsing', async () => {
      const body = `{"name":"a","email":"a@b.c","nested":${'['.repeat(8)}${']'.repeat(8)}}`
      expect(problemOf(await put(body)).errors).toEqual([
        { pointer: '/body', rule: 'max_depth', detail: 'must not nest deeper than 8' },
      ])
      const shallow = `{"name":"a","email":"a@b.c","nested":${'['.repeat(7)}${']'.repeat(7)}}`
      expect((await put(shallow)).status).toBe(200)
    })

    it('refuses a body over max_body by its Content-Length', async () => {
      const result = await put(`{"name":"${'a'.repeat(5000)}"}`)
      expect(result.status).toBe(413)
      expect(upstream.requests).toEqual([])
    })

    it('reads a chunked body whole and forwards its exact bytes', async () => {
      const head =
        'PUT /users/9 HTTP/1.1\r\nHost: localhost\r\nx-tenant: acme\r\n' +
        'content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n'
      const a = '{"name":"Ada",'
      const b = ' "email":"ada@example.com"}'
      const chunks = `${a.length.toString(16)}\r\n${a}\r\n${b.length.toString(16)}\r\n${b}\r\n0\r\n\r\n`
      const result = await rawRequest(gateway.port, head + chunks, {
        waitMs: 3000,
        until: (responses) => responses.length > 0,
      })
      expect(result.responses[0]?.status).toBe(200)
      expect(bodies).toEqual([Buffer.from(a + b)])
    })

    it('refuses a chunked body that grows past max_body', async () => {
      const head =
        'PUT /users/9 HTTP/1.1\r\nHost: localhost\r\nx-tenant: acme\r\n' +
        'content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n'
      const chunk = '"' + 'a'.repeat(1000) + '",'
      let body = '1\r\n[\r\n'
      for (let i = 0; i < 6; i++) body += `${chunk.length.toString(16)}\r\n${chunk}\r\n`
      body += '3\r\n"a"\r\n1\r\n]\r\n0\r\n\r\n'
      const result = await rawRequest(gateway.port, head + body, {
        waitMs: 3000,
        until: (responses) => responses.length > 0,
      })
      expect(result.responses[0]?.status).toBe(413)
      expect(bodies).toEqual([])
    })
  })
})
