/**
 * Which process holds the server end of each client connection, from /proc (Linux): the socket's
 * inode comes from /proc/net/tcp{,6} (server port, client port), its owner from the fd links of
 * the candidate pids. This is how the chaos run knows which connections a worker it kills held.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'

/** Inodes of established sockets whose local port is `serverPort`, by the client's port. */
function serverSockets(serverPort: number): Map<string, number> {
  const byInode = new Map<string, number>()
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
      if (f.length < 10 || f[3] !== '01') continue
      const local = parseInt(f[1]!.slice(f[1]!.lastIndexOf(':') + 1), 16)
      if (local !== serverPort) continue
      const remote = parseInt(f[2]!.slice(f[2]!.lastIndexOf(':') + 1), 16)
      byInode.set(f[9]!, remote)
    }
  }
  return byInode
}

/** Client port → pid of the process (among `pids`) that holds the server end. */
export function connectionOwners(serverPort: number, pids: readonly number[]): Map<number, number> {
  const sockets = serverSockets(serverPort)
  const owners = new Map<number, number>()
  for (const pid of pids) {
    let fds: string[]
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      let link: string
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`)
      } catch {
        continue
      }
      if (!link.startsWith('socket:[')) continue
      const clientPort = sockets.get(link.slice(8, -1))
      if (clientPort !== undefined) owners.set(clientPort, pid)
    }
  }
  return owners
}
