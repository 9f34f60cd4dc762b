/**
 * Hosts of their own on one machine, as network namespaces: two joined by a veth pair, for the
 * suites whose traffic must cross a real interface between addresses that are not loopback
 * (gossip between hosts), or one alone with its own kernel settings (`net.*` sysctls are per
 * namespace), for the suites that need one the machine does not have. Needs root and iproute2;
 * {@link netnsRefusal} says why not, for `describe.skipIf`.
 *
 * Each namespace has its own loopback and its own ports, so the processes a test starts in one
 * ({@link NetnsHost.spawn}, a gateway through `startGateway({ netns })`) use fixed ports without
 * clashing with anything else on the machine. The test process stays in the root namespace and
 * cannot reach either: it sends requests through {@link NetnsHost.startClient}, a node process
 * inside that sends the requests it is handed.
 *
 * `destroy()` (call it from afterAll or a finally) and an `exit` hook SIGKILL every process in
 * the namespaces and delete them, even when a test failed half-way. A run killed outright leaves
 * its namespaces behind; the next {@link createLinkedHosts} deletes those whose process is gone.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { REPO_ROOT } from './gateway.js'
import { isAlive } from './proc.js'
import { sleep } from './wait.js'

/** Every namespace made here is `pcl-test-<pid>-<random>[-<a|b>]`. */
const PREFIX = 'pcl-test-'
/** Both ends of the veth are created inside their namespaces, so the name clashes with nothing. */
const LINK = 'pcl0'
const DEMO_UPSTREAM = join(REPO_ROOT, 'dist', 'scripts', 'demo-upstream.js')
const READY_TIMEOUT_MS = 10_000
const REQUEST_TIMEOUT_MS = 10_000

/**
 * The process {@link NetnsHost.startClient} runs: one JSON line in per request (`{ id, url,
 * headers }`), one out per answer (`{ id, status }` or `{ id, error }`). A new connection per
 * request, like test/helpers/http.ts; it exits when the test closes its stdin or goes away.
 */
const CLIENT_SOURCE = `
import { request } from 'node:http'
import { createInterface } from 'node:readline'
const reply = (message) => process.stdout.write(JSON.stringify(message) + '\\n')
createInterface({ input: process.stdin })
  .on('line', (line) => {
    const { id, url, headers } = JSON.parse(line)
    const req = request(url, { headers, agent: false, timeout: ${REQUEST_TIMEOUT_MS} }, (res) => {
      res.resume()
      res.on('end', () => reply({ id, status: res.statusCode }))
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', (error) => reply({ id, error: error.message }))
    req.end()
  })
  .on('close', () => process.exit(0))
`

export interface NetnsHost {
  /** The namespace's name, for `ip netns exec` and `startGateway({ netns })`. */
  readonly netns: string
  /** Its IPv4 address on the link to the other host. */
  readonly address: string
  /** Runs `argv` in the namespace (its own process group, SIGKILLed by destroy). */
  spawn(argv: readonly string[], stdin?: 'pipe' | 'ignore'): ChildProcess
  /**
   * Starts scripts/demo-upstream (built) on 127.0.0.1:`port` of the namespace and resolves with
   * its URL, which only processes in this namespace can reach.
   */
  startUpstream(port: number): Promise<string>
  /** Starts a client in the namespace (see {@link NetnsClient}). */
  startClient(): NetnsClient
}

export interface NetnsClient {
  /** Sends a GET from inside the namespace; resolves with the status, rejects if none came. */
  get(url: string, headers?: Readonly<Record<string, string>>): Promise<number>
}

export interface LinkedHosts {
  readonly a: NetnsHost
  readonly b: NetnsHost
  /** SIGKILLs every process in both namespaces and deletes them. */
  destroy(): Promise<void>
}

const created = new Set<string>()

process.once('exit', () => {
  for (const netns of created) removeNetns(netns)
})

