import { createHook } from 'node:async_hooks'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createRejection, REJECT, type Rejection } from '../../../src/errors.js'
import { FakeExchange } from '../../helpers/exchange.js'
import type { StageName } from '../../../src/pipeline/order.js'
import { runPipeline } from '../../../src/pipeline/run.js'
import type { Stage, Verdict } from '../../../src/pipeline/stage.js'
import type { Exchange } from '../../../src/gateway/exchange.js'

function stage(
  name: StageName,
  onRequest: (exchange: Exchange) => Verdict | Promise<Verdict>,
): Stage {
  return { name, onRequest, onResponse: null, onFinish: null }
}

interface Run {
  readonly calls: string[]
  readonly done: { exchange: Exchange; rejection: Rejection | undefined }[]
}

function run(exchange: Exchange, stages: readonly Stage[], from = 0): Run['done'] {
  const done: Run['done'] = []
  runPipeline(exchange, stages, from, (e, rejection) => done.push({ exchange: e, rejection }))
  return done
}

const FORBIDDEN = createRejection(403, 'forbidden', 'No.')

/**
 * Runs `fn` while counting Promise.prototype.then calls and promise creations. (A vi.spyOn of
 * `then` would recurse: the spy itself calls `then` on every promise it sees returned.)
 */
function instrumented(fn: () => void): { thenCalls: number; promises: number } {
  const original = Promise.prototype.then
  let thenCalls = 0
  let promises = 0
  const hook = createHook({
    init(_id, type) {
      if (type === 'PROMISE') promises++
    },
  })
  Promise.prototype.then = function (this: Promise<unknown>, ...args: Parameters<typeof original>) {
    thenCalls++
    return original.apply(this, args)
  } as typeof original
  hook.enable()
  try {
    fn()
  } finally {
    hook.disable()
    Promise.prototype.then = original
  }
  return { thenCalls, promises }
}

/** Lets every pending microtask and the next macrotask run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

afterEach(() => {
  vi.restoreAllMocks()
})

describe('runPipeline', () => {
  describe('when every stage decides synchronously', () => {
    it('runs them in order and finishes before returning', () => {
      const calls: string[] = []
      const exchange = new FakeExchange()
      const done = run(exchange, [
        stage('limits', () => void calls.push('limits')),
        stage('authenticate', () => void calls.push('authenticate')),
        stage('forward', () => void calls.push('forward')),
      ])
      expect(calls).toEqual(['limits', 'authenticate', 'forward'])
      expect(done).toEqual([{ exchange, rejection: undefined }])
    })

    it('awaits nothing: no then() call and no promise created', () => {
      const stages = [stage('limits', () => undefined), stage('forward', () => undefined)]
      let finished = 0
      const sync = instrumented(() => runPipeline(new FakeExchange(), stages, 0, () => finished++))
      expect(finished).toBe(1)
      expect(sync).toEqual({ thenCalls: 0, promises: 0 })

      // The same instruments do see the promise of an asynchronous stage.
      const async = instrumented(() =>
        runPipeline(
          new FakeExchange(),
          [stage('limits', () => Promise.resolve(undefined))],
          0,
          () => finished++,
        ),
      )
      expect(async.thenCalls).toBeGreaterThan(0)
      expect(async.promises).toBeGreaterThan(0)
    })

    it('stops at the first rejection and sends it', () => {
      const later = vi.fn(() => undefined)
      const exchange = new FakeExchange()
      const done = run(exchange, [stage('authorize', () => FORBIDDEN), stage('forward', later)])
      expect(done).toEqual([{ exchange, rejection: FORBIDDEN }])
      expect(later).not.toHaveBeenCalled()
    })

    it('starts at the given stage', () => {
      const first = vi.fn(() => undefined)
      const second = vi.fn(() => undefined)
      run(new FakeExchange(), [stage('limits', first), stage('forward', second)], 1)
      expect(first).not.toHaveBeenCalled()
      expect(second).toHaveBeenCalledOnce()
    })
  })

  describe('when a stage returns a promise', () => {
    it('waits for it before the next stage', async () => {
      const calls: string[] = []
      const exchange = new FakeExchange()
      const done = run(exchange, [
        stage('authenticate', async () => {
          calls.push('authenticate')
          await settle()
          calls.push('authenticated')
          return undefined
        }),
        stage('forward', () => void calls.push('forward')),
      ])
      expect(calls).toEqual(['authenticate'])
      expect(done).toEqual([])
      await settle()
      await settle()
      expect(calls).toEqual(['authenticate', 'authenticated', 'forward'])
      expect(done).toEqual([{ exchange, rejection: undefined }])
    })

    it('sends the rejection it resolves to', async () => {
      const later = vi.fn(() => undefined)
      const exchange = new FakeExchange()
      const done = run(exchange, [
        stage('rate-limit', () => Promise.resolve(FORBIDDEN)),
        stage('forward', later),
      ])
      await settle()
      expect(done).toEqual([{ exchange, rejection: FORBIDDEN }])
      expect(later).not.toHaveBeenCalled()
    })

    it('answers 500 internal_error when it rejects', async () => {
      const logged: unknown[][] = []
      const exchange = new FakeExchange(logged)
      const done = run(exchange, [
        stage('authenticate', () => Promise.reject(new Error('introspection down'))),
      ])
      await settle()
      expect(done).toEqual([])
      expect(exchange.rejections).toEqual([REJECT.internalError])
      expect(exchange.errorDetail).toBe('stage authenticate failed')
      expect(logged).toHaveLength(1)
      expect(logged[0]![0]).toMatchObject({ stage: 'authenticate' })
    })

    it('drops the result when the client went away meanwhile', async () => {
      const later = vi.fn(() => undefined)
      const exchange = new FakeExchange()
      const done = run(exchange, [
        stage('authenticate', () => Promise.resolve(undefined)),
        stage('forward', later),
      ])
      exchange.aborted = true
      await settle()
      expect(done).toEqual([])
      expect(later).not.toHaveBeenCalled()
    })
  })

  describe('when a stage throws', () => {
    it('answers 500 internal_error at once and runs nothing after it', () => {
      const later = vi.fn(() => undefined)
      const logged: unknown[][] = []
      const exchange = new FakeExchange(logged)
      const done = run(exchange, [
        stage('validate', () => {
          throw new TypeError('bug')
        }),
        stage('forward', later),
      ])
      expect(done).toEqual([])
      expect(later).not.toHaveBeenCalled()
      expect(exchange.rejections).toEqual([REJECT.internalError])
      expect(exchange.rejections[0]!.status).toBe(500)
      expect(logged[0]![0]).toMatchObject({ stage: 'validate' })
    })
  })
})
