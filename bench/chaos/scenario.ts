/**
 * The chaos scenario: a gateway of two workers under steady paced load on a JWT route and a
 * rate-limited route, with Redis and a JWKS endpoint, goes through, one after the other:
 *
 *   steady → a worker killed with SIGKILL (the primary respawns it) → two SIGHUP reloads →
 *   Redis killed → Redis restarted (empty) → the JWKS endpoint answering 500 → JWKS back.
 *
 * It returns counts per phase (statuses, failed requests, the gateway's log lines that document
 * each degradation) and, for the kill, which connections the killed worker held and which
 * requests were in flight on them, so a caller can check that only those failed.
 * Used by test/integration/chaos.test.ts (short phases) and bench/chaos/run.ts (long ones).
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  sign,
  type KeyObject,
} from 'node:crypto'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Child, portAccepts, sleep } from '../processes.js'
import { startEchoUpstream } from '../fuzz/targets.js'
import { PacedLoad, type LoadRequest, type Sample } from './load.js'
import { connectionOwners } from './owners.js'

export const PHASES = [
  'steady',
  'worker killed',
  'two reloads',
  'redis down',
  'redis back',
  'jwks failing',
  'jwks back',
] as const
export type Phase = (typeof PHASES)[number]

export interface ChaosOptions {
  readonly root: string
  readonly front: 'uws' | 'node'
  /** `--native`: off runs every native module's fallback (CI's second integration run). */
  readonly native: 'auto' | 'off'
  /** Requests per second, spread over the kinds of request. */
  readonly rate: number
  /** How long each phase lasts once its event has happened. */
  readonly phaseMs: number
  /** The rate-limited route's limit, per second (burst the same). */
  readonly limitPerSecond: number
  /** Free loopback TCP ports, and a base of `count` free UDP ports. */
  readonly freePort: () => Promise<number>
  readonly freeUdpBase: (count: number) => Promise<number>
  readonly log?: (line: string) => void
}

export interface PhaseFigures {
  readonly phase: Phase
  readonly ms: number
  /**
   * `kind → status (or error) → count`, of the requests that ended in the phase: one in flight
   * at the kill fails in 'worker killed', however long before it was sent.
   */
  readonly outcomes: Record<string, Record<string, number>>
  /** Gateway log messages during the phase, by message, for the documented ones. */
  readonly logs: Record<string, number>
}

export interface KillFigures {
  readonly victim: number
  /** Client connections whose server end the victim held just before the kill. */
  readonly victimConnections: number
  /** Requests in flight on those connections at the kill. */
  readonly inFlightOnVictim: number
  readonly inFlightElsewhere: number
  /** Requests that failed (no status) over the whole run. */
  readonly failed: number
  readonly failedOnVictim: number
  /** Failed on a connection no worker held at the kill (opened after it, or not yet accepted). */
  readonly failedUnmapped: number
  readonly failedElsewhere: number
  readonly respawnMs: number
}

export interface ChaosReport {
  readonly phases: readonly PhaseFigures[]
  readonly kill: KillFigures
  readonly jwksHitsWhileFailing: number
  readonly total: number
}

/** Messages of the gateway's log that name a documented behaviour. */
const WATCHED = [
  'worker died; respawning',
  'worker respawned and listening',
  'config reloaded',
  'rate-limit sync: redis unavailable; limiting on gossip and local counters until it returns',
  'rate-limit sync: redis is back; backlog published',
  'revocation sync: redis unavailable; keeping the last known list',
  'revocation sync recovered',
  'jwks refresh failed',
]

const ISSUER = 'https://chaos-idp.example'
const AUDIENCE = 'chaos'
const REVOKED_JTI = 'chaos-revoked'

function es256Token(key: KeyObject, kid: string, jti: string): string {
  const now = Math.floor(Date.now() / 1000)
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid, typ: 'JWT' })).toString(
    'base64url',
  )
  const payload = Buffer.from(
    JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'chaos', jti, iat: now, exp: now + 3600 }),
  ).toString('base64url')
  const input = `${header}.${payload}`
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
  return `${input}.${signature.toString('base64url')}`
}

interface Jwks {
  readonly url: string
  failing: boolean
  hits: number
  close(): Promise<void>
}

