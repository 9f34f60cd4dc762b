/** Loopback ports for the fuzz and chaos runs' gateways (a moment's race with other processes). */
import { createSocket } from 'node:dgram'
import { createServer, type AddressInfo } from 'node:net'

/** A TCP port free on 127.0.0.1 now. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** A base UDP port with `count` free ports from it (worker i gossips on base + i). */
export async function freeUdpPorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000)
    const sockets = Array.from({ length: count }, () => createSocket('udp4'))
    try {
      await Promise.all(
        sockets.map(
          (s, i) =>
            new Promise<void>((resolve, reject) => {
              s.once('error', reject)
              s.bind(base + i, '127.0.0.1', resolve)
            }),
        ),
      )
      return base
    } catch {
      // taken: try another base
    } finally {
      for (const s of sockets) s.close()
    }
  }
  throw new Error('no free UDP ports for gossip')
}
