/**
 * The stage contract. A route's pipeline is an ordered list of stages compiled once from config
 * (at load and on every reload); at request time a stage only reads and writes the exchange.
 */
import type { TSchema } from '@sinclair/typebox'
import type { Rejection } from '../errors.js'
import type { Exchange } from '../gateway/exchange.js'
import type { StageName } from './order.js'

/** `undefined`: go on to the next stage. A {@link Rejection}: answer with it and stop. */
export type Verdict = undefined | Rejection

export interface Stage {
  readonly name: StageName
  /** Decides synchronously when it can; returns a promise only when it must wait (Kong `access`). */
  onRequest(exchange: Exchange): Verdict | Promise<Verdict>
  /** Adjusts the response head before it is written (Kong `header_filter`). */
  readonly onResponse: ((exchange: Exchange) => void) | null
  /** Runs once the exchange is over, whatever the outcome (Kong `log`). */
  readonly onFinish: ((exchange: Exchange) => void) | null
}

/** What `compile` may use besides its own config: shared, already-compiled resources. */
export interface CompileDeps {
  readonly routeName: string
}

export interface StageDefinition<Config> {
  readonly name: StageName
  readonly schema: TSchema
  compile(config: Config, deps: CompileDeps): Stage
}
