/**
 * Child processes of a bench run and what /proc says about them.
 *
 * Every child is spawned in its own process group (so a gateway's cluster workers go with it) and
 * registered here; `killAllNow` runs on every way out of the harness. CPU time comes from the
 * kernel's per-process counters, not from the processes' own reports, so the gateway, the upstream
 * and the loaders are all measured the same way.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { connect } from 'node:net'
import { createInterface } from 'node:readline'

export interface ExitInfo {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface SpawnOptions {
  readonly name: string
  readonly command: string
  readonly args: readonly string[]
  /** `taskset -c` list, e.g. `0`; taskset execs the command, so the pid stays the command's. */
  readonly cpus?: string
  readonly env?: NodeJS.ProcessEnv
  readonly cwd?: string
}

const TAIL_LINES = 40

export class Child {
  readonly name: string
  readonly proc: ChildProcess
  readonly pid: number
  readonly exited: Promise<ExitInfo>
  exitInfo: ExitInfo | undefined
  private readonly stdoutTail: string[] = []
  private readonly stderrTail: string[] = []
  private readonly lineListeners = new Set<(line: string) => void>()

  constructor(options: SpawnOptions) {
    this.name = options.name
    const [command, args] =
      options.cpus === undefined
        ? [options.command, [...options.args]]
        : ['taskset', ['-c', options.cpus, options.command, ...options.args]]
    this.proc = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      // Own process group: the group can be killed whole, cluster workers included.
      detached: true,
    })
    if (this.proc.pid === undefined) throw new Error(`${this.name}: spawn ${command} failed`)
    this.pid = this.proc.pid
    live.add(this)
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exitInfo = { code, signal }
        live.delete(this)
        resolve(this.exitInfo)
      })
      this.proc.once('error', (error) => {
        this.stderrTail.push(`spawn error: ${error.message}`)
      })
    })
    // A child blocked on a full stdout pipe would stall mid-run: both streams are always drained.
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      keepTail(this.stdoutTail, line)
      for (const listener of this.lineListeners) listener(line)
    })
    createInterface({ input: this.proc.stderr! }).on('line', (line) =>
      keepTail(this.stderrTail, line),
    )
    // A child that exits early closes stdin; writes after that must not crash the harness.
    this.proc.stdin!.on('error', () => {})
  }

  onLine(listener: (line: string) => void): () => void {
    this.lineListeners.add(listener)
    return () => this.lineListeners.delete(listener)
  }

  send(line: string): void {
    if (this.exitInfo === undefined) this.proc.stdin!.write(`${line}\n`)
  }

  tail(): string {
    const parts: string[] = []
    if (this.stderrTail.length > 0) parts.push(`stderr:\n  ${this.stderrTail.join('\n  ')}`)
    if (this.stdoutTail.length > 0) parts.push(`stdout:\n  ${this.stdoutTail.join('\n  ')}`)
    return parts.length > 0 ? parts.join('\n') : '(no output)'
  }

  /**
   * Waits for the first stdout line `pick` maps to a value. Rejects if `pick` throws, the child
   * exits first or the time runs out, with the child's last output in the message.
   */
  waitForLine<T>(
    pick: (line: string) => T | undefined,
    timeoutMs: number,
    what: string,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        off()
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.tail()}`))
      }, timeoutMs)
      const off = this.onLine((line) => {
        let value: T | undefined
        try {
          value = pick(line)
        } catch (error) {
          clearTimeout(timer)
          off()
          reject(error instanceof Error ? error : new Error(String(error)))
          return
        }
        if (value === undefined) return
        clearTimeout(timer)
        off()
        resolve(value)
      })
      void this.exited.then((info) => {
        clearTimeout(timer)
        off()
        reject(
          new Error(`${this.name} exited (${describeExit(info)}) before ${what}\n${this.tail()}`),
        )
      })
    })
  }

  /** SIGTERM to the child, then SIGKILL to its whole group after `graceMs`. */
  async stop(graceMs = 5000): Promise<ExitInfo> {
    if (this.exitInfo !== undefined) {
      killGroup(this.pid, 'SIGKILL')
      return this.exitInfo
    }
    try {
      process.kill(this.pid, 'SIGTERM')
    } catch {
      // Already gone between the check and the kill.
    }
    const timer = setTimeout(() => killGroup(this.pid, 'SIGKILL'), graceMs)
    const info = await this.exited
    clearTimeout(timer)
    // Workers the child forgot to stop would keep ports bound for the next run.
    killGroup(this.pid, 'SIGKILL')
    return info
  }
}

const live = new Set<Child>()

function keepTail(tail: string[], line: string): void {
  tail.push(line.length > 500 ? `${line.slice(0, 500)}…` : line)
  if (tail.length > TAIL_LINES) tail.shift()
}

export function describeExit(info: ExitInfo): string {
  return info.signal !== null ? `signal ${info.signal}` : `code ${String(info.code)}`
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // The group is already empty.
  }
}

/** Synchronous so it can run from `process.on('exit')`. */
export function killAllNow(): void {
  for (const child of live) killGroup(child.pid, 'SIGKILL')
}

export async function stopAll(graceMs = 2000): Promise<void> {
  await Promise.all([...live].map((child) => child.stop(graceMs)))
}

export function liveChildren(): readonly Child[] {
  return [...live]
}

// ---- /proc --------------------------------------------------------------------------------------

let ticksPerSecond: number | undefined

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    } catch {
      ticksPerSecond = 100
    }
    if (!Number.isFinite(ticksPerSecond) || ticksPerSecond <= 0) ticksPerSecond = 100
  }
  return ticksPerSecond
}

/** Fields of /proc/<pid>/stat after the `(comm)`, which may itself contain spaces. */
function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return text.slice(text.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** utime + stime of a process (all its threads), in clock ticks. */
export function readCpuTicks(pid: number): number | undefined {
  const fields = statFields(pid)
  // Fields 14 and 15 of stat(5); index 0 here is field 3 (state).
  return fields === undefined ? undefined : Number(fields[11]) + Number(fields[12])
}

/**
 * cutime + cstime of this process: the CPU of every child it has reaped. The one way to get the
 * CPU of a child that has already exited (wrk), since its /proc entry is gone once reaped.
 */
export function reapedChildrenCpuTicks(): number {
  const fields = statFields('self')
  return fields === undefined ? 0 : Number(fields[13]) + Number(fields[14])
}

/**
 * Busy time of the whole machine (every core, every process, interrupts), in clock ticks, from the
 * `cpu` line of /proc/stat. Minus the processes of the run, it shows what else ran meanwhile.
 */
export function machineBusyTicks(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!
    // user nice system idle iowait irq softirq steal …: everything but idle and iowait is busy.
    const [user, nice, system, , , irq, softirq, steal] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number)
    return (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)
  } catch {
    return 0
  }
}

/** Every descendant of pid, depth first, from /proc/<pid>/task/<tid>/children. */
export function descendants(pid: number): number[] {
  const out: number[] = []
  const visit = (parent: number): void => {
    let tids: string[]
    try {
      tids = readdirSync(`/proc/${parent}/task`)
    } catch {
      return
    }
    for (const tid of tids) {
      let children: string
      try {
        children = readFileSync(`/proc/${parent}/task/${tid}/children`, 'utf8')
      } catch {
        continue
      }
      for (const word of children.split(' ')) {
        const child = Number(word)
        if (word !== '' && Number.isInteger(child) && !out.includes(child)) {
          out.push(child)
          visit(child)
        }
      }
    }
  }
  visit(pid)
  return out
}

export interface MemKiB {
  readonly rss: number
  readonly hwm: number
}

export function readMemKiB(pid: number): MemKiB | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return undefined
  }
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(text)
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(text)
  if (rss === null || hwm === null) return undefined
  return { rss: Number(rss[1]), hwm: Number(hwm[1]) }
}

/** CPU ticks of a set of processes at one instant. */
export type CpuSnapshot = ReadonlyMap<number, number>

export function snapshotCpu(pids: readonly number[]): CpuSnapshot {
  const snapshot = new Map<number, number>()
  for (const pid of pids) {
    const ticks = readCpuTicks(pid)
    if (ticks !== undefined) snapshot.set(pid, ticks)
  }
  return snapshot
}

export interface CpuDelta {
  readonly seconds: number
  /** Pids seen before but gone after: their CPU in the window is lost, so the figure is low. */
  readonly lostPids: readonly number[]
  /** Pids that appeared during the window: counted from zero. */
  readonly newPids: readonly number[]
}

export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot): CpuDelta {
  let ticks = 0
  const lostPids: number[] = []
  const newPids: number[] = []
  for (const [pid, end] of after) {
    const start = before.get(pid)
    if (start === undefined) newPids.push(pid)
    ticks += end - (start ?? 0)
  }
  for (const pid of before.keys()) if (!after.has(pid)) lostPids.push(pid)
  return { seconds: ticks / clockTicksPerSecond(), lostPids, newPids }
}

export interface RssPeak {
  /** Highest sampled sum of VmRSS over the processes, MiB. */
  readonly peakMiB: number
  /** Sum of the processes' VmHWM at the end: the kernel's own high-water marks, MiB. */
  readonly hwmMiB: number
}

/** Samples the summed VmRSS of a (possibly changing) set of processes until stopped. */
export class RssSampler {
  private peakKiB = 0
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly pids: () => readonly number[],
    intervalMs = 100,
  ) {
    this.sample()
    this.timer = setInterval(() => this.sample(), intervalMs)
  }

  private sample(): void {
    let sum = 0
    for (const pid of this.pids()) sum += readMemKiB(pid)?.rss ?? 0
    if (sum > this.peakKiB) this.peakKiB = sum
  }

  stop(): RssPeak {
    clearInterval(this.timer)
    this.sample()
    let hwm = 0
    for (const pid of this.pids()) hwm += readMemKiB(pid)?.hwm ?? 0
    return { peakMiB: this.peakKiB / 1024, hwmMiB: hwm / 1024 }
  }
}

// ---- sockets ------------------------------------------------------------------------------------

export function portAccepts(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms))
