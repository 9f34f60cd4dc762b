import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  FRONTS,
  runCli,
  startGateway,
  stopAllGateways,
  type ConfigInput,
  type LogLine,
} from '../helpers/gateway.js'
import { send, type HttpResult } from '../helpers/http.js'
import { createSigner } from '../helpers/jwt.js'
import { freePort } from '../helpers/ports.js'
import { anonymousBytes, isAlive, threadCount } from '../helpers/proc.js'
import { closeAllRaw } from '../helpers/raw.js'
import {
  closeAllUpstreams,
  echo,
  slow,
  startUpstream,
  type Echo,
  type TestUpstream,
} from '../helpers/upstream.js'
import { waitUntil } from '../helpers/wait.js'

function serviceConfig(target: string, extra: Record<string, unknown> = {}): ConfigInput {
  return {
    upstreams: { svc: { targets: [target], ...extra } },
    routes: [{ name: 'svc', match: { paths: ['/svc/*'] }, upstream: 'svc', auth: 'none' }],
  }
}

/** Whether a new TCP connection to the port is refused. */
function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'))
  })
}

function problemsOf(line: LogLine): { path: string; reason: string }[] {
  return (line['problems'] as { path: string; reason: string }[] | undefined) ?? []
}

let upstreamA: TestUpstream
let upstreamB: TestUpstream

beforeAll(async () => {
  upstreamA = await startUpstream('a')
  upstreamB = await startUpstream('b')
})

afterEach(async () => {
  await stopAllGateways()
  closeAllRaw()
  upstreamA.reset()
  upstreamB.reset()
  upstreamA.handle(null)
  upstreamB.handle(null)
})

afterAll(async () => {
  await closeAllUpstreams()
})

