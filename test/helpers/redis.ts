/**
 * A real redis-server for the suites that need one, on a free loopback port, with no disk
 * persistence unless asked. CI installs the Debian package (.ci/run); a missing binary is an error, never a skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './ports.js'

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** Stops the server (SIGKILL: an outage, not a shutdown). */
  kill(): Promise<void>
  /** Starts it again on the same port. */
  restart(): Promise<void>
}

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

export function redisServerPath(): string {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' })
  const path = found.stdout.trim()
  if (found.status !== 0 || path === '') {
    throw new Error(
      'redis-server is not installed (apt-get install -y redis-server; .ci/run does it)',
    )
  }
  return path
}

/**
 * A redis-server on a free loopback port. `persist`: its data survives kill and restart (an
 * append-only file in a temp dir, synced on every write), as a production Redis's would.
 */
export async function startRedis(options: { persist?: boolean } = {}): Promise<RedisServer> {
  const binary = redisServerPath()
  const port = await freePort()
  const storage = options.persist
    ? [
        '--dir',
        mkdtempSync(join(tmpdir(), 'pcl-redis-')),
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
      ]
    : ['--appendonly', 'no']
  let child: ChildProcess | null = null
  const launch = async () => {
    child = spawn(
      binary,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        ...storage,
        '--protected-mode',
        'yes',
      ],
      { stdio: 'ignore' },
    )
    running.add(child)
    const started = Date.now()
    while (!(await accepts(port))) {
      if (Date.now() - started > 10_000) throw new Error(`redis-server did not listen on ${port}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  await launch()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      const c = child
      if (c === null) return
      child = null
      running.delete(c)
      const exited = new Promise((r) => c.once('exit', r))
      c.kill('SIGKILL')
      await exited
    },
    restart: launch,
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
