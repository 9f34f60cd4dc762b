/**
 * The slow-body attack (issue 14): clients that announce a large Content-Length and then send
 * one byte every few seconds, each reconnecting as soon as it is dropped, plus the normal client
 * whose latency the attack must not touch. Used by bench/slow-body.ts and by
 * test/integration/slow-body-attack.test.ts.
 */
import { request, Agent } from 'node:http'
import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'

export interface SlowUploadOptions {
  readonly host: string
  readonly port: number
  readonly count: number
  readonly path: string
  readonly contentLength: number
  /** Time between two bytes of a body. */
  readonly byteEveryMs: number
}

export interface SlowUploaders {
  /** Connections opened, and closed by the gateway (each reopened at once). */
  readonly connects: number
  readonly drops: number
  /** Uploaders with an open connection now. */
  readonly open: number
  stop(): void
}

/** Starts `count` uploaders, spread over the first `byteEveryMs`. */
export function startSlowUploaders(options: SlowUploadOptions): SlowUploaders {
  const head =
    `POST ${options.path} HTTP/1.1\r\nHost: ${options.host}\r\n` +
    `Content-Type: application/octet-stream\r\nContent-Length: ${options.contentLength}\r\n\r\n`
  let stopped = false
  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()
  const stats = { connects: 0, drops: 0 }

  const upload = (): void => {
    if (stopped) return
    stats.connects++
    const socket = connect(options.port, options.host)
    sockets.add(socket)
    let sent = 0
    const timer = setInterval(() => {
      if (sent < options.contentLength - 1) {
        socket.write('x')
        sent++
      }
    }, options.byteEveryMs)
    timers.add(timer)
    socket.on('connect', () => socket.write(head))
    socket.on('data', () => undefined)
    socket.on('error', () => undefined)
    socket.on('close', () => {
      clearInterval(timer)
      timers.delete(timer)
      sockets.delete(socket)
      if (stopped) return
      stats.drops++
      upload()
    })
  }

  for (let i = 0; i < options.count; i++) {
    const timer = setTimeout(
      () => {
        timers.delete(timer)
        upload()
      },
      Math.floor((i * options.byteEveryMs) / options.count),
    )
    timers.add(timer)
  }
  return {
    get connects() {
      return stats.connects
    },
    get drops() {
      return stats.drops
    },
    get open() {
      return sockets.size
    },
    stop() {
      stopped = true
      for (const timer of timers) clearTimeout(timer)
      for (const socket of sockets) socket.destroy()
    },
  }
}

export interface NormalClientResult {
  /** Milliseconds of each request, in order. */
  readonly latenciesMs: readonly number[]
  /** Statuses other than 200, and transport errors, by name. */
  readonly failures: readonly string[]
}

/**
 * One keep-alive client sending `GET path` back to back (each waits for the previous answer)
 * for `durationMs`; a request taking longer than `timeoutMs` counts as a failure.
 */
export async function runNormalClient(
  host: string,
  port: number,
  path: string,
  durationMs: number,
  timeoutMs: number,
): Promise<NormalClientResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const latenciesMs: number[] = []
  const failures: string[] = []
  const end = performance.now() + durationMs
  try {
    while (performance.now() < end) {
      const started = performance.now()
      const outcome = await getOnce(agent, host, port, path, timeoutMs)
      latenciesMs.push(performance.now() - started)
      if (outcome !== 200) failures.push(String(outcome))
    }
  } finally {
    agent.destroy()
  }
  return { latenciesMs, failures }
}

function getOnce(
  agent: Agent,
  host: string,
  port: number,
  path: string,
  timeoutMs: number,
): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, agent }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', (error) => resolve(error.message))
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', (error) => resolve(error.message))
    req.end()
  })
}

/** The `p`-th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}
