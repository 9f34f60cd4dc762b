/**
 * Floor of a gateway on this front with native upstream sockets (src/native/upstream_socket.c):
 * the same work as uws-raw.ts, with the module's sockets in place of net.Socket.
 */
import type { HttpResponse } from 'uWebSockets.js'
import { loadNativeUws } from '../../src/front/load-uws.js'
import { loadNativeAddon } from '../../src/native/load.js'
import { floorArgs } from './args.js'

interface UpstreamSockets {
  init(buffer: Buffer, onEvent: (slot: number, event: number, value: number) => void): void
  open(address: string, port: number): number
  write(slot: number, data: string | Uint8Array): number
}
const loaded = loadNativeAddon<UpstreamSockets>('upstream_socket')
if (loaded.addon === null) throw new Error(`src/native upstream_socket: ${loaded.failure}`)
const sockets = loaded.addon
const { port, upstream } = floorArgs()
const { uws } = loadNativeUws()
const idle: Connection[] = []
const bySlot: Connection[] = []
const READ = Buffer.allocUnsafe(65536)

class Connection {
  readonly slot: number
  res: HttpResponse | null = null
  aborted = false
  constructor() {
    this.slot = sockets.open(upstream.hostname, Number(upstream.port))
    bySlot[this.slot] = this
  }
  onData(n: number): void {
    const res = this.res
    if (res === null) return
    const data = READ.subarray(0, n)
    const end = data.indexOf('\r\n\r\n')
    const match = /content-length: *(\d+)/i.exec(data.toString('latin1', 0, end))
    const body = data.subarray(end + 4, end + 4 + Number(match?.[1] ?? 0))
    this.res = null
    idle.push(this)
    if (!this.aborted) res.cork(() => res.writeStatus('200 OK').tryEnd(body, body.length))
  }
}

sockets.init(READ, (slot, event, value) => {
  if (event === 2) bySlot[slot]!.onData(value)
})

uws
  .App()
  .any('/*', (res, req) => {
    const connection = idle.pop() ?? new Connection()
    connection.res = res
    connection.aborted = false
    res.onAborted(() => (connection.aborted = true))
    sockets.write(connection.slot, `GET ${req.getUrl()} HTTP/1.1\r\nhost: ${upstream.host}\r\n\r\n`)
  })
  .listen('127.0.0.1', port, () => undefined)
