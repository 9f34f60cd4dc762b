/**
 * Runs the BUILT gateway (`dist/src/cli/main.js`, from `npm test`'s `tsc` step) as a child process
 * the way an operator does, and reads its pino JSON lines back.
 *
 * Every gateway is spawned in its own process group, so killing the group takes its cluster
 * workers with it. {@link stopAllGateways} (call it from afterEach/afterAll) and an `exit` hook
 * SIGKILL whatever is left, even when a test failed half-way.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { freePort } from './ports.js'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js')

/** Startup, reload and stop waits. */
const START_TIMEOUT_MS = 15_000
const RELOAD_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 15_000

export type Front = 'uws' | 'node'
export const FRONTS: readonly Front[] = ['uws', 'node']

/**
 * PCL_NATIVE=off (CI's second run of the integration suites) starts every gateway with
 * `--native off`, so each native module's fallback passes the same suites.
 */
export const NATIVE_OFF = nativeSetting(process.env['PCL_NATIVE']) === 'off'

/** The `--verifier` and `--upstream-sockets` values a suite may ask for in this run. */
export const NATIVE_CHOICES: readonly ('native' | 'node')[] = NATIVE_OFF
  ? ['node']
  : ['native', 'node']

function nativeSetting(value: string | undefined): 'auto' | 'off' {
  if (value === undefined || value === '' || value === 'auto') return 'auto'
  if (value === 'off') return 'off'
  throw new Error(`PCL_NATIVE takes auto or off (got "${value}")`)
}

/** One parsed stdout line. Lines that are not JSON are kept as `{ msg: '(raw)', raw }`. */
export interface LogLine {
  readonly msg?: string
  readonly level?: string
  readonly [key: string]: unknown
}

export interface UpstreamInput {
  readonly targets: readonly string[]
  readonly [key: string]: unknown
}

export interface RouteInput {
  readonly name: string
  readonly match: {
    readonly hosts?: readonly string[]
    readonly paths: readonly string[]
    readonly methods?: readonly string[]
    readonly [key: string]: unknown
  }
  readonly upstream: string
  readonly auth?: string | { readonly any: readonly string[] }
  readonly [key: string]: unknown
}

/** A gateway config as a test writes it: `listeners` are filled in with free ports when absent. */
export interface ConfigInput {
  readonly listeners?: Record<string, unknown>
  readonly cluster?: Record<string, unknown>
  readonly limits?: Record<string, unknown>
  readonly log?: Record<string, unknown>
  readonly upstreams: Readonly<Record<string, UpstreamInput>>
  readonly routes: readonly RouteInput[]
  readonly [key: string]: unknown
}

/**
 * A config object, or YAML text. In YAML text `__HTTP_PORT__` and `__STATUS_PORT__` are replaced by
 * the ports the helper picked (the same ones across reloads).
 */
export type ConfigSource = ConfigInput | string

export interface StartOptions {
  readonly config: ConfigSource
  /** `--workers`; 1 unless the test is about the cluster. */
  readonly workers?: number
  readonly front?: Front
  /** `--verifier`; unset lets the gateway choose (native when built). */
  readonly verifier?: 'native' | 'node'
  /** `--upstream-sockets`; unset lets the gateway choose (native when built). */
  readonly upstreamSockets?: 'native' | 'node'
  /** `--native`; unset: `off` with PCL_NATIVE=off, else the gateway's default. */
  readonly native?: 'auto' | 'off'
  readonly env?: NodeJS.ProcessEnv
  /**
   * A network namespace to run the gateway in (`ip netns exec`, see netns.ts). Its config then
   * names listeners on that namespace's addresses: the helper's free loopback ports are free on
   * the test's host, not there.
   */
  readonly netns?: string
  /** How long to wait for `portcullis started` (default 15 s): longer for configs slow to load. */
  readonly startTimeoutMs?: number
  /** Called once the gateway is spawned, before it started (a test signalling it early). */
  readonly onSpawn?: (pid: number, configFile: string) => void
}

export interface Gateway {
  /** `http://HOST:PORT` of the http listener: the address it bound, 127.0.0.1 for a wildcard. */
  readonly url: string
  readonly port: number
  /** `http://HOST:PORT` of the status listener (/healthz, /readyz), as for `url`. */
  readonly statusUrl: string
  readonly statusPort: number
  /** From the startup line: the primary first, then the workers. */
  readonly pids: readonly number[]
  /** The worker pids of the startup line (the primary itself with --workers 0). */
  readonly workerPids: readonly number[]
  /** Every stdout line so far, parsed. */
  readonly logs: readonly LogLine[]
  readonly stderr: readonly string[]
  readonly configFile: string
  readonly process: ChildProcess
  /** Exit code and signal once the primary has exited. */
  readonly exited: Promise<ExitInfo>
  /** Access-log lines so far. */
  accessLogs(): LogLine[]
  /** Resolves with the first line (from index `from`) that `match` accepts. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number, from?: number): Promise<LogLine>
  /**
   * Rewrites the config file, sends SIGHUP, and resolves with the `config reloaded`,
   * `config partly reloaded…` (restart required) or `reload refused…` line of the primary,
   * waiting `timeoutMs` at most (default RELOAD_TIMEOUT_MS; longer for a machine under load).
   */
  reload(config: ConfigSource, timeoutMs?: number): Promise<LogLine>
  /** Sends `signal` to the primary and resolves with its exit code (null if a signal ended it). */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export interface ExitInfo {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

interface Ports {
  readonly http: number
  readonly status: number
}

const live = new Set<{ readonly pid: number; readonly exited: Promise<ExitInfo> }>()

process.once('exit', () => {
  for (const child of live) killGroup(child.pid, 'SIGKILL')
})

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // The group is gone already.
  }
}

