/** Free TCP and UDP ports on the loopback interface. */
import { createSocket, type Socket } from 'node:dgram'
import { connect, createServer, type AddressInfo } from 'node:net'

/**
 * A port that was free a moment ago: binds 127.0.0.1:0, reads the port the kernel chose, closes.
 * Another process could take it before the caller binds it; the kernel hands out ephemeral ports
 * in sequence, so in practice that does not happen within a test run.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close((error) => (error === undefined ? resolve(port) : reject(error)))
    })
  })
}

/** Ports below the ephemeral range that nothing on a test machine listens on. */
const REFUSING_CANDIDATES = [1, 9, 47, 49, 51]

/**
 * A port on 127.0.0.1 that refuses connections now and cannot be handed to another socket later:
 * it is below the kernel's ephemeral range, so no `listen(0)` or outgoing connection takes it,
 * unlike a port that freePort() released.
 */
export async function refusingPort(): Promise<number> {
  for (const port of REFUSING_CANDIDATES) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port })
      socket.once('connect', () => {
        socket.destroy()
        resolve(false)
      })
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'))
    })
    if (refused) return port
  }
  throw new Error(`every candidate port (${REFUSING_CANDIDATES.join(', ')}) accepts connections`)
}

/** `count` consecutive UDP ports free on 127.0.0.1, as a host's workers bind them (port + index). */
export async function consecutivePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000)
    const held: Socket[] = []
    try {
      for (let i = 0; i < count; i++) {
        const socket = createSocket('udp4')
        held.push(socket)
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject)
          socket.bind(base + i, '127.0.0.1', resolve)
        })
      }
      return base
    } catch {
      // taken: try another base
    } finally {
      for (const socket of held) socket.close()
    }
  }
  throw new Error('no consecutive free UDP ports')
}
