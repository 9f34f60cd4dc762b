/** The seam between the gateway and its two fronts (uws.ts, node.ts). */
import type { ListenerKind } from '../gateway/exchange.js'
import type { Runtime } from '../gateway/runtime.js'

export interface FrontListener {
  readonly kind: ListenerKind
  readonly host: string
  readonly port: number
  readonly tls: { cert: string; key: string; passphrase?: string | undefined } | null
}

export interface BoundListener {
  readonly host: string
  readonly port: number
}

/** A status listener's answer: a probe's JSON, or the metrics exposition. */
export interface StatusAnswer {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

/**
 * Answers a status path (`accept`: the request's Accept field, '' when absent); a promise for
 * /metrics, which gathers every worker's counters.
 */
export type StatusProbe = (path: string, accept: string) => StatusAnswer | Promise<StatusAnswer>

export interface Front {
  /** Names the front and its binary in the startup line. */
  readonly description: string
  listen(listener: FrontListener): Promise<BoundListener>
  listenStatus(listener: FrontListener, probe: StatusProbe): Promise<BoundListener>
  /** New requests use this runtime from now on; requests in flight keep theirs. */
  setRuntime(runtime: Runtime): void
  /**
   * Stops accepting connections on the traffic listeners (existing ones keep being served). The
   * status listener stays open, answering /readyz with 503, until the process exits: probes
   * must see the drain, not a refused connection that looks like a crash.
   */
  closeListeners(): void
}
