/**
 * The gateway under fuzzing: the built CLI started as an operator would, on loopback ports of its
 * own, with routes for every seed shape. Its log is watched for worker deaths, and its worker pids
 * (from the startup and respawn lines) are what RSS is read from.
 */
import { createHmac } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freeTcpPort, freeUdpPorts } from '../free-ports.js'
import { Child } from '../processes.js'

export interface FuzzGateway {
  readonly port: number
  readonly host: string
  /** Current worker pids (respawned ones replace the dead). */
  readonly workerPids: number[]
  /** Every `worker died` line, as text, with the time it was read. */
  readonly deaths: { at: number; line: string }[]
  readonly child: Child
  stop(): Promise<void>
}

const SECRET = 'portcullis-fuzz-secret-of-at-least-32-bytes'

function hs256(payload: object, secret = SECRET): string {
  const input = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** A valid token first, then the ways a token is refused. */
export function fuzzTokens(): string[] {
  const now = Math.floor(Date.now() / 1000)
  const claims = { iss: 'fuzz', aud: 'fuzz', sub: 'fuzzer', scope: 'read', exp: now + 3600 }
  return [
    hs256(claims),
    hs256({ ...claims, exp: now - 3600 }),
    hs256(claims, 'another-secret-that-is-also-32-bytes-long'),
    `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`,
    'not.a.token',
    hs256({ ...claims, sub: 'a\r\nX-Injected: 1' }),
  ]
}

export interface GatewayOptions {
  readonly cli: string
  readonly root: string
  readonly front: 'uws' | 'node'
  readonly workers: number
  readonly echoUrl: string
  readonly rawUrl: string
}

export async function startFuzzGateway(options: GatewayOptions): Promise<FuzzGateway> {
  const port = await freeTcpPort()
  const config = {
    listeners: {
      http: { host: '127.0.0.1', port },
      status: { host: '127.0.0.1', port: await freeTcpPort() },
    },
    cluster: { shutdown_grace: '2s', respawn_backoff_max: '1s' },
    // Short: a case whose body never completes gets its 408 within the fuzzer's answer wait.
    limits: { max_body: '64KiB', request_timeout: '1s' },
    log: { level: 'info', access: false, audit: false },
    gossip: { port: await freeUdpPorts(options.workers) },
    issuers: [
      { name: 'fz', issuer: 'fuzz', secret: SECRET, audiences: ['fuzz'], algorithms: ['HS256'] },
    ],
    upstreams: {
      echo: { targets: [options.echoUrl], timeout: '2s', body_timeout: '2s' },
      // Every mutated answer may count as a failure: the target must never be ejected.
      raw: {
        targets: [options.rawUrl],
        retries: 0,
        connect_timeout: '1s',
        timeout: '1s',
        body_timeout: '1s',
        eject_after: 1_000_000_000,
      },
    },
    rate_limits: { fz: { key: 'ip', rate: '100000/s' } },
    routes: [
      { name: 'pub', match: { paths: ['/pub/*'] }, upstream: 'echo', auth: 'none' },
      {
        name: 'jwt',
        match: { paths: ['/jwt/*'] },
        upstream: 'echo',
        auth: 'jwt',
        jwt: { issuers: ['fz'] },
        scopes: ['read'],
        forward: { claims: { sub: 'X-User-Id' } },
      },
      { name: 'rl', match: { paths: ['/rl/*'] }, upstream: 'echo', auth: 'none', rate_limit: 'fz' },
      { name: 'ws', match: { paths: ['/ws/*'] }, upstream: 'echo', auth: 'none', websocket: true },
      { name: 'rf', match: { paths: ['/rf/*'] }, upstream: 'raw', auth: 'none' },
    ],
  }
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-fuzz-'))
  const file = join(dir, 'gateway.json')
  writeFileSync(file, JSON.stringify(config, null, 2))
  const child = new Child({
    name: 'gateway',
    command: process.execPath,
    args: [
      options.cli,
      'start',
      '--config',
      file,
      '--workers',
      String(options.workers),
      '--front',
      options.front,
    ],
    cwd: options.root,
  })
  const workerPids: number[] = []
  const deaths: { at: number; line: string }[] = []
  child.onLine((line) => {
    if (line.includes('"worker died')) {
      deaths.push({ at: Date.now(), line })
      const pid = (JSON.parse(line) as { pid?: number }).pid
      const at = workerPids.indexOf(pid ?? -1)
      if (at >= 0) workerPids.splice(at, 1)
    } else if (line.includes('"worker respawned')) {
      const pid = (JSON.parse(line) as { pid?: number }).pid
      if (pid !== undefined) workerPids.push(pid)
    }
  })
  try {
    const pids = await child.waitForLine(
      (line) =>
        line.includes('"portcullis started"')
          ? (JSON.parse(line) as { pids: number[] }).pids
          : undefined,
      20_000,
      'startup line',
    )
    workerPids.push(...pids.slice(1))
  } catch (error) {
    await child.stop(1000)
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  return {
    port,
    host: `127.0.0.1:${port}`,
    workerPids,
    deaths,
    child,
    async stop() {
      await child.stop(3000)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
