/**
 * Floor of any JavaScript gateway on this front: the uWS front writing `GET` heads to a pool of
 * keep-alive `net.Socket`s and slicing a Content-Length body out of the first read. Not a client
 * (no chunked bodies, no split reads, no errors): a measure of the sockets' own cost. Run through
 * the bench like uws-undici.ts.
 */
import { connect, type Socket } from 'node:net'
import type { HttpResponse } from 'uWebSockets.js'
import { loadNativeUws } from '../../src/front/load-uws.js'
import { floorArgs } from './args.js'

const { port, upstream } = floorArgs()
const { uws } = loadNativeUws()
const idle: Connection[] = []

class Connection {
  readonly socket: Socket
  res: HttpResponse | null = null
  aborted = false
  constructor() {
    this.socket = connect(Number(upstream.port), upstream.hostname).setNoDelay(true)
    this.socket.on('data', (data: Buffer) => this.onData(data))
  }
  onData(data: Buffer): void {
    const res = this.res
    if (res === null) return
    const end = data.indexOf('\r\n\r\n')
    const match = /content-length: *(\d+)/i.exec(data.toString('latin1', 0, end))
    const body = data.subarray(end + 4, end + 4 + Number(match?.[1] ?? 0))
    this.res = null
    idle.push(this)
    if (!this.aborted) res.cork(() => res.writeStatus('200 OK').tryEnd(body, body.length))
  }
}

uws
  .App()
  .any('/*', (res, req) => {
    const connection = idle.pop() ?? new Connection()
    connection.res = res
    connection.aborted = false
    res.onAborted(() => (connection.aborted = true))
    connection.socket.write(
      `GET ${req.getUrl()} HTTP/1.1\r\nhost: ${upstream.host}\r\n\r\n`,
      'latin1',
    )
  })
  .listen('127.0.0.1', port, () => undefined)
