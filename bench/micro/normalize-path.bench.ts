/**
 * Micro bench of normalizePath: the fast path (plain ASCII, returned as is after one scan) against
 * the slow paths (decoding, dot segments, raw bytes). Run with
 * `npx vitest bench --run bench/micro/normalize-path.bench.ts`.
 */
import { bench, describe } from 'vitest'

import { normalizePath } from '../../src/gateway/normalize-path.js'

// Several inputs per case so the JIT cannot fold one constant string.
const FAST = [
  '/api/v1/users/42',
  '/api/v1/orders/2024-11-03/items',
  '/health',
  '/static/app.min.js',
]
const SLOW_DOTS = [
  '/api/v1/../v1/users/42',
  '/api//v1/./orders/',
  '/a/b/c/../../d',
  '/api/users/..',
]
const SLOW_PCT = ['/api/v1/users/%7Ejohn', '/files/a%20b%2ac', '/caf%c3%a9/menu', '/api;x=1/users']
const SLOW_RAW = ['/caf\xC3\xA9/menu', '/\xE2\x82\xAC/price', '/\xC3\xBCber/uns', '/na\xC3\xAFve']
const REJECTED = ['/api/%2e%2e/admin', '/api/..;/admin', '/a%2Fb', '/%c0%ae%c0%ae/']

/** Calls per iteration: tinybench times each iteration, so a single call would time the timer. */
const BATCH = 1000

function run(inputs: readonly string[]): () => void {
  let sink = 0
  return () => {
    for (let i = 0; i < BATCH; i++) {
      const out = normalizePath(inputs[i & 3]!)
      sink ^= typeof out === 'string' ? out.length : out.status
    }
    if (sink === -1) throw new Error('unreachable: keeps the results alive')
  }
}

// Each iteration is BATCH calls: ns/op = mean (ms) * 1e6 / BATCH, i.e. mean in µs = ns/op / 1000.
describe(`normalizePath (${BATCH} calls per iteration)`, () => {
  bench('fast path: plain ASCII', run(FAST))
  bench('slow path: dot segments and //', run(SLOW_DOTS))
  bench('slow path: percent-encodings and ;', run(SLOW_PCT))
  bench('slow path: raw non-ASCII bytes', run(SLOW_RAW))
  bench('slow path: rejected spellings', run(REJECTED))
})