/** SIGKILLs every gateway still running and waits until they have exited. */
export async function stopAllGateways(): Promise<void> {
  const children = [...live]
  for (const child of children) killGroup(child.pid, 'SIGKILL')
  await Promise.all(
    children.map((c) => Promise.race([c.exited, new Promise((r) => setTimeout(r, 5000))])),
  )
}

export function assertBuilt(): void {
  if (!existsSync(CLI)) {
    throw new Error(`${CLI} does not exist: build first (npm test runs tsc -p tsconfig.json)`)
  }
}

function renderConfig(source: ConfigSource, ports: Ports): { text: string; ext: string } {
  if (typeof source === 'string') {
    return {
      text: source
        .replaceAll('__HTTP_PORT__', String(ports.http))
        .replaceAll('__STATUS_PORT__', String(ports.status)),
      ext: 'yaml',
    }
  }
  const config: Record<string, unknown> = { ...source }
  config['listeners'] ??= {
    http: { host: '127.0.0.1', port: ports.http },
    status: { host: '127.0.0.1', port: ports.status },
  }
  // Tests stop gateways often; the 25 s default grace would only make a hung drain slower to fail.
  config['cluster'] ??= { shutdown_grace: '5s' }
  return { text: `${JSON.stringify(config, null, 2)}\n`, ext: 'json' }
}

/** Runs the command line once (`check`, a failing `start`…) and collects everything it prints. */
export async function runCli(
  args: readonly string[],
  timeoutMs = 15_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  assertBuilt()
  const argv = NATIVE_OFF && args[0] === 'start' ? [...args, '--native', 'off'] : args
  const child = spawn(process.execPath, [CLI, ...argv], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const pid = child.pid!
  const entry = {
    pid,
    exited: new Promise<ExitInfo>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    ),
  }
  live.add(entry)
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), timeoutMs)
  const { code, signal } = await entry.exited
  clearTimeout(timer)
  // Let the pipes drain what the process wrote just before it exited.
  await new Promise<void>((resolve) => {
    if (child.stdout!.readableEnded && child.stderr!.readableEnded) resolve()
    else child.once('close', () => resolve())
  })
  live.delete(entry)
  killGroup(pid, 'SIGKILL')
  return { code, signal, stdout, stderr }
}

/**
 * Writes `config` to a temp file, starts the gateway, and waits for `portcullis started`. When a
 * port the helper picked was taken meanwhile (freePort releases its port before the gateway binds
 * it, and a process outside the test run may take it), it tries again with new ports.
 */
export async function startGateway(options: StartOptions): Promise<Gateway> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startGatewayOnce(options)
    } catch (error) {
      if (attempt >= 3 || !String((error as Error).message).includes('EADDRINUSE')) throw error
    }
  }
}

