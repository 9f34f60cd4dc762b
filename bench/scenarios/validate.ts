/**
 * validate: a POST of a 1 KiB JSON body through a route that checks it against a 10-property JSON
 * Schema, against the same POST through the same route shape without validation (same run, same
 * gateway), to price what validation adds per request.
 */
import { benchPreamble } from './passthrough.js'
import type { BenchRequest, Listen, Scenario, ScenarioContext } from './types.js'

/** Ten properties of the usual kinds; the body below meets every rule. */
const SCHEMA = {
  type: 'object',
  required: ['id', 'name', 'email'],
  additionalProperties: false,
  properties: {
    id: { type: 'integer', minimum: 1 },
    name: { type: 'string', maxLength: 128 },
    email: { type: 'string', format: 'email' },
    active: { type: 'boolean' },
    role: { enum: ['reader', 'writer', 'admin'] },
    score: { type: 'number' },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 32 },
    team: { type: 'object', properties: { id: { type: 'integer' } } },
    created: { type: 'string', format: 'date-time' },
    bio: { type: 'string', maxLength: 2048 },
  },
}

/** A body of 1 KiB exactly: the bio pads it. */
export function benchBody(): string {
  const base = {
    id: 42,
    name: 'Ada Lovelace',
    email: 'ada@example.com',
    active: true,
    role: 'writer',
    score: 97.5,
    tags: ['math', 'engines', 'notes'],
    team: { id: 7 },
    created: '2026-01-02T03:04:05Z',
    bio: '',
  }
  const pad = 1024 - JSON.stringify(base).length
  return JSON.stringify({ ...base, bio: 'x'.repeat(pad) })
}

function request(path: string): BenchRequest {
  return {
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json' },
    body: benchBody(),
  }
}

export function validateConfig(ctx: ScenarioContext, at: Listen): string {
  return `${benchPreamble(at)}upstreams:
  bench: { targets: [${ctx.upstreamOrigin}] }
routes:
  - name: validated
    match: { paths: [/validated/*] }
    upstream: bench
    auth: none
    validate:
      body: ${JSON.stringify(SCHEMA)}
  - name: unvalidated
    match: { paths: [/unvalidated/*] }
    upstream: bench
    auth: none
`
}

export const validate: Scenario = {
  name: 'validate',
  description:
    'POST of a 1 KiB JSON body: validated against a 10-property schema vs the same route without validation',
  prepare(ctx) {
    return Promise.resolve({
      gatewayConfig: (at) => validateConfig(ctx, at),
      targets: [
        { name: 'unvalidated', via: 'gateway', requests: [request('/unvalidated/bench')] },
        { name: 'validated', via: 'gateway', requests: [request('/validated/bench')] },
      ],
    })
  },
}