describe.each(FRONTS)('lifecycle on the %s front', (front) => {
  describe('when the config is reloaded under traffic', () => {
    it('drops no request and sends new requests to the new upstream', async () => {
      // Requests go on until a second after the reload is logged, however long the check takes.
      upstreamA.handle(slow('a', 10))
      upstreamB.handle(slow('b', 10))
      const gateway = await startGateway({ front, config: serviceConfig(upstreamA.url) })
      const agent = new Agent({ keepAlive: true, maxSockets: 8 })
      const RELOAD_AT = 100
      /** Bound if the reload never lands (its wait fails the test after RELOAD_TIMEOUT_MS). */
      const MAX_REQUESTS = 20_000
      const CONCURRENCY = 8
      const outcomes: { startedAt: number; upstream: string | null; error: string | null }[] = []
      let next = 0
      let reloadedAt = Number.POSITIVE_INFINITY
      let reloadFailed = false
      let reload: Promise<LogLine> | null = null
      const going = () =>
        next < MAX_REQUESTS &&
        !reloadFailed &&
        (next <= RELOAD_AT || Date.now() < reloadedAt + 1000)
      const worker = async () => {
        while (going()) {
          const i = next++
          if (i === RELOAD_AT) {
            reload = gateway.reload(serviceConfig(upstreamB.url)).then(
              (line) => {
                reloadedAt = Date.now()
                return line
              },
              (error: unknown) => {
                reloadFailed = true
                throw error
              },
            )
          }
          const startedAt = Date.now()
          try {
            const res: HttpResult = await send(`${gateway.url}/svc/${i}`, { agent })
            outcomes.push({
              startedAt,
              upstream: res.status === 200 ? res.json<Echo>().upstream : null,
              error: res.status === 200 ? null : `status ${res.status}`,
            })
          } catch (error) {
            outcomes.push({ startedAt, upstream: null, error: String(error) })
          }
        }
      }
      await Promise.all(Array.from({ length: CONCURRENCY }, worker))
      agent.destroy()
      expect(reload).not.toBeNull()
      expect((await reload!).msg).toBe('config reloaded')

      expect(outcomes).toHaveLength(next)
      expect(outcomes.filter((o) => o.error !== null)).toEqual([])
      expect(upstreamA.requests.length + upstreamB.requests.length).toBe(next)
      expect(upstreamB.requests.length).toBeGreaterThan(0)
      // The primary logs the reload before the workers apply it: allow them a moment.
      const late = outcomes.filter((o) => o.startedAt > reloadedAt + 500)
      expect(late.length).toBeGreaterThan(0)
      expect(late.filter((o) => o.upstream !== 'b')).toEqual([])
      const after = await send(`${gateway.url}/svc/after`)
      expect(after.json<Echo>().upstream).toBe('b')
    })
  })

  describe('when a reload brings a broken config', () => {
    const withBogusKey = (target: string): ConfigInput => {
      const config = serviceConfig(target)
      return { ...config, routes: [{ ...config.routes[0]!, bogus: true }] }
    }
    const withBadDuration = (target: string) => serviceConfig(target, { timeout: '5 parsecs' })

    it.each([
      ['an unknown key', 'routes[0].bogus', withBogusKey],
      ['a bad duration', 'upstreams.svc.timeout', withBadDuration],
    ])('refuses %s, names its path and keeps serving', async (_, path, broken) => {
      const gateway = await startGateway({ front, config: serviceConfig(upstreamA.url) })
      // The broken config points at upstream B: had any of it been applied, B would answer.
      const line = await gateway.reload(broken(upstreamB.url))
      expect(line.msg).toMatch(/^reload refused/)
      expect(line.msg).toContain(path)
      expect(problemsOf(line).map((p) => p.path)).toContain(path)
      const res = await send(`${gateway.url}/svc/x`)
      expect(res.status).toBe(200)
      expect(res.json<Echo>().upstream).toBe('a')
    })
  })

  // The primary forks, relays signals and configs: none of the engine is loaded in it, and a
  // config is checked on a thread whose heap goes when it ends (config/checker.ts).
  describe.runIf(process.platform === 'linux')('the primary process', () => {
    const PRIMARY_ANON_LIMIT = 40 * 1024 * 1024

    it('holds under 40 MiB of anonymous memory after start and after a reload', async () => {
      const gateway = await startGateway({ front, config: serviceConfig(upstreamA.url) })
      const primary = gateway.pids[0]!
      expect(anonymousBytes(primary)).toBeLessThan(PRIMARY_ANON_LIMIT)
      const threads = threadCount(primary)
      expect((await gateway.reload(serviceConfig(upstreamB.url))).msg).toBe('config reloaded')
      await waitUntil(() => threadCount(primary) <= threads, { what: 'the check thread to end' })
      expect(anonymousBytes(primary)).toBeLessThan(PRIMARY_ANON_LIMIT)
      expect((await send(`${gateway.url}/svc/x`)).json<Echo>().upstream).toBe('b')
    })
  })

  describe('when a cluster worker is killed', () => {
    const isRespawn = (l: LogLine) =>
      typeof l.msg === 'string' && l.msg.startsWith('worker respawned')
    const isDeath = (l: LogLine) => typeof l.msg === 'string' && l.msg.startsWith('worker died')

    it('keeps answering and respawns the worker', async () => {
      const gateway = await startGateway({
        front,
        workers: 2,
        config: serviceConfig(upstreamA.url),
      })
      expect(gateway.workerPids).toHaveLength(2)
      const [victim, survivor] = gateway.workerPids as [number, number]
      const from = gateway.logs.length
      process.kill(victim, 'SIGKILL')
      // Once the primary has seen the death, no new connection may go to the dead worker.
      await gateway.waitForLog(isDeath, 5000, from)
      for (let i = 0; i < 20; i++) {
        const res = await send(`${gateway.url}/svc/${i}`)
        expect(res.status).toBe(200)
      }
      const respawned = await gateway.waitForLog(isRespawn, 10_000, from)
      const pid = respawned['pid'] as number
      expect(pid).not.toBe(victim)
      expect(pid).not.toBe(survivor)
      expect(isAlive(pid)).toBe(true)
      expect(isAlive(survivor)).toBe(true)
      for (let i = 0; i < 10; i++) {
        expect((await send(`${gateway.url}/svc/after-${i}`)).status).toBe(200)
      }
    })

    // node:cluster's default round-robin hands accepted connections to workers over IPC, and a
    // connection handed to a worker that dies hangs until the client gives up; the uws front's
    // SO_REUSEPORT listeners get reset by the kernel instead.
    it('never leaves a connection hanging when a worker dies under it', async () => {
      const gateway = await startGateway({
        front,
        workers: 2,
        config: serviceConfig(upstreamA.url),
      })
      let pids = [...gateway.workerPids]
      const outcomes: string[] = []
      // Bounded: three deaths; each round takes at most the request timeout plus a respawn.
      for (let round = 0; round < 3; round++) {
        const from = gateway.logs.length
        process.kill(pids[0]!, 'SIGKILL')
        const results = await Promise.all(
          [0, 1, 2, 3].map((i) =>
            send(`${gateway.url}/svc/${round}-${i}`, { timeoutMs: 3000 }).then(
              (res) => String(res.status),
              (error: Error) => error.message,
            ),
          ),
        )
        outcomes.push(...results)
        const respawned = await gateway.waitForLog(isRespawn, 10_000, from)
        pids = [pids[1]!, respawned['pid'] as number]
      }
      expect(outcomes.filter((o) => o.includes('timed out'))).toEqual([])
    })
  })

  describe('when the gateway receives SIGTERM', () => {
    it('finishes the request in flight, refuses new connections and exits 0', async () => {
      upstreamA.handle(slow('a', 1500))
      const gateway = await startGateway({ front, config: serviceConfig(upstreamA.url) })
      const inFlight = send(`${gateway.url}/svc/slow`, { timeoutMs: 10_000 })
      await waitUntil(() => upstreamA.requests.length === 1, { what: 'the slow request upstream' })
      const started = Date.now()
      gateway.process.kill('SIGTERM')

      await waitUntil(() => refuses(gateway.port), {
        timeoutMs: 3000,
        what: 'new connections to be refused',
      })
      expect(Date.now() - started).toBeLessThan(1500)

      const res = await inFlight
      expect(res.status).toBe(200)
      expect(res.json<Echo>().url).toBe('/svc/slow')
      const exit = await gateway.exited
      expect(exit).toEqual({ code: 0, signal: null })
    })

    it('answers /readyz with 503 on new connections until it stops, then closes the status listener', async () => {
      // The upstream holds the request until the test has seen the drain: no timing involved.
      let release: (() => void) | null = null
      upstreamA.handle((req, res, seen) => {
        release = () => echo('a')(req, res, seen)
      })
      const gateway = await startGateway({ front, config: serviceConfig(upstreamA.url) })
      expect((await send(`${gateway.statusUrl}/readyz`)).status).toBe(200)
      const inFlight = send(`${gateway.url}/svc/held`, { timeoutMs: 15_000 })
      await waitUntil(() => release !== null, { what: 'the held request upstream' })
      gateway.process.kill('SIGTERM')

      // Each probe on a new connection, as a load balancer's health check makes them.
      const readiness = await waitUntil(
        async () => {
          const res = await send(`${gateway.statusUrl}/readyz`)
          return res.status === 503 ? res : false
        },
        { timeoutMs: 5000, what: '/readyz to answer 503' },
      )
      expect(readiness.body.toString()).toContain('draining')
      // The node front's listening socket is shared through the primary, which closes it when
      // the worker tells it to: a message later than the worker's own readiness flag.
      await waitUntil(() => refuses(gateway.port), {
        timeoutMs: 2000,
        what: 'the traffic port to refuse new connections',
      })
      // Still alive while it drains.
      expect((await send(`${gateway.statusUrl}/healthz`)).status).toBe(200)
      expect((await send(`${gateway.statusUrl}/readyz`)).status).toBe(503)

      release!()
      expect((await inFlight).status).toBe(200)
      expect(await gateway.exited).toEqual({ code: 0, signal: null })
      expect(await refuses(gateway.statusPort)).toBe(true)
    })
  })

  describe('when a reload changes keys only read at start', () => {
    it.each([1, 0])(
      'applies the rest, keeps running and names each key with "restart required" (--workers %i)',
      async (workers) => {
        const gateway = await startGateway({ front, workers, config: serviceConfig(upstreamA.url) })
        const moved: ConfigInput = {
          ...serviceConfig(upstreamB.url),
          listeners: {
            http: { host: '127.0.0.1', port: gateway.port === 65535 ? 1 : gateway.port + 1 },
            status: { host: '127.0.0.1', port: gateway.statusPort },
          },
          gossip: { port: 17946 },
          // --workers overrides it: changing it here changes nothing, so nothing is claimed.
          cluster: { shutdown_grace: '5s', workers: 3 },
        }
        const line = await gateway.reload(moved)
        expect(line.level).toBe('warn')
        expect(line.msg).not.toBe('config reloaded')
        expect(line.msg).toContain('restart required')
        expect(line['restart_required']).toEqual(['listeners.http.port', 'gossip.port'])
        expect(line.msg).toContain('listeners.http.port')
        expect(line.msg).toContain('gossip.port')
        // Still serving on the port of the start, with the part of the config that applies.
        expect(await refuses(gateway.port)).toBe(false)
        await waitUntil(
          async () => (await send(`${gateway.url}/svc/x`)).json<Echo>().upstream === 'b',
          { timeoutMs: 5000, what: 'the new upstream to answer' },
        )
        // The next reload compares with the start again: the port still waits for a restart.
        const again = await gateway.reload(moved)
        expect(again['restart_required']).toEqual(['listeners.http.port', 'gossip.port'])
        const back = await gateway.reload(serviceConfig(upstreamA.url))
        expect(back.msg).toBe('config reloaded')
      },
    )
  })

  describe('when SIGHUP arrives while the gateway is still starting', () => {
    it.each([1, 0])(
      'keeps starting, then serves the file as it is now (--workers %i)',
      async (workers) => {
        // The gateway fetches its JWKS before it listens: the endpoint holds the answer until the
        // test has rewritten the file and sent two SIGHUPs, so they land mid-start for sure.
        const jwks = await startUpstream('jwks')
        let spawned: { pid: number; file: string } | null = null
        jwks.handle((_req, res) => {
          const { pid, file } = spawned!
          const written = JSON.parse(readFileSync(file, 'utf8')) as ConfigInput
          writeFileSync(file, JSON.stringify({ ...written, ...serviceConfig(upstreamB.url) }))
          process.kill(pid, 'SIGHUP')
          process.kill(pid, 'SIGHUP')
          // Both signals reach the process before the answer does.
          setTimeout(() => {
            res.setHeader('content-type', 'application/json')
            res.end(JSON.stringify({ keys: [createSigner('ES256', 'k').publicJwk] }))
          }, 200)
        })
        const gateway = await startGateway({
          front,
          workers,
          config: {
            ...serviceConfig(upstreamA.url),
            issuers: [
              {
                name: 'idp',
                issuer: 'https://idp.test',
                jwks_uri: `${jwks.url}/jwks`,
                audiences: ['api'],
                algorithms: ['ES256'],
              },
            ],
          },
          onSpawn: (pid, file) => (spawned = { pid, file }),
        })
        expect(jwks.requests.length).toBeGreaterThan(0)
        const reloaded = await gateway.waitForLog((l) => l.msg === 'config reloaded')
        expect(reloaded.level).toBe('info')
        await waitUntil(
          async () => (await send(`${gateway.url}/svc/x`)).json<Echo>().upstream === 'b',
          { timeoutMs: 5000, what: 'the upstream of the rewritten file to answer' },
        )
        expect(isAlive(gateway.pids[0]!)).toBe(true)
      },
    )
  })

  describe('when a second gateway is started on a port in use', () => {
    it('refuses to start, naming the listener, and takes none of the first one’s traffic', async () => {
      const first = await startGateway({ front, config: serviceConfig(upstreamA.url) })
      const dir = mkdtempSync(join(tmpdir(), 'portcullis-second-'))
      try {
        const file = join(dir, 'second.json')
        const second = {
          listeners: { http: { host: '127.0.0.1', port: first.port } },
          ...serviceConfig(upstreamB.url),
        }
        writeFileSync(file, JSON.stringify(second))
        const result = await runCli(['start', '--config', file, '--workers', '1', '--front', front])
        expect(result.code).toBe(1)
        expect(result.stderr).toContain(`listeners.http: cannot bind 127.0.0.1:${first.port}`)
        expect(result.stderr).toContain('EADDRINUSE')
        expect(result.stdout).not.toContain('portcullis started')
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
      // send() opens a connection per request: the kernel would spread them over both gateways.
      for (let i = 0; i < 20; i++) expect((await send(`${first.url}/svc/x`)).status).toBe(200)
      expect(upstreamB.requests).toHaveLength(0)
      expect(upstreamA.requests).toHaveLength(20)
    })
  })
})

describe('the command line', () => {
  let dir: string

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-'))
  })

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  const BROKEN = `
upstreams:
  svc: { targets: ["http://127.0.0.1:9"], timeout: 5 parsecs }
routes:
  - name: svc
    match: { paths: [/svc/*] }
    upstream: svc
    auth: none
    bogus: 1
`

  describe('when start is given no --config', () => {
    it('refuses with exit 2, naming the flag, and serves nothing', async () => {
      const result = await runCli(['start', '--workers', '0'])
      expect(result.code).toBe(2)
      expect(result.stderr).toContain('start needs --config FILE')
      expect(result.stdout).not.toContain('portcullis started')
    })
  })

  describe('when start is given an invalid config', () => {
    it('exits non-zero with the path and the reason on stderr', async () => {
      const file = join(dir, 'broken.yaml')
      const port = await freePort()
      writeFileSync(file, `listeners: { http: { host: 127.0.0.1, port: ${port} } }\n${BROKEN}`)
      const result = await runCli(['start', '--config', file, '--workers', '1'])
      expect(result.code).not.toBe(0)
      expect(result.code).not.toBeNull()
      expect(result.stderr).toContain('routes[0].bogus: unknown key')
      expect(result.stderr).toContain('upstreams.svc.timeout: must be a duration')
      expect(result.stdout).not.toContain('portcullis started')
      expect(await refuses(port)).toBe(true)
    })
  })

  describe('when check is given a valid config', () => {
    it('prints the route table and exits 0', async () => {
      const file = join(dir, 'valid.yaml')
      writeFileSync(
        file,
        `
upstreams:
  svc: { targets: ["http://127.0.0.1:9/base"] }
routes:
  - name: reads
    match: { paths: [/api/*], methods: [GET] }
    upstream: svc
    auth: none
  - name: exact
    match: { hosts: [api.example.com], paths: [/health] }
    upstream: svc
    auth: none
    max_body: 10
`,
      )
      const result = await runCli(['check', '--config', file])
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(`${file}: valid, 2 routes`)
      const rows = result.stdout.split('\n').map((l) => l.split(/\s{2,}/))
      expect(rows).toContainEqual([
        'HOST',
        'PATH',
        'KIND',
        'METHODS',
        'ROUTE',
        'STAGES',
        'UPSTREAM',
        'MAX BODY',
      ])
      expect(rows).toContainEqual([
        'api.example.com',
        '/health',
        'exact',
        '*',
        'exact',
        '-',
        'svc (http://127.0.0.1:9/base)',
        '10',
      ])
      expect(rows).toContainEqual([
        '*',
        '/api/*',
        'prefix',
        'GET,HEAD',
        'reads',
        '-',
        'svc (http://127.0.0.1:9/base)',
        '1048576',
      ])
    })
  })

  describe('when check is given an invalid config', () => {
    it('names every problem and exits 1', async () => {
      const file = join(dir, 'broken.yaml')
      writeFileSync(file, BROKEN)
      const result = await runCli(['check', '--config', file])
      expect(result.code).toBe(1)
      expect(result.stdout).toBe('')
      expect(result.stderr).toContain('routes[0].bogus')
      expect(result.stderr).toContain('upstreams.svc.timeout')
    })

    it('names both routes of an overlap and exits 1', async () => {
      const file = join(dir, 'overlap.yaml')
      writeFileSync(
        file,
        `
upstreams:
  svc: { targets: ["http://127.0.0.1:9"] }
routes:
  - { name: first, match: { paths: [/a/*] }, upstream: svc, auth: none }
  - { name: second, match: { paths: [/a/*], methods: [GET] }, upstream: svc, auth: none }
`,
      )
      const result = await runCli(['check', '--config', file])
      expect(result.code).toBe(1)
      expect(result.stderr).toContain('routes[1].match')
      expect(result.stderr).toContain('"first"')
    })
  })
})
