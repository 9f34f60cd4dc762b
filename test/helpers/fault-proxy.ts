/**
 * A small HTTP proxy that injects faults between the gateway and a server (an introspection
 * endpoint): it forwards requests as they are, or delays them, answers 500, answers garbage, or
 * stops listening (connection refused) until told otherwise. Counts the requests it received.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import { freePort } from './ports.js'

export type Fault =
  | { readonly kind: 'none' }
  /** Forwards after `ms`. */
  | { readonly kind: 'slow'; readonly ms: number }
  | { readonly kind: 'status'; readonly status: number }
  /** 200 with a body that is not JSON. */
  | { readonly kind: 'garbage' }
  /** 200 with JSON that is no introspection answer (no boolean `active`). */
  | { readonly kind: 'not_an_answer' }

export interface FaultProxy {
  readonly port: number
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  /** Requests received so far (a refused connection is none). */
  readonly requests: number
  inject(fault: Fault): void
  /** Stops listening: connections are refused until {@link listen}. */
  refuse(): Promise<void>
  listen(): Promise<void>
  close(): Promise<void>
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const port = await freePort()
  const to = new URL(target)
  let fault: Fault = { kind: 'none' }
  let requests = 0
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const out = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    out.on('error', () => res.destroy())
    req.pipe(out)
  }
  const server = createServer((req, res) => {
    requests++
    const current = fault
    switch (current.kind) {
      case 'none':
        return forward(req, res)
      case 'slow': {
        const timer = setTimeout(() => forward(req, res), current.ms)
        res.on('close', () => clearTimeout(timer))
        return
      }
      case 'status':
        req.resume()
        res.writeHead(current.status, { 'content-type': 'application/json' })
        return res.end('{"error":"server_error"}')
      case 'garbage':
        req.resume()
        res.writeHead(200, { 'content-type': 'application/json' })
        return res.end('<html>not json')
      case 'not_an_answer':
        req.resume()
        res.writeHead(200, { 'content-type': 'application/json' })
        return res.end('{"active":"yes"}')
    }
  })
  const listen = () =>
    new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()))
  const stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  await listen()
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests
    },
    inject(next) {
      fault = next
    },
    refuse: stop,
    listen,
    close: () => (server.listening ? stop() : Promise.resolve()),
  }
}
