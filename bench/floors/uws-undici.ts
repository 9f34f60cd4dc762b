/**
 * Floor of an undici-based gateway: the uWS front dispatching every request to an undici Pool,
 * with no routing, no checks and one forwarded header. What portcullis costs above this is its
 * own; what this costs above uws-raw.ts is undici's. Run through the bench:
 * `npm run bench -- --pin --targets passthrough --gateway-cmd "node dist/bench/floors/uws-undici.js --port {port} --upstream {upstream}"`
 */
import { Pool, type Dispatcher } from 'undici'
import type { HttpResponse } from 'uWebSockets.js'
import { loadNativeUws } from '../../src/front/load-uws.js'
import { floorArgs } from './args.js'

const { port, upstream } = floorArgs()
const { uws } = loadNativeUws()
const pool = new Pool(upstream.origin, { connections: 128 })
const headers = ['host', upstream.host]

class Relay implements Dispatcher.DispatchHandler {
  aborted = false
  constructor(readonly res: HttpResponse) {}
  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.aborted) return
    this.res.cork(() => this.res.writeStatus('200 OK').tryEnd(chunk, chunk.length))
  }
  onResponseError(): void {
    if (!this.aborted) this.res.cork(() => this.res.writeStatus('502 Bad Gateway').end())
  }
}

uws
  .App()
  .any('/*', (res, req) => {
    const relay = new Relay(res)
    res.onAborted(() => (relay.aborted = true))
    pool.dispatch({ path: req.getUrl(), method: 'GET', headers }, relay)
  })
  .listen('127.0.0.1', port, () => undefined)
