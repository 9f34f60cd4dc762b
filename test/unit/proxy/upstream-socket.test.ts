// The sockets under the native HTTP/1.1 transport (src/proxy/h1/socket.ts), against real servers
// on the loopback: the contract the connection relies on, for whichever implementation the
// environment chose (upstream-socket-net.test.ts runs this file again on node:net).
import { randomBytes, createHash } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createUpstreamSockets, UPSTREAM_SOCKETS_ENV } from '../../../src/proxy/h1/socket-choice.js'
import type { SocketOwner, UpstreamSocket } from '../../../src/proxy/h1/socket.js'
import { refusingPort } from '../../helpers/ports.js'
import { sleep, waitUntil } from '../../helpers/wait.js'

const expected = process.env[UPSTREAM_SOCKETS_ENV] === 'node' ? 'node:net' : 'native'
/** This process's sockets, as a serving process makes them. */
const sockets = createUpstreamSockets()

/** Records every event; `on` may act on the socket from inside an event. */
class Recorder implements SocketOwner {
  readonly events: string[] = []
  readonly errors: NodeJS.ErrnoException[] = []
  received: Buffer[] = []
  socket: UpstreamSocket | null = null
  on: Partial<Record<'connect' | 'read' | 'drain', (recorder: Recorder) => void>> = {}

  onConnect(): void {
    this.events.push('connect')
    this.on.connect?.(this)
  }
  onRead(buffer: Buffer, start: number, end: number): void {
    if (this.events[this.events.length - 1] !== 'read') this.events.push('read')
    // The buffer is borrowed: keep a copy, as the parser does.
    this.received.push(Buffer.from(buffer.subarray(start, end)))
    this.on.read?.(this)
  }
  onEnd(): void {
    this.events.push('end')
  }
  onError(error: Error): void {
    this.events.push('error')
    this.errors.push(error)
  }
  onClose(): void {
    this.events.push('close')
  }
  onDrain(): void {
    this.events.push('drain')
    this.on.drain?.(this)
  }
  get text(): string {
    return Buffer.concat(this.received).toString('latin1')
  }
}

const servers: Server[] = []
const opened: UpstreamSocket[] = []

