/** What the proxy needs of an upstream pool, whichever transport carries it. */
import type { Dispatcher } from 'undici'

/** The part of undici's Dispatcher the proxy uses: what both transports implement. */
export interface Transport {
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean
  close(): Promise<void>
}

/**
 * Connections a transport holds open: the native pool's `stats.connections`, undici's
 * `stats.connected`; 0 for a transport that reports neither.
 */
export function openConnections(transport: Transport): number {
  const stats = (transport as { stats?: { connections?: number; connected?: number } }).stats
  return stats?.connections ?? stats?.connected ?? 0
}
