/**
 * Runs a route's stages in order. A stage that decides synchronously costs no promise: the runner
 * awaits only when a stage hands it one (the shape of Fastify's hookRunnerGenerator), so a warm
 * request through synchronous stages allocates nothing here.
 */
import type { Rejection } from '../errors.js'
import type { Exchange } from '../gateway/exchange.js'
import type { Stage, Verdict } from './stage.js'

/** Called once the pipeline is over: with `undefined` to proceed, or the rejection to send. */
export type PipelineDone = (exchange: Exchange, rejection: Rejection | undefined) => void

export function runPipeline(
  exchange: Exchange,
  stages: readonly Stage[],
  from: number,
  done: PipelineDone,
): void {
  for (let i = from; i < stages.length; i++) {
    let verdict: Verdict | Promise<Verdict>
    try {
      verdict = stages[i]!.onRequest(exchange)
    } catch (error) {
      exchange.stageFailed(stages[i]!.name, error)
      return
    }
    if (verdict === undefined) continue
    if (isPromise(verdict)) {
      awaitStage(exchange, stages, i, verdict, done)
      return
    }
    done(exchange, verdict)
    return
  }
  done(exchange, undefined)
}

function awaitStage(
  exchange: Exchange,
  stages: readonly Stage[],
  index: number,
  pending: Promise<Verdict>,
  done: PipelineDone,
): void {
  pending.then(
    (verdict) => {
      if (exchange.aborted) return
      if (verdict === undefined) runPipeline(exchange, stages, index + 1, done)
      else done(exchange, verdict)
    },
    (error: unknown) => exchange.stageFailed(stages[index]!.name, error),
  )
}

function isPromise(value: Verdict | Promise<Verdict>): value is Promise<Verdict> {
  return typeof (value as Promise<Verdict>).then === 'function'
}