/** Runs `ip …` and returns its stdout; throws with its stderr when it fails. */
function ip(...args: string[]): string {
  const result = spawnSync('ip', args, { encoding: 'utf8', timeout: 5000 })
  if (result.error !== undefined) throw result.error
  if (result.status !== 0) {
    throw new Error(`ip ${args.join(' ')} failed (${result.status}): ${result.stderr.trim()}`)
  }
  return result.stdout
}

/**
 * Null when this process may create network namespaces, else why not (not root, no iproute2…).
 * It creates one and deletes it at once.
 */
export function netnsRefusal(): string | null {
  const probe = `${PREFIX}probe-${process.pid}-${randomBytes(3).toString('hex')}`
  try {
    ip('netns', 'add', probe)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return code === 'ENOENT'
      ? 'iproute2 (`ip`) is not installed'
      : `\`ip netns add\` is not permitted: ${(error as Error).message}`
  }
  ip('netns', 'del', probe)
  return null
}

/** The pids of the processes in `netns` (none once it is deleted). */
function pidsIn(netns: string): number[] {
  try {
    return ip('netns', 'pids', netns).split('\n').filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** SIGKILLs what runs in `netns` and deletes it; never throws (cleanup and exit hooks). */
function removeNetns(netns: string): void {
  for (const pid of pidsIn(netns)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Exited meanwhile.
    }
  }
  try {
    ip('netns', 'del', netns)
  } catch {
    // Gone already.
  }
  created.delete(netns)
}

/** Deletes namespaces a killed run left: its pid, in the name, is no longer alive. */
function removeOrphans(): void {
  for (const line of ip('netns', 'list').split('\n')) {
    const netns = line.split(' ')[0] ?? ''
    const pid = Number(/^pcl-test-(?:probe-)?(\d+)-/.exec(netns)?.[1])
    if (pid > 0 && pid !== process.pid && !isAlive(pid)) removeNetns(netns)
  }
}

/**
 * Makes two namespaces, `a` at 10.200.X.1/24 and `b` at 10.200.X.2/24 on one veth pair, loopback
 * and link up in each. The link joins only these two namespaces, so its addresses can clash with
 * nothing; X comes from the pid only to tell parallel runs apart in `ip` output.
 */
export function createLinkedHosts(): LinkedHosts {
  removeOrphans()
  const stem = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`
  const subnet = `10.200.${(process.pid % 254) + 1}`
  const names = { a: `${stem}-a`, b: `${stem}-b` }
  try {
    for (const netns of [names.a, names.b]) {
      ip('netns', 'add', netns)
      created.add(netns)
    }
    const veth = `link add ${LINK} netns ${names.a} type veth peer name ${LINK} netns ${names.b}`
    ip(...veth.split(' '))
    ip('-n', names.a, 'addr', 'add', `${subnet}.1/24`, 'dev', LINK)
    ip('-n', names.b, 'addr', 'add', `${subnet}.2/24`, 'dev', LINK)
    for (const netns of [names.a, names.b]) {
      ip('-n', netns, 'link', 'set', 'lo', 'up')
      ip('-n', netns, 'link', 'set', LINK, 'up')
    }
  } catch (error) {
    removeNetns(names.a)
    removeNetns(names.b)
    throw error
  }
  return {
    a: createHost(names.a, `${subnet}.1`),
    b: createHost(names.b, `${subnet}.2`),
    destroy: () => destroyNamespaces([names.a, names.b]),
  }
}

export interface IsolatedHost extends NetnsHost {
  /** SIGKILLs every process in the namespace and deletes it. */
  destroy(): Promise<void>
}

/**
 * Makes one namespace with only its loopback (up, so its address is 127.0.0.1) and `sysctls`
 * written in it (`{ 'net.ipv4.tcp_migrate_req': '1' }`): settings of the namespace alone, which
 * the machine's own keep. Throws when one cannot be set (a kernel without it).
 */
export function createIsolatedHost(sysctls: Readonly<Record<string, string>> = {}): IsolatedHost {
  removeOrphans()
  const netns = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`
  try {
    ip('netns', 'add', netns)
    created.add(netns)
    ip('-n', netns, 'link', 'set', 'lo', 'up')
    for (const [key, value] of Object.entries(sysctls)) writeSysctl(netns, key, value)
  } catch (error) {
    removeNetns(netns)
    throw error
  }
  return { ...createHost(netns, '127.0.0.1'), destroy: () => destroyNamespaces([netns]) }
}

/** Sets a sysctl inside `netns` (its /proc/sys/net is the namespace's) and reads it back. */
function writeSysctl(netns: string, key: string, value: string): void {
  const file = `/proc/sys/${key.replaceAll('.', '/')}`
  const script = 'printf %s "$1" > "$2" && cat "$2"'
  const result = spawnSync('ip', ['netns', 'exec', netns, 'sh', '-c', script, 'sh', value, file], {
    encoding: 'utf8',
    timeout: 5000,
  })
  if (result.status !== 0 || result.stdout.trim() !== value) {
    throw new Error(`cannot set ${key}=${value} in ${netns}: ${result.stderr.trim()}`)
  }
}

/**
 * A deleted namespace (and a veth in it) lives on until its last process exits: kill, wait a
 * little for the exits, then delete, so nothing outlives the suite.
 */
async function destroyNamespaces(names: readonly string[]): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const pids = names.flatMap(pidsIn)
    if (pids.length === 0) break
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // Exited meanwhile.
      }
    }
    await sleep(20)
  }
  for (const netns of names) removeNetns(netns)
}