async function startJwks(jwk: object): Promise<Jwks> {
  const state = { failing: false, hits: 0 }
  const server: Server = createServer((_req, res) => {
    if (state.failing) {
      state.hits++
      res.writeHead(500, { 'content-type': 'text/plain' }).end('identity provider down')
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/jwks.json`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  })
}

interface Redis {
  readonly url: string
  kill(): Promise<void>
  start(): Promise<void>
}

async function redisOn(port: number): Promise<Redis> {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' })
  const binary = found.stdout.trim()
  if (found.status !== 0 || binary === '') throw new Error('redis-server is not installed')
  let child: Child | null = null
  const redis: Redis = {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = new Child({
        name: 'redis-server',
        command: binary,
        args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      })
      const until = Date.now() + 10_000
      while (!(await portAccepts('127.0.0.1', port))) {
        if (Date.now() > until)
          throw new Error(`redis-server did not listen on ${port}\n${child.tail()}`)
        await sleep(50)
      }
    },
    async kill() {
      const c = child
      child = null
      if (c === null) return
      process.kill(c.pid, 'SIGKILL')
      await c.exited
    },
  }
  await redis.start()
  return redis
}

/** Runs the whole scenario; every process it started is stopped before it returns. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined)
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const kid = 'chaos-key'
  const jwks = await startJwks({
    ...publicKey.export({ format: 'jwk' }),
    kid,
    alg: 'ES256',
    use: 'sig',
  })
  const upstream = await startEchoUpstream()
  const redis = await redisOn(await options.freePort())
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-chaos-'))
  const stops: (() => Promise<unknown>)[] = [
    () => jwks.close(),
    () => upstream.close(),
    () => redis.kill(),
  ]
  try {
    const port = await options.freePort()
    const adminPort = await options.freePort()
    // Revocations go through the admin API, as operators make them.
    const adminToken = randomBytes(24).toString('base64url')
    const config = {
      listeners: {
        http: { host: '127.0.0.1', port },
        status: { host: '127.0.0.1', port: await options.freePort() },
        admin: { host: '127.0.0.1', port: adminPort },
      },
      admin: { tokens: [createHash('sha256').update(adminToken).digest('hex')] },
      cluster: { shutdown_grace: '2s', respawn_backoff_max: '1s' },
      log: { level: 'info', access: false, audit: false },
      gossip: { port: await options.freeUdpBase(2) },
      redis: { url: redis.url, rate_limit_sync: { interval: '200ms' } },
      issuers: [
        {
          name: 'idp',
          issuer: ISSUER,
          jwks_uri: jwks.url,
          audiences: [AUDIENCE],
          algorithms: ['ES256'],
          jwks: { timeout: '1s', refresh: '1s', min_refresh: '1s', cooldown: '1s' },
        },
      ],
      upstreams: { echo: { targets: [upstream.url] } },
      rate_limits: {
        'per-ip': { key: 'ip', rate: `${options.limitPerSecond}/s`, burst: options.limitPerSecond },
      },
      routes: [
        {
          name: 'jwt',
          match: { paths: ['/jwt/*'] },
          upstream: 'echo',
          auth: 'jwt',
          jwt: { issuers: ['idp'] },
        },
        {
          name: 'limited',
          match: { paths: ['/limited/*'] },
          upstream: 'echo',
          auth: 'none',
          rate_limit: 'per-ip',
        },
      ],
    }
    const file = join(dir, 'gateway.json')
    writeFileSync(file, JSON.stringify(config, null, 2))
    const cli = join(options.root, 'dist/src/cli/main.js')
    const gateway = new Child({
      name: 'gateway',
      command: process.execPath,
      args: [
        cli,
        'start',
        '--config',
        file,
        '--workers',
        '2',
        '--front',
        options.front,
        '--native',
        options.native,
      ],
      cwd: options.root,
    })
    stops.unshift(() => gateway.stop(3000))
    const seen: { at: number; msg: string }[] = []
    gateway.onLine((line) => {
      const msg = /"msg":"([^"]*)"/.exec(line)?.[1]
      const known = msg === undefined ? undefined : WATCHED.find((w) => msg.startsWith(w))
      if (known !== undefined) seen.push({ at: Date.now(), msg: known })
    })
    const started = await gateway.waitForLine(
      (line) =>
        line.includes('"portcullis started"')
          ? (JSON.parse(line) as { pids: number[] }).pids
          : undefined,
      30_000,
      'startup line',
    )
    const workers = started.slice(1)
    log(
      `gateway ${gateway.pid}, workers ${workers.join(' ')}, redis ${redis.url}, jwks ${jwks.url}`,
    )

    // A jti revoked through the admin API into Redis: refused on every worker within a second, and while Redis is down.
    execFileSync(
      process.execPath,
      [
        cli,
        'revoke',
        '--admin-url',
        `http://127.0.0.1:${adminPort}`,
        '--admin-token',
        adminToken,
        '--jti',
        REVOKED_JTI,
        '--ttl',
        '1h',
      ],
      { cwd: options.root },
    )
    const revoked = es256Token(privateKey, kid, REVOKED_JTI)
    const unknownKidKey = createPrivateKey(
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
        format: 'pem',
        type: 'pkcs8',
      }),
    )
    await sleep(1500)

    let phase: Phase = 'steady'
    let sendRevoked = true
    let n = 0
    const next = (): LoadRequest => {
      n++
      const base = { headers: {} as Record<string, string> }
      // Half to the rate-limited route; the rest fresh tokens (a signature check each), with a
      // revoked token and a token of an unknown key now and then.
      if (n % 2 === 0) return { ...base, path: `/limited/${n}`, kind: 'limited' }
      if (n % 20 === 1 && sendRevoked)
        return {
          path: `/jwt/${n}`,
          headers: { authorization: `Bearer ${revoked}` },
          kind: 'revoked',
        }
      if (n % 20 === 3)
        return {
          path: `/jwt/${n}`,
          headers: {
            authorization: `Bearer ${es256Token(unknownKidKey, 'unknown-kid', randomUUID())}`,
          },
          kind: 'unknown kid',
        }
      return {
        path: `/jwt/${n}`,
        headers: { authorization: `Bearer ${es256Token(privateKey, kid, randomUUID())}` },
        kind: 'jwt',
      }
    }
    const load = new PacedLoad(`http://127.0.0.1:${port}`, options.rate, next)
    stops.unshift(() => load.stop())

    const bounds: { phase: Phase; from: number; to: number }[] = []
    let phaseStart = Date.now()
    const enter = (p: Phase) => {
      bounds.push({ phase, from: phaseStart, to: Date.now() })
      phase = p
      phaseStart = Date.now()
      log(`phase: ${p}`)
    }
    const count = (msg: string, from: number) =>
      seen.filter((s) => s.msg === msg && s.at >= from).length
    const waitLogs = async (msg: string, atLeast: number, from: number, timeoutMs: number) => {
      const until = Date.now() + timeoutMs
      while (count(msg, from) < atLeast) {
        if (Date.now() > until)
          throw new Error(`no ${atLeast} × "${msg}" within ${timeoutMs} ms\n${gateway.tail()}`)
        await sleep(25)
      }
    }

    load.start()
    await sleep(options.phaseMs)

    // Kill: the victim is the worker holding the most client connections, read just before.
    const owners = connectionOwners(port, workers)
    const perWorker = new Map<number, number>()
    for (const pid of owners.values()) perWorker.set(pid, (perWorker.get(pid) ?? 0) + 1)
    const victim = [...perWorker].sort((a, b) => b[1] - a[1])[0]?.[0] ?? workers[0]!
    const victimPorts = new Set([...owners].filter(([, pid]) => pid === victim).map(([p]) => p))
    const inFlight = load.inFlight()
    enter('worker killed')
    const killedAt = Date.now()
    process.kill(victim, 'SIGKILL')
    await waitLogs('worker respawned and listening', 1, killedAt, 15_000)
    const respawnMs = Date.now() - killedAt
    await sleep(options.phaseMs)

    enter('two reloads')
    for (let i = 1; i <= 2; i++) {
      const from = Date.now()
      process.kill(gateway.pid, 'SIGHUP')
      await waitLogs('config reloaded', 1, from, 10_000)
    }
    await sleep(options.phaseMs)

    enter('redis down')
    const downAt = Date.now()
    await redis.kill()
    await waitLogs(WATCHED[3]!, 2, downAt, 10_000)
    await sleep(options.phaseMs)
    // Redis comes back empty (no persistence): the revocation it held is gone with it.
    sendRevoked = false
    enter('redis back')
    const upAt = Date.now()
    await redis.start()
    await waitLogs(WATCHED[4]!, 2, upAt, 20_000)
    await sleep(options.phaseMs)

    enter('jwks failing')
    const jwksFrom = Date.now()
    jwks.failing = true
    await waitLogs('jwks refresh failed', 2, jwksFrom, 10_000)
    await sleep(options.phaseMs)
    jwks.failing = false
    enter('jwks back')
    await sleep(options.phaseMs)
    await load.stop()
    bounds.push({ phase, from: phaseStart, to: Date.now() })

    const failed = load.samples.filter((s) => s.error !== null)
    const onVictim = (s: Sample) => s.port !== null && victimPorts.has(s.port)
    const mapped = (s: Sample) => s.port !== null && owners.has(s.port)
    const phases = bounds.map(({ phase: p, from, to }): PhaseFigures => {
      const outcomes: Record<string, Record<string, number>> = {}
      for (const s of load.samples) {
        const at = s.endAt ?? s.sentAt
        if (at < from || at >= to) continue
        const key = s.error ?? String(s.status)
        const byKind = (outcomes[s.kind] ??= {})
        byKind[key] = (byKind[key] ?? 0) + 1
      }
      const logs: Record<string, number> = {}
      for (const s of seen) if (s.at >= from && s.at < to) logs[s.msg] = (logs[s.msg] ?? 0) + 1
      return { phase: p, ms: to - from, outcomes, logs }
    })
    return {
      phases,
      kill: {
        victim,
        victimConnections: victimPorts.size,
        inFlightOnVictim: inFlight.filter(onVictim).length,
        inFlightElsewhere: inFlight.filter((s) => !onVictim(s)).length,
        failed: failed.length,
        failedOnVictim: failed.filter(onVictim).length,
        failedUnmapped: failed.filter((s) => !mapped(s)).length,
        failedElsewhere: failed.filter((s) => mapped(s) && !onVictim(s)).length,
        respawnMs,
      },
      jwksHitsWhileFailing: jwks.hits,
      total: load.samples.length,
    }
  } finally {
    for (const stop of stops) await stop().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
}
