/**
 * A local address whose TCP connects never complete: a listening socket in a stopped process with
 * its accept queue full. Linux drops the SYNs a full accept queue cannot take, so a connect
 * attempt waits until the client's connect timeout, exactly like a black-holed remote host, but
 * without any traffic leaving 127.0.0.1.
 */
import { spawn } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { createInterface } from 'node:readline'

export interface Blackhole {
  readonly port: number
  close(): Promise<void>
}

const LISTENER = `
const server = require('node:net').createServer()
server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
  process.stdout.write(server.address().port + '\\n')
})
`

/** Connects, or resolves null if the connection is not established within `ms`. */
function tryConnect(port: number, ms: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.on('error', () => undefined)
    const timer = setTimeout(() => {
      socket.destroy()
      resolve(null)
    }, ms)
    socket.once('connect', () => {
      clearTimeout(timer)
      resolve(socket)
    })
  })
}

export async function startBlackhole(): Promise<Blackhole> {
  const child = spawn(process.execPath, ['-e', LISTENER], { stdio: ['ignore', 'pipe', 'inherit'] })
  const pid = child.pid!
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const kill = () => {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Gone already.
    }
  }
  process.once('exit', kill)
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('blackhole listener did not start')), 10_000)
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer)
      resolve(Number(line))
    })
  })
  // Stopped, it accepts nothing more: completed handshakes pile up in the accept queue.
  process.kill(pid, 'SIGSTOP')
  const fillers: Socket[] = []
  let full = false
  // Bounded: a backlog of 1 holds two connections; a few more attempts are enough to see it full.
  for (let i = 0; i < 16 && !full; i++) {
    const socket = await tryConnect(port, 300)
    if (socket === null) full = true
    else fillers.push(socket)
  }
  if (!full) {
    for (const s of fillers) s.destroy()
    kill()
    throw new Error('could not fill the accept queue of the blackhole listener')
  }
  return {
    port,
    async close() {
      for (const s of fillers) s.destroy()
      kill()
      await exited
      process.removeListener('exit', kill)
    },
  }
}
