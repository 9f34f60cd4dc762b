/** Free TCP and UDP ports on the loopback interface. */
import { createSocket, type Socket } from 'node:dgram'
import { connect, createServer } from 'node:net'

/**
 * TCP ports handed out by {@link freePort}: below the kernel's ephemeral range (32768 and up on
 * Linux), so no `listen(0)` and no outgoing connection takes one, and a block of its own for each
 * vitest worker (VITEST_POOL_ID), so two suites running at once never pick the same port. Two
 * gateways on one port would both bind it (uSockets sets SO_REUSEPORT) and share its connections.
 */
// PCL_TEST_PORT_BASE / PCL_TEST_PORT_BLOCK move the blocks, so two checkouts can run suites at once.
const PORT_BLOCK = Number(process.env.PCL_TEST_PORT_BLOCK ?? '2000')
const PORT_BASE = Number(process.env.PCL_TEST_PORT_BASE ?? '10000')
const poolIndex = (Number(process.env.VITEST_POOL_ID ?? '1') - 1) % 10
const blockStart = PORT_BASE + poolIndex * PORT_BLOCK
// A file's process starts at a random place in its block: the suite before it, in the same
// worker slot, may still hold its ports in TIME_WAIT.
let nextOffset = Math.floor(Math.random() * PORT_BLOCK)

/** A loopback TCP port no one listens on, from this worker's block. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < PORT_BLOCK; attempt++) {
    const port = blockStart + (nextOffset++ % PORT_BLOCK)
    if (await bindsNow(port)) return port
  }
  throw new Error(`no free port in ${blockStart}-${blockStart + PORT_BLOCK - 1}`)
}

function bindsNow(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () =>
      server.close(() => resolve(true)),
    )
  })
}

/** Ports below the ephemeral range that nothing on a test machine listens on. */
const REFUSING_CANDIDATES = [1, 9, 47, 49, 51]

/**
 * A port on 127.0.0.1 that refuses connections now and later: it is below the kernel's ephemeral
 * range and below freePort's blocks, so no socket of a test run takes it.
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