afterEach(async () => {
  for (const socket of opened.splice(0)) socket.destroy()
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

async function server(onSocket: (socket: Socket) => void, host = '127.0.0.1'): Promise<number> {
  const s = createServer(onSocket)
  servers.push(s)
  await new Promise<void>((resolve) => s.listen(0, host, resolve))
  return (s.address() as AddressInfo).port
}

function open(host: string, port: number, recorder = new Recorder()): Recorder {
  const socket = sockets.open(host, port, recorder)
  recorder.socket = socket
  opened.push(socket)
  return recorder
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length
}

describe(`upstream sockets (${expected})`, () => {
  it('runs on the implementation the environment chose', () => {
    expect(sockets.description).toMatch(new RegExp(`^${expected}`))
  })

  it('connects, writes strings as latin1 and bytes as they are, reads, and reports the end', async () => {
    const port = await server((socket) => {
      socket.on('data', (data) => socket.end(Buffer.concat([Buffer.from('echo:'), data])))
    })
    const recorder = open('127.0.0.1', port)
    recorder.on.connect = (r) => {
      r.socket!.write('caf\u00e9 ')
      r.socket!.write(Uint8Array.of(0xff, 0x00, 0x41))
    }
    await waitUntil(() => recorder.events.includes('close'), { what: 'close' })
    expect(Buffer.concat(recorder.received)).toEqual(
      Buffer.from([...Buffer.from('echo:caf\u00e9 ', 'latin1'), 0xff, 0x00, 0x41]),
    )
    expect(recorder.events).toEqual(['connect', 'read', 'end', 'close'])
  })

  it('connects to an IPv6 literal', async () => {
    const port = await server((socket) => socket.end('six'), '::1')
    const recorder = open('::1', port)
    await waitUntil(() => recorder.events.includes('close'), { what: 'close' })
    expect(recorder.text).toBe('six')
  })

  it('resolves a host name', async () => {
    const port = await server((socket) => socket.end('hello'))
    const recorder = open('localhost', port)
    await waitUntil(() => recorder.events.includes('close'), { what: 'close' })
    expect(recorder.text).toBe('hello')
  })

  it('reports a refused connection as ECONNREFUSED from connect, then close', async () => {
    const recorder = open('127.0.0.1', await refusingPort())
    await waitUntil(() => recorder.events.includes('close'), { what: 'close' })
    expect(recorder.events).toEqual(['error', 'close'])
    expect(recorder.errors[0]).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect' })
  })

  it('reports a name that does not resolve as ENOTFOUND', async () => {
    const recorder = open('no-such-host.invalid', 80)
    await waitUntil(() => recorder.events.includes('close'), { what: 'close' })
    expect(recorder.errors[0]?.code).toBe('ENOTFOUND')
  })

  it('reports a reset connection as ECONNRESET', async () => {
    const port = await server((socket) => socket.on('data', () => socket.resetAndDestroy()))
    const recorder = open('127.0.0.1', port)
    recorder.on.connect = (r) => r.socket!.write('x')
    await waitUntil(() => recorder.events.includes('close'), { what: 'close' })
    expect(recorder.events).toEqual(['connect', 'error', 'close'])
    expect(recorder.errors[0]?.code).toBe('ECONNRESET')
  })

  it('tells nothing more after destroy(), even from inside a read', async () => {
    const port = await server((socket) => {
      socket.write('a')
      setTimeout(() => socket.end('b'), 50)
    })
    const recorder = open('127.0.0.1', port)
    recorder.on.read = (r) => r.socket!.destroy()
    await sleep(200)
    expect(recorder.events).toEqual(['connect', 'read'])
    expect(recorder.text).toBe('a')
  })

  it('asks the writer to wait past the high-water mark, drains, and delivers every byte', async () => {
    const TOTAL = 8 * 1024 * 1024
    let reader: Socket | null = null
    const hash = createHash('sha256')
    let got = 0
    const port = await server((socket) => {
      reader = socket
      socket.pause() // nothing is read until the test resumes it: the kernel buffers fill
      socket.on('data', (chunk) => {
        hash.update(chunk)
        got += chunk.length
      })
    })
    const data = randomBytes(TOTAL)
    const recorder = open('127.0.0.1', port)
    let offset = 0
    let refused = false
    const pump = (r: Recorder): void => {
      while (offset < TOTAL) {
        const chunk = data.subarray(offset, offset + 64 * 1024)
        offset += chunk.length
        if (!r.socket!.write(chunk)) {
          refused = true
          expect(r.socket!.needDrain).toBe(true)
          return
        }
      }
    }
    recorder.on.connect = pump
    recorder.on.drain = pump
    await waitUntil(() => refused, { what: 'a refused write' })
    expect(offset).toBeLessThan(TOTAL)
    reader!.resume()
    await waitUntil(() => got === TOTAL, { what: 'every byte', timeoutMs: 20_000 })
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'))
    expect(recorder.socket!.needDrain).toBe(false)
    expect(recorder.events).toContain('drain')
  })

  it('sends corked writes together and drains after an uncork that sent everything', async () => {
    const chunks: Buffer[] = []
    const port = await server((socket) => socket.on('data', (chunk) => chunks.push(chunk)))
    const recorder = open('127.0.0.1', port)
    recorder.on.connect = (r) => {
      const socket = r.socket!
      socket.cork()
      socket.write('head\r\n')
      const ok = socket.write(Buffer.alloc(40 * 1024, 0x61))
      socket.write('\r\n')
      socket.uncork()
      expect(ok).toBe(false) // past the mark while corked: the writer waits for the drain
    }
    await waitUntil(() => recorder.events.includes('drain'), { what: 'drain' })
    await waitUntil(() => Buffer.concat(chunks).length === 6 + 40 * 1024 + 2)
    expect(Buffer.concat(chunks).subarray(0, 6).toString()).toBe('head\r\n')
  })

  it('reads nothing while paused and everything after resume', async () => {
    let peer: Socket | null = null
    const port = await server((socket) => {
      peer = socket
      socket.write('one')
    })
    const recorder = open('127.0.0.1', port)
    recorder.on.read = (r) => r.socket!.pause()
    await waitUntil(() => recorder.text === 'one', { what: 'the first read' })
    peer!.end('two')
    await sleep(100)
    expect(recorder.text).toBe('one')
    expect(recorder.events).toEqual(['connect', 'read'])
    recorder.on.read = undefined
    recorder.socket!.resume()
    await waitUntil(() => recorder.events.includes('close'), { what: 'close' })
    expect(recorder.text).toBe('onetwo')
  })

  it('keeps apart the reads of 40 sockets made ready in one loop turn, past the read buffer', async () => {
    // Each socket is paused once connected, the server sends it 20 KiB, and all resume in the same
    // tick: their reads share one loop turn and, together, outgrow the 64 KiB read buffer.
    const payloads = Array.from({ length: 40 }, () => randomBytes(20 * 1024))
    let connections = 0
    const port = await server((socket) => {
      socket.once('data', (id) => socket.end(payloads[Number(id.toString())]))
      connections++
    })
    const recorders = payloads.map((_, i) => {
      const recorder = new Recorder()
      recorder.on.connect = (r) => {
        r.socket!.pause()
        r.socket!.write(String(i))
      }
      return open('127.0.0.1', port, recorder)
    })
    await waitUntil(() => connections === payloads.length, { what: 'every connection' })
    await sleep(100) // every payload is in the kernel's buffers
    for (const r of recorders) r.socket!.resume()
    await waitUntil(() => recorders.every((r) => r.events.includes('close')), { what: 'closes' })
    recorders.forEach((r, i) => expect(Buffer.concat(r.received).equals(payloads[i]!)).toBe(true))
  })

  it('gives nothing of a socket destroyed in a loop turn to the socket opened in its place', async () => {
    // Two sockets become readable in the same turn; whichever is told first destroys the other
    // and opens a third to a silent server (the native sockets hand it the freed slot).
    const silent = await server(() => undefined)
    let connections = 0
    const port = await server((socket) => {
      socket.on('error', () => undefined) // the destroyed one is reset with its data unread
      socket.once('data', () => socket.write('data'))
      connections++
    })
    const pair = [new Recorder(), new Recorder()]
    let third: Recorder | null = null
    pair.forEach((recorder, i) => {
      recorder.on.connect = (r) => {
        r.socket!.pause()
        r.socket!.write('go')
      }
      recorder.on.read = () => {
        if (third !== null) return
        pair[1 - i]!.socket!.destroy()
        third = open('127.0.0.1', silent)
      }
      open('127.0.0.1', port, recorder)
    })
    await waitUntil(() => connections === 2, { what: 'both connections' })
    await sleep(100)
    for (const r of pair) r.socket!.resume()
    await waitUntil(() => third?.events.includes('connect') === true, { what: 'the third socket' })
    await sleep(100)
    expect(third!.events).toEqual(['connect'])
    const told = pair.filter((r) => r.events.includes('read'))
    expect(told).toHaveLength(1)
    expect(told[0]!.text).toBe('data')
  })

  it('closes what it opens: 300 sockets opened and destroyed leave no descriptor behind', async () => {
    const port = await server((socket) => socket.on('data', (d) => socket.write(d)))
    const before = openFds()
    for (let round = 0; round < 3; round++) {
      const recorders = Array.from({ length: 100 }, (_, i) => {
        const recorder = new Recorder()
        recorder.on.connect = (r) => r.socket!.write(`ping ${round}.${i}`)
        return open('127.0.0.1', port, recorder)
      })
      await waitUntil(() => recorders.every((r) => r.text.length > 0), { what: 'every echo' })
      recorders.forEach((r, i) => expect(r.text).toBe(`ping ${round}.${i}`))
      for (const r of recorders) r.socket!.destroy()
    }
    opened.splice(0)
    await waitUntil(() => openFds() <= before + 2, { what: 'descriptors closed' })
  })
})
