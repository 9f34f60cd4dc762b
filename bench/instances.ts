/**
 * The long-lived processes of a run: the bench upstream, and the gateway instances (portcullis or
 * a peer) that targets are measured through. Each instance is started once per scenario with its
 * own config and ports, and stopped by the harness, also on failure (processes.ts).
 */
import { join } from 'node:path'
import { request, type Dispatcher } from 'undici'
import { GATEWAY_CPU, HOST, LOAD_CPU, firstLine, type Options } from './options.js'
import { Child, descendants, describeExit, portAccepts, sleep } from './processes.js'
import type { Launch, Peer } from './peers/types.js'
import type { Listen, ScenarioTarget } from './scenarios/types.js'
import { tlsDispatcher } from './tls-probe.js'

const READY_TIMEOUT_MS = 30_000
/** A gateway that announces readiness but has not yet, this long after its port opened, is taken
 * as ready anyway (the report then says so). */
const ANNOUNCE_GRACE_MS = 3000
/** Port-ready gateways (nginx, HAProxy) fork or spawn workers right after binding. */
const SETTLE_MS = 300

export interface Upstream {
  readonly child: Child
  readonly origin: string
}

export async function startUpstream(
  options: Options,
  root: string,
  port: number,
): Promise<Upstream> {
  const child = new Child({
    name: `upstream (${options.upstream})`,
    command: process.execPath,
    args: [
      join(root, 'dist/bench/upstream.js'),
      '--impl',
      options.upstream,
      '--host',
      HOST,
      '--port',
      String(port),
    ],
    ...(options.pin ? { cpus: LOAD_CPU } : {}),
    cwd: root,
  })
  await child.waitForLine(
    (line) => (line.includes('"event":"ready"') ? true : undefined),
    15_000,
    'ready line',
  )
  return { child, origin: `http://${HOST}:${port}` }
}

/** Where instance `index` of a run listens: the first on --port-base, the rest from +20. */
export function listenFor(portBase: number, index: number): Listen {
  const port = index === 0 ? portBase : portBase + 20 + 2 * (index - 1)
  return { host: HOST, port, statusPort: port + 1 }
}

export interface Instance {
  /** `haproxy-3`: unique in the run, names its files in the temp dir. */
  readonly id: string
  readonly peer: Peer
  readonly at: Listen
  readonly origin: string
  readonly child: Child
  /** The command line, with the run's temp dir shown as $TMP. */
  readonly command: string
  /** Pids the gateway announced; the command's descendants are added at every read. */
  readonly announcedPids: readonly number[]
  readonly readySignal: 'startup line' | 'port'
}

export async function startInstance(
  peer: Peer,
  launch: Launch,
  at: Listen,
  id: string,
  pin: boolean,
  root: string,
  workDir: string,
): Promise<Instance> {
  for (const port of [at.port, at.statusPort]) {
    if (await portAccepts(HOST, port)) {
      throw new Error(`port ${port} is already in use on ${HOST}: stop whatever holds it`)
    }
  }
  const child = new Child({
    name: id,
    command: launch.command,
    args: launch.args,
    ...(pin ? { cpus: GATEWAY_CPU } : {}),
    cwd: root,
  })
  const command = [launch.command === process.execPath ? 'node' : launch.command, ...launch.args]
    .join(' ')
    .replaceAll(workDir, '$TMP')
    .replaceAll(root, '')
  let announced: readonly number[] | undefined
  const off = child.onLine((line) => {
    if (launch.ready !== undefined) announced ??= launch.ready(line)
  })
  const deadline = Date.now() + READY_TIMEOUT_MS
  let portOpenAt: number | undefined
  try {
    for (;;) {
      if (announced !== undefined) break
      if (child.exitInfo !== undefined) {
        throw new Error(
          `${peer.name} exited (${describeExit(child.exitInfo)}) before it was ready\n${child.tail()}`,
        )
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${peer.name} not ready within ${READY_TIMEOUT_MS / 1000} s (port ${at.port})\n${child.tail()}`,
        )
      }
      if (await portAccepts(HOST, at.port, 200)) {
        portOpenAt ??= Date.now()
        if (launch.ready === undefined) {
          await sleep(SETTLE_MS)
          break
        }
        if (Date.now() - portOpenAt > ANNOUNCE_GRACE_MS) break
      }
      await sleep(100)
    }
  } catch (error) {
    off()
    await child.stop(2000)
    throw error
  }
  off()
  return {
    id,
    peer,
    at,
    origin: `http://${HOST}:${at.port}`,
    child,
    command,
    announcedPids: announced ?? [],
    readySignal: announced === undefined ? 'port' : 'startup line',
  }
}

/** Every process of the instance now: the command, what it announced, their descendants. */
export function instancePids(instance: Instance): number[] {
  const pids = new Set<number>([instance.child.pid, ...instance.announcedPids])
  for (const pid of descendants(instance.child.pid)) pids.add(pid)
  return [...pids]
}

/** A few requests of the target's list, one at a time, before any load: a 401 or a 404 measured at
 * full speed would look like a fast gateway. */
export async function probe(origin: string, target: ScenarioTarget): Promise<void> {
  const accept = target.acceptStatus ?? [200]
  const dispatcher = target.tls === undefined ? undefined : tlsDispatcher(target.tls)
  try {
    await probeWith(origin, target, accept, dispatcher)
  } finally {
    await dispatcher?.close()
  }
}

async function probeWith(
  origin: string,
  target: ScenarioTarget,
  accept: readonly number[],
  dispatcher: Dispatcher | undefined,
): Promise<void> {
  for (const item of target.requests.slice(0, 20)) {
    let status: number
    let text: string
    try {
      const response = await request(`${origin}${item.path}`, {
        method: item.method as Dispatcher.HttpMethod,
        ...(item.headers === undefined ? {} : { headers: { ...item.headers } }),
        ...(item.body === undefined ? {} : { body: item.body }),
        headersTimeout: 5000,
        bodyTimeout: 5000,
        ...(dispatcher === undefined ? {} : { dispatcher }),
      })
      status = response.statusCode
      text = await response.body.text()
    } catch (error) {
      throw new Error(`probe ${item.method} ${origin}${item.path} failed: ${firstLine(error)}`)
    }
    if (!accept.includes(status)) {
      throw new Error(
        `probe ${item.method} ${origin}${item.path} answered ${status} (accepted: ${accept.join(', ')}): ${text.slice(0, 300)}`,
      )
    }
  }
}
