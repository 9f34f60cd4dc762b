/**
 * Micro bench of what an ended exchange spends on metrics (src/gateway/runtime.ts
 * onExchangeEnd): the clock read and the route's counters and histograms, against metrics off
 * (nothing) and against the former shape that looked the route's meter up by name. Run with
 * `npx vitest bench --run bench/micro/route-meter.bench.ts`.
 */
import { performance } from 'node:perf_hooks'
import { bench, describe } from 'vitest'
import { RouteMeter } from '../../src/observability/metrics/meter.js'

/** Exchanges per iteration: tinybench times each iteration, so one would time the timer. */
const BATCH = 1000
const METHODS = ['GET', 'POST', 'GET', 'PUT']
const meter = new RouteMeter()
const byName = new Map<string, RouteMeter>([
  ['orders', new RouteMeter()],
  ['bench', meter],
  ['(none)', new RouteMeter()],
])
const started = performance.now()
let sink = 0

describe('an ended exchange', () => {
  bench('metrics off: nothing', () => {
    for (let i = 0; i < BATCH; i++) sink += METHODS[i & 3]!.length
  })

  bench('clock read + route meter held by the route', () => {
    for (let i = 0; i < BATCH; i++) {
      const now = performance.now()
      meter.record(METHODS[i & 3]!, 200, now - started, (now - started) / 2)
    }
  })

  bench('clock read + route meter looked up by name', () => {
    for (let i = 0; i < BATCH; i++) {
      const now = performance.now()
      byName.get('bench')!.record(METHODS[i & 3]!, 200, now - started, (now - started) / 2)
    }
  })

  bench('route meter alone, no clock read', () => {
    for (let i = 0; i < BATCH; i++) meter.record(METHODS[i & 3]!, 200, 0.4 + (i & 7) * 0.1, 0.2)
  })
})

export { sink }
