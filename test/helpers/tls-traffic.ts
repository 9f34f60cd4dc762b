/**
 * HTTPS traffic from inside a network namespace (netns.ts), for the suites that change a TLS
 * listener while it serves: loops that open a new connection for every request (half of them
 * without SNI, half naming `servername`) and loops that send every request on one kept-alive
 * connection each. Every answer and every failure is reported to the test with the certificate
 * the server presented; the traffic is bounded in requests and in time, and stops by itself.
 */
import { createInterface } from 'node:readline'
import type { NetnsHost } from './netns.js'

export interface TlsTrafficOptions {
  /** The TLS listener, on the namespace's loopback. */
  readonly port: number
  /** The name the SNI loops send (and their Host). */
  readonly servername: string
  /** Loops opening a new connection per request. */
  readonly fresh: number
  /** Loops keeping one connection alive each. */
  readonly kept: number
  /** Requests in all, after which every loop stops. */
  readonly maxRequests: number
  /** Time after which every loop stops. */
  readonly maxMs: number
}

/** One answered request: on a new connection or a kept one, with or without SNI. */
export interface TlsAnswer {
  readonly fresh: boolean
  readonly sni: boolean
  readonly status: number
  /** Subject CN of the certificate the connection was served. */
  readonly cn: string
}

export interface TlsTrafficSummary {
  readonly answers: readonly TlsAnswer[]
  /** Requests that got no answer, or one other than 200: `new|kept, sni|no-sni: why`. */
  readonly failures: readonly string[]
}

export interface TlsTraffic {
  /**
   * Resolves once `count` answers in a row on new connections of the kind (`sni` or not) were
   * served `cn`: the listener serves it to every new connection, not only to some of them (a
   * worker that reloads later, a connection accepted before the reload). Rejects after `timeoutMs`.
   */
  settledOn(cn: string, sni: boolean, count: number, timeoutMs?: number): Promise<void>
  /** Stops the loops (or waits for them, if they stopped by themselves) and reports. */
  stop(): Promise<TlsTrafficSummary>
}

/**
 * The process inside the namespace: its options as the first line of stdin, then one JSON line
 * out per request; it stops when stdin closes, at maxRequests or at maxMs, and writes `{"done":1}`.
 */
const DRIVER_SOURCE = `
import { Agent, request } from 'node:https'
import { createInterface } from 'node:readline'
const input = createInterface({ input: process.stdin })
const write = (message) => process.stdout.write(JSON.stringify(message) + '\\n')
let stopping = false
let sent = 0
const once = (options, agent, sni) =>
  new Promise((resolve) => {
    const req = request({
      host: '127.0.0.1', port: options.port, path: '/', agent,
      headers: { host: sni ? options.servername : '127.0.0.1' },
      ...(sni ? { servername: options.servername } : {}),
      rejectUnauthorized: false, timeout: 10000,
    }, (res) => {
      const cn = res.socket.getPeerCertificate().subject?.CN ?? ''
      res.resume()
      res.on('end', () => resolve({ fresh: agent === false, sni, status: res.statusCode, cn }))
      res.on('error', (error) => resolve({ fresh: agent === false, sni, error: error.message }))
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', (error) =>
      resolve({ fresh: agent === false, sni, error: (error.code ?? '') + ' ' + error.message }))
    req.end()
  })
const loop = async (options, agent, sni) => {
  while (!stopping && sent < options.maxRequests) {
    sent++
    write(await once(options, agent, sni))
  }
  if (agent !== false) agent.destroy()
}
input.once('line', async (line) => {
  const options = JSON.parse(line)
  input.once('close', () => (stopping = true))
  setTimeout(() => (stopping = true), options.maxMs).unref()
  const loops = []
  for (let i = 0; i < options.fresh; i++) loops.push(loop(options, false, i % 2 === 1))
  for (let i = 0; i < options.kept; i++)
    loops.push(loop(options, new Agent({ keepAlive: true, maxSockets: 1 }), i % 2 === 1))
  await Promise.all(loops)
  write({ done: 1 })
  process.exit(0)
})
`

type DriverLine =
  | { readonly done: 1 }
  | (TlsAnswer & { readonly error?: undefined })
  | { readonly fresh: boolean; readonly sni: boolean; readonly error: string }

/** Starts the traffic in `host` at once. */
export function startTlsTraffic(host: NetnsHost, options: TlsTrafficOptions): TlsTraffic {
  const child = host.spawn([process.execPath, '--input-type=module', '-e', DRIVER_SOURCE], 'pipe')
  const answers: TlsAnswer[] = []
  const failures: string[] = []
  const stderr: string[] = []
  const waiters = new Set<() => void>()
  let done = false
  const finished = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      if (!done) failures.push(`traffic exited early (${code ?? signal}): ${stderr.join('\n')}`)
      resolve()
    })
  })
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line))
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as DriverLine
    if ('done' in line) {
      done = true
      return
    }
    const kind = `${line.fresh ? 'new' : 'kept'}, ${line.sni ? 'sni' : 'no-sni'}`
    if (line.error !== undefined) failures.push(`${kind}: ${line.error}`)
    else {
      answers.push(line)
      if (line.status !== 200) failures.push(`${kind}: status ${line.status}`)
    }
    for (const waiter of waiters) waiter()
  })
  child.stdin!.write(`${JSON.stringify(options)}\n`)

  return {
    settledOn(cn, sni, count, timeoutMs = 15_000): Promise<void> {
      let run = 0
      let read = answers.length
      return new Promise((resolve, reject) => {
        const check = (): void => {
          for (; read < answers.length; read++) {
            const answer = answers[read]!
            if (!answer.fresh || answer.sni !== sni) continue
            run = answer.cn === cn ? run + 1 : 0
          }
          if (run < count) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          const seen = answers.filter((a) => a.fresh && a.sni === sni).slice(-count)
          reject(
            new Error(
              `not ${count} new ${sni ? 'SNI' : 'no-SNI'} connections in a row served ${cn} ` +
                `within ${timeoutMs} ms; the last: ${seen.map((a) => a.cn).join(', ')}`,
            ),
          )
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    async stop(): Promise<TlsTrafficSummary> {
      child.stdin!.end()
      await finished
      return { answers, failures }
    },
  }
}
