/** What the proxy needs of an upstream pool, whichever transport carries it. */
import type { Dispatcher } from 'undici'

/** The part of undici's Dispatcher the proxy uses: what both transports implement. */
export interface Transport {
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean
  close(): Promise<void>
}
