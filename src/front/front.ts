/** The seam between the gateway and its two fronts (uws.ts, node.ts). */
import type { ListenerKind } from '../gateway/exchange.js'
import type { Runtime } from '../gateway/runtime.js'
import type { ServerTls } from '../tls/server-tls.js'

export interface FrontListener {
  readonly kind: ListenerKind
  readonly host: string
  readonly port: number
  /** Certificates (and client verification, on 'mtls'), as checked by tls/server-tls.ts. */
  readonly tls: ServerTls | null
  /** Every connection starts with a PROXY header (front/proxy-protocol-server.ts). */
  readonly proxyProtocol?: boolean
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
  /**
   * New certificates, keys, CA bundle and CRLs for the TLS listener of `kind` (a reload): new
   * connections get them, open connections keep the ones they were made with. Rejects, with the
   * old ones still serving, when they cannot be applied.
   */
  updateTls(kind: ListenerKind, tls: ServerTls): Promise<void>
  /** New requests use this runtime from now on; requests in flight keep theirs. */
  setRuntime(runtime: Runtime): void
  /**
   * Stops accepting connections on the traffic listeners (existing ones keep being served). The
   * status listener stays open, answering /readyz with 503, until the process exits: probes
   * must see the drain, not a refused connection that looks like a crash.
   */
  closeListeners(): void
}
