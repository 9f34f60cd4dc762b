/**
 * The bench upstream, run as its own process by bench/run.ts.
 *
 * `--impl uws` (default) answers every request with `{"ok":true}` from uWebSockets.js: on a 2-core
 * machine the upstream shares a core with the loader, so the cheaper it is, the less of that core it
 * takes from the load side. `--impl node` runs scripts/demo-upstream.ts instead (node:http), for
 * comparing with what most users would put behind the gateway.
 *
 * Prints one JSON line `{"event":"ready",…}` once listening. Exits when its parent dies, so a
 * harness killed with SIGKILL does not leave it holding the port.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js'
import { startDemoUpstream } from '../scripts/demo-upstream.js'

interface UwsModule {
  App(): TemplatedApp
  us_listen_socket_close(socket: us_listen_socket): void
}

const BODY = '{"ok":true}'

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(name)
  return at >= 0 ? process.argv[at + 1] : undefined
}

/**
 * Loads the native binding straight from its file: the package's own loader falls back to a slow
 * pure-JS implementation with only a warning, which would quietly skew every figure.
 */
function loadUws(): UwsModule {
  const require = createRequire(import.meta.url)
  const root = dirname(require.resolve('uWebSockets.js/package.json'))
  const file = join(
    root,
    'binaries',
    `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`,
  )
  const loaded: unknown = require(file)
  return loaded as UwsModule
}

function startUws(host: string, port: number): Promise<() => void> {
  const uws = loadUws()
  const app = uws.App()
  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    const length = req.getHeader('content-length')
    if ((length === '' || length === '0') && req.getHeader('transfer-encoding') === '') {
      res.writeHeader('content-type', 'application/json').end(BODY)
      return
    }
    // A body must be read to its end before answering, or keep-alive breaks.
    let aborted = false
    res.onAborted(() => {
      aborted = true
    })
    res.onData((_chunk, isLast) => {
      if (isLast && !aborted) {
        res.cork(() => res.writeHeader('content-type', 'application/json').end(BODY))
      }
    })
  })
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (socket === false) reject(new Error(`uws: cannot listen on ${host}:${port}`))
      else resolve(() => uws.us_listen_socket_close(socket))
    })
  })
}

async function main(): Promise<void> {
  const impl = flag('--impl') ?? 'uws'
  const host = flag('--host') ?? '127.0.0.1'
  const port = Number(flag('--port') ?? '18090')
  const parent = process.ppid

  let close: () => void | Promise<void>
  if (impl === 'uws') {
    close = await startUws(host, port)
  } else if (impl === 'node') {
    const upstream = await startDemoUpstream({ host, port })
    close = () => upstream.close()
  } else {
    throw new Error(`--impl must be uws or node, got ${impl}`)
  }

  // Every way out says why on stderr: the harness shows it if the upstream leaves mid-run.
  const shutdown = (signal: NodeJS.Signals): void => {
    process.stderr.write(`upstream: ${signal}, closing\n`)
    void Promise.resolve(close()).then(() => process.exit(0))
  }
  process.once('SIGTERM', shutdown)
  process.once('SIGINT', shutdown)
  process.once('SIGHUP', shutdown)
  process.once('beforeExit', () => process.stderr.write('upstream: event loop empty, exiting\n'))
  // Reparented (ppid changes) means the harness is gone.
  setInterval(() => {
    if (process.ppid === parent) return
    process.stderr.write(`upstream: parent ${parent} gone (ppid ${process.ppid}), exiting\n`)
    process.exit(0)
  }, 1000).unref()

  process.stdout.write(`${JSON.stringify({ event: 'ready', impl, port, pid: process.pid })}\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(`upstream: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
