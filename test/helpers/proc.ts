/** What /proc says about the gateway's processes (Linux only). */
import { readdirSync, readFileSync } from 'node:fs'

/** Resident set size of `pid` in bytes, from /proc/<pid>/status; null when it is gone. */
export function residentBytes(pid: number): number | null {
  return statusBytes(pid, 'VmRSS')
}

/** RssAnon of `pid` in bytes: its resident heap and buffers, without mapped files. */
export function anonymousBytes(pid: number): number | null {
  return statusBytes(pid, 'RssAnon')
}

function statusBytes(pid: number, field: string): number | null {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return null
  }
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(status)
  return match === null ? null : Number(match[1]) * 1024
}

/** Threads of `pid` (the main thread included); 0 when it is gone. */
export function threadCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/task`).length
  } catch {
    return 0
  }
}

/** Whether a process with this pid exists (and is not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The state follows the parenthesized command name: "123 (node) S ...".
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}
