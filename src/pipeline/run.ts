/**
 * Runs a route's stages in order. A stage that decides synchronously costs no promise: the runner
 * awaits only when a stage hands it one (the shape of Fastify's hookRunnerGenerator), so a warm
 * request through synchronous stages allocates nothing here.
 */
import type { Rejection } from '../errors.js'
import type { Stage, StageExchange, Verdict } from './stage.js'

/** What the runner needs of an exchange besides the stages' slots (gateway/exchange.ts). */
export interface PipelineExchange extends StageExchange {
  /** The client went away: a stage's late verdict is dropped. */
  readonly aborted: boolean
  /** An unexpected throw inside a stage: a 500 for the client, the stage's name in the log. */
  stageFailed(stage: string, error: unknown): void
}

/** Called once the pipeline is over: with `undefined` to proceed, or the rejection to send. */
export type PipelineDone<E extends PipelineExchange> = (
  exchange: E,
  rejection: Rejection | undefined,
) => void

export function runPipeline<E extends PipelineExchange>(
  exchange: E,
  stages: readonly Stage[],
  from: number,
  done: PipelineDone<E>,
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

function awaitStage<E extends PipelineExchange>(
  exchange: E,
  stages: readonly Stage[],
  index: number,
  pending: Promise<Verdict>,
  done: PipelineDone<E>,
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