async function startGatewayOnce(options: StartOptions): Promise<Gateway> {
  assertBuilt()
  const native = options.native ?? (NATIVE_OFF ? 'off' : undefined)
  if (native === 'off' && (options.verifier === 'native' || options.upstreamSockets === 'native')) {
    throw new Error('PCL_NATIVE=off: take the choices of NATIVE_CHOICES, not native ones')
  }
  const ports: Ports = { http: await freePort(), status: await freePort() }
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-test-'))
  const first = renderConfig(options.config, ports)
  // The extension decides the parser: keep one file name for the whole life of the gateway.
  const configFile = join(dir, `gateway.${first.ext}`)
  writeFileSync(configFile, first.text)

  const args = [
    CLI,
    'start',
    '--config',
    configFile,
    '--workers',
    String(options.workers ?? 1),
    '--front',
    options.front ?? 'uws',
    ...(options.verifier === undefined ? [] : ['--verifier', options.verifier]),
    ...(options.upstreamSockets === undefined
      ? []
      : ['--upstream-sockets', options.upstreamSockets]),
    ...(native === undefined ? [] : ['--native', native]),
  ]
  // `ip netns exec` execs the command, so the child's pid is still the primary's.
  const [command, argv] =
    options.netns === undefined
      ? [process.execPath, args]
      : ['ip', ['netns', 'exec', options.netns, process.execPath, ...args]]
  const child = spawn(command, argv, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  if (child.pid === undefined) throw new Error('spawning the gateway failed')
  const pid = child.pid
  options.onSpawn?.(pid, configFile)
  let exitInfo: ExitInfo | null = null
  const entry = {
    pid,
    exited: new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = { code, signal }
        resolve(exitInfo)
      })
    }),
  }
  live.add(entry)
  void entry.exited.then(() => {
    live.delete(entry)
    // Workers of a primary that died without stopping them would keep the ports bound.
    killGroup(pid, 'SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  const logs: LogLine[] = []
  const stderr: string[] = []
  const listeners = new Set<(line: LogLine) => void>()
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine
    try {
      const parsed: unknown = JSON.parse(text)
      line =
        typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
          ? (parsed as LogLine)
          : { msg: '(raw)', raw: text }
    } catch {
      line = { msg: '(raw)', raw: text }
    }
    logs.push(line)
    for (const listener of listeners) listener(line)
  })
  createInterface({ input: child.stderr! }).on('line', (text) => stderr.push(text))

  const describeOutput = (): string =>
    `stdout:\n${logs.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${stderr.join('\n')}`

  const waitForLog = (
    match: (line: LogLine) => boolean,
    timeoutMs = 10_000,
    from = 0,
  ): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      for (let i = from; i < logs.length; i++) {
        if (match(logs[i]!)) {
          resolve(logs[i]!)
          return
        }
      }
      const cleanup = () => {
        clearTimeout(timer)
        listeners.delete(onLine)
      }
      const onLine = (line: LogLine) => {
        if (!match(line)) return
        cleanup()
        resolve(line)
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`no matching log line within ${timeoutMs} ms\n${describeOutput()}`))
      }, timeoutMs)
      listeners.add(onLine)
      void entry.exited.then((info) => {
        if (!listeners.has(onLine)) return
        // Lines written just before the exit may still be in the pipe.
        setTimeout(() => {
          if (!listeners.has(onLine)) return
          cleanup()
          reject(
            new Error(
              `gateway exited (${JSON.stringify(info)}) before the log line\n${describeOutput()}`,
            ),
          )
        }, 200)
      })
    })

  let started: LogLine
  try {
    started = await waitForLog(
      (l) => l.msg === 'portcullis started',
      options.startTimeoutMs ?? START_TIMEOUT_MS,
    )
  } catch (error) {
    killGroup(pid, 'SIGKILL')
    throw error
  }

  const bound = (started['listeners'] as string[] | undefined) ?? []
  const portOf = (scheme: string): number => {
    const listener = bound.find((l) => l.startsWith(`${scheme}://`))
    return listener === undefined ? 0 : Number(listener.slice(listener.lastIndexOf(':') + 1))
  }
  // The startup line says `scheme://host:port` with the host as configured (IPv6 unbracketed).
  const hostOf = (scheme: string): string => {
    const listener = bound.find((l) => l.startsWith(`${scheme}://`))
    if (listener === undefined) return '127.0.0.1'
    const host = listener.slice(scheme.length + 3, listener.lastIndexOf(':'))
    if (host === '' || host === '0.0.0.0' || host === '::') return '127.0.0.1'
    return host.includes(':') ? `[${host}]` : host
  }
  const port = portOf('http')
  const statusPort = portOf('status')
  const pids = (started['pids'] as number[] | undefined) ?? [pid]
  const workers = options.workers ?? 1

  return {
    url: `http://${hostOf('http')}:${port}`,
    port,
    statusUrl: `http://${hostOf('status')}:${statusPort}`,
    statusPort,
    pids,
    workerPids: workers === 0 ? pids : pids.slice(1),
    logs,
    stderr,
    configFile,
    process: child,
    exited: entry.exited,
    accessLogs: () => logs.filter((l) => l.msg === 'access'),
    waitForLog,
    async reload(config: ConfigSource, timeoutMs = RELOAD_TIMEOUT_MS): Promise<LogLine> {
      const next = renderConfig(config, ports)
      if (next.ext !== first.ext) {
        throw new Error(
          `reload with a ${next.ext} config, but the gateway started with ${first.ext}`,
        )
      }
      writeFileSync(configFile, next.text)
      const from = logs.length
      process.kill(pid, 'SIGHUP')
      return waitForLog(
        (l) =>
          typeof l.msg === 'string' &&
          (l.msg === 'config reloaded' ||
            l.msg.startsWith('config partly reloaded') ||
            l.msg.startsWith('reload refused')),
        timeoutMs,
        from,
      )
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
      if (exitInfo === null) {
        try {
          process.kill(pid, signal)
        } catch {
          // Exited between the check and the kill.
        }
        const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), STOP_TIMEOUT_MS)
        await entry.exited
        clearTimeout(timer)
      }
      const info = await entry.exited
      return info.code
    },
  }
}
