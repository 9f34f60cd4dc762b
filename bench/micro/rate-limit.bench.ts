/**
 * Micro bench of a rate-limit decision for a known key: the counter table alone, per algorithm,
 * and the whole stage (key, tier, decision, header values) on a minimal exchange. Run with
 * `npx vitest bench --run bench/micro/rate-limit.bench.ts`.
 */
import { bench, describe } from 'vitest'

import type { Rejection } from '../../src/errors.js'
import { Exchange } from '../../src/gateway/exchange.js'
import type { Runtime } from '../../src/gateway/runtime.js'
import { createDecision } from '../../src/rate-limit/algorithms/algorithm.js'
import { compileRateLimit } from '../../src/stages/rate-limit/index.js'
import { RateLimitRegistry } from '../../src/rate-limit/registry.js'
import type { AlgorithmName, RateLimitPolicyConfig } from '../../src/rate-limit/schema.js'

/** Calls per iteration: tinybench times each iteration, so a single call would time the timer. */
const BATCH = 1000
const ALGORITHMS: readonly AlgorithmName[] = ['token_bucket', 'sliding_window', 'fixed_window']
/** Few enough keys to stay known, enough that the JIT cannot fold one. */
const KEYS = ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4']

class BenchExchange extends Exchange {
  reject(_rejection: Rejection): void {}
  writeHead(): void {}
  writeBody(): boolean {
    return true
  }
  endResponse(): void {}
  destroy(): void {}
  readBody(): void {}
  pauseBody(): void {}
  resumeBody(): void {}
}

function policy(algorithm: AlgorithmName, headers: boolean): RateLimitPolicyConfig {
  return {
    key: 'ip',
    algorithm,
    // Never refused: the bench measures the admitted path, the common one.
    rate: '1000000000/s',
    headers: { ietf: headers, x_ratelimit: headers },
    max_keys: 100_000,
  }
}

function compile(algorithm: AlgorithmName, headers: boolean) {
  const registry = new RateLimitRegistry()
  const policies = registry.compile({ p: policy(algorithm, headers) }, [])
  registry.sweep()
  const site = { name: 'api', path: 'routes[0]', problems: [] }
  const stage = compileRateLimit({ rate_limit: 'p' }, site, true, policies, registry.now)!.postAuth!
  return { registry, stage, table: registry.tables().get('p')! }
}

function runTable(algorithm: AlgorithmName): () => void {
  const { table } = compile(algorithm, false)
  const out = createDecision()
  let sink = 0
  return () => {
    const now = Date.now()
    for (let i = 0; i < BATCH; i++) sink ^= table.consume(0, false, KEYS[i & 3]!, now, 1, out)
    if (sink === -1) throw new Error('unreachable: keeps the results alive')
  }
}

function runStage(algorithm: AlgorithmName, headers: boolean): () => void {
  const { stage } = compile(algorithm, headers)
  const exchanges = KEYS.map((ip) => {
    const ex = new BenchExchange({} as Runtime, 'http')
    ex.clientAddress = ip
    return ex
  })
  let sink = 0
  return () => {
    for (let i = 0; i < BATCH; i++) {
      const ex = exchanges[i & 3]!
      ex.responseHeaders = null
      ex.rateLimitRemaining = -1
      sink ^= stage.onRequest(ex) === undefined ? 1 : 2
    }
    if (sink === -1) throw new Error('unreachable: keeps the results alive')
  }
}

// Each iteration is BATCH calls: ns/op = mean (ms) * 1e6 / BATCH, i.e. mean in µs = ns/op / 1000.
describe(`counter table, known key (${BATCH} decisions per iteration)`, () => {
  for (const algorithm of ALGORITHMS) bench(algorithm, runTable(algorithm))
})

describe(`rate-limit stage, known key (${BATCH} requests per iteration)`, () => {
  for (const algorithm of ALGORITHMS) {
    bench(`${algorithm}, no header fields`, runStage(algorithm, false))
    bench(`${algorithm}, IETF and X-RateLimit fields`, runStage(algorithm, true))
  }
})