function createHost(netns: string, address: string): NetnsHost {
  const spawnIn = (argv: readonly string[], stdin: 'pipe' | 'ignore' = 'ignore') =>
    spawn('ip', ['netns', 'exec', netns, ...argv], {
      cwd: REPO_ROOT,
      stdio: [stdin, 'pipe', 'pipe'],
      detached: true,
    })
  return {
    netns,
    address,
    spawn: spawnIn,
    async startUpstream(port: number): Promise<string> {
      const child = spawnIn([
        process.execPath,
        DEMO_UPSTREAM,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
      ])
      const stderr: string[] = []
      createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line))
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`demo upstream in ${netns} did not start: ${stderr.join('\n')}`)),
          READY_TIMEOUT_MS,
        )
        createInterface({ input: child.stdout! }).once('line', () => {
          clearTimeout(timer)
          resolve()
        })
        child.once('exit', (code) => {
          clearTimeout(timer)
          reject(new Error(`demo upstream in ${netns} exited (${code}): ${stderr.join('\n')}`))
        })
      })
      return `http://127.0.0.1:${port}`
    },
    startClient(): NetnsClient {
      const child = spawnIn([process.execPath, '--input-type=module', '-e', CLIENT_SOURCE], 'pipe')
      const pending = new Map<number, { resolve(status: number): void; reject(e: Error): void }>()
      let nextId = 0
      let gone: Error | null = null
      const stderr: string[] = []
      createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line))
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const answer = JSON.parse(line) as { id: number; status?: number; error?: string }
        const waiter = pending.get(answer.id)
        pending.delete(answer.id)
        if (answer.status !== undefined) waiter?.resolve(answer.status)
        else waiter?.reject(new Error(`request from ${netns} failed: ${answer.error}`))
      })
      child.once('exit', (code, signal) => {
        gone = new Error(`client in ${netns} exited (${code ?? signal}): ${stderr.join('\n')}`)
        for (const waiter of pending.values()) waiter.reject(gone)
        pending.clear()
      })
      return {
        get(url, headers = {}): Promise<number> {
          if (gone !== null) return Promise.reject(gone)
          const id = nextId++
          return new Promise((resolve, reject) => {
            pending.set(id, { resolve, reject })
            child.stdin!.write(`${JSON.stringify({ id, url, headers })}\n`)
          })
        },
      }
    },
  }
}
