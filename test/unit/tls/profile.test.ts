import type { AddressInfo } from 'node:net'
import { connect, createServer, type Server, type TLSSocket } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NODE_TLS_PROFILE } from '../../../src/tls/profile.js'
import { createPki, type Issued, type Pki } from '../../../scripts/pki.js'

let pki: Pki
let server: Issued
let listening: Server

beforeAll(async () => {
  pki = createPki()
  server = pki.issue(pki.ca(), { cn: 'localhost', dns: ['localhost'] })
  // As the node front builds its TLS listeners (src/front/node.ts). It answers once the client
  // speaks: by then it has sent whatever follows its handshake.
  listening = createServer(
    { ...NODE_TLS_PROFILE, cert: server.chain, key: server.key },
    (socket) => {
      socket.on('error', () => {})
      socket.once('data', () => socket.end())
    },
  )
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve))
})
afterAll(() => {
  listening.close()
  pki.cleanup()
})

function cipherFor(offered: string): Promise<string> {
  const { port } = listening.address() as AddressInfo
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ciphers: offered, rejectUnauthorized: false })
    socket.once('error', reject)
    socket.once('secureConnect', () => {
      resolve(socket.getCipher().standardName)
      socket.destroy()
    })
  })
}

/** Connects (offering `session`), waits for what the server sends after the handshake. */
function handshake(session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined }> {
  const { port } = listening.address() as AddressInfo
  return new Promise((resolve, reject) => {
    let ticket: Buffer | undefined
    const socket: TLSSocket = connect({
      host: '127.0.0.1',
      port,
      rejectUnauthorized: false,
      ...(session === undefined ? {} : { session }),
    })
    socket.on('session', (value: Buffer) => (ticket = value))
    socket.once('error', reject)
    socket.once('secureConnect', () => socket.write('x'))
    socket.on('data', () => {})
    socket.once('end', () => {
      resolve({ reused: socket.isSessionReused(), session: ticket })
      socket.destroy()
    })
  })
}

describe('NODE_TLS_PROFILE', () => {
  describe('when a client comes back with the session of its last connection', () => {
    it('makes a full handshake: no session tickets, as the intermediate profile says', async () => {
      const first = await handshake()
      // TLS 1.3 still sends a (stateful) ticket message; what matters is that it does not resume.
      const second = await handshake(first.session)
      expect(second.reused).toBe(false)
    })
  })

  describe('when the client lists the TLS 1.3 suites in its own order', () => {
    it('uses the client’s first choice, as Mozilla’s intermediate profile says', async () => {
      expect(await cipherFor('TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256')).toBe(
        'TLS_AES_256_GCM_SHA384',
      )
      expect(await cipherFor('TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256')).toBe(
        'TLS_CHACHA20_POLY1305_SHA256',
      )
    })
  })
})
