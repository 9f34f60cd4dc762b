/**
 * Upstream sockets on src/native/upstream_socket.c: a write is one native call that sends at
 * once, a read is one recv into a part of the shared read buffer. The events of a loop turn reach
 * JavaScript together, as a list, in one call at the end of the poll phase. See the C file for
 * why, and socket.ts for the contract.
 *
 * A name is looked up with dns.lookup and its addresses are tried in the order it gives them
 * until one connects (node's net tries them too, with autoSelectFamily).
 */
import { lookup, type LookupAddress } from 'node:dns'
import { isIP } from 'node:net'
import { getSystemErrorName } from 'node:util'
import type { SocketOwner, UpstreamSocket } from './socket.js'

/** The module's functions (src/native/upstream_socket.c documents each). */
export interface NativeSockets {
  /** `events`: EVENT_FIELDS int32 per event; onEvents(count) reads the first `count`. */
  init(readBuffer: Buffer, events: Int32Array, onEvents: (count: number) => void): void
  /** A slot, or -errno. */
  open(address: string, port: number): number
  /** Bytes left queued after the write. */
  write(slot: number, data: string | Uint8Array): number
  /** Bytes left queued (uncorking sends what it can at once), -1 for a closed slot. */
  cork(slot: number, on: boolean): number
  read(slot: number, on: boolean): void
  close(slot: number): void
  /**
   * Whether characters [start, end) of `head` are `lines` field lines (request.ts); undefined
   * when the range is too long for it.
   */
  checkFieldSection(head: string, lines: number, start: number, end: number): boolean | undefined
}

const EV_CONNECT = 1
const EV_READ = 2
const EV_EOF = 3
const EV_ERROR = 4
const EV_DRAIN = 5

/** As net.Socket's writableHighWaterMark: past it, write() asks the writer to wait for drain. */
const HIGH_WATER_MARK = 16 * 1024

/**
 * Fields of a listed event: slot (-1 when the slot closed after the event was listed), event,
 * value (bytes read, or -errno), offset of the read in the read buffer.
 */
const EVENT_FIELDS = 4
/** Events listed before the list is delivered early; a loop turn rarely makes more sockets ready. */
const EVENT_CAPACITY = 1024

/**
 * The native sockets of one thread: the addon's event list, and the socket at each slot it
 * reports. One per thread, as the addon takes one event list per thread (a second init throws):
 * socket-choice.ts makes it with the serving process's UpstreamSockets, which every pool shares.
 */
export class NativeSocketTable {
  readonly native: NativeSockets
  /** Where reads land (socket.ts READ_BUFFER); events give offsets into it. */
  readonly readBuffer: Buffer
  readonly #events = new Int32Array(EVENT_FIELDS * EVENT_CAPACITY)
  readonly #bySlot: (NativeSocket | undefined)[] = []
  /** Initialised with the first socket: a process that opens none (a config check) leaves it be. */
  #initialised = false

  constructor(native: NativeSockets, readBuffer: Buffer) {
    this.native = native
    this.readBuffer = readBuffer
  }

  /** Opens a socket to host:port (a name is looked up first); events go to `owner`. */
  open(host: string, port: number, owner: SocketOwner): UpstreamSocket {
    if (!this.#initialised) {
      this.native.init(this.readBuffer, this.#events, this.#onEvents)
      this.#initialised = true
    }
    return new NativeSocket(this, host, port, owner)
  }

  attach(slot: number, socket: NativeSocket): void {
    this.#bySlot[slot] = socket
  }

  detach(slot: number): void {
    this.#bySlot[slot] = undefined
  }

  readonly #onEvents = (count: number): void => {
    const list = this.#events
    const bySlot = this.#bySlot
    const end = count * EVENT_FIELDS
    for (let at = 0; at < end; at += EVENT_FIELDS) {
      // Read at its turn: an earlier event's handler may have closed this slot (then -1).
      const slot = list[at]!
      if (slot >= 0) bySlot[slot]?.onEvent(list[at + 1]!, list[at + 2]!, list[at + 3]!)
    }
  }
}

class NativeSocket implements UpstreamSocket {
  readonly #table: NativeSocketTable
  readonly #native: NativeSockets
  readonly #port: number
  readonly #owner: SocketOwner
  #slot = -1
  /** Between open() and the connect (or its failure): an error there tries the next address. */
  #connecting = false
  #address = ''
  /** Addresses of the name still to try, should the current one fail to connect. */
  #fallbacks: string[] = []
  #paused = false
  #needDrain = false
  /** The owner called destroy(): it hears nothing more. */
  #destroyed = false

  constructor(table: NativeSocketTable, host: string, port: number, owner: SocketOwner) {
    this.#table = table
    this.#native = table.native
    this.#port = port
    this.#owner = owner
    if (isIP(host) !== 0) {
      this.#open(host)
    } else {
      lookup(host, { all: true }, (error, addresses) => this.#onLookup(error, addresses))
    }
  }

  get needDrain(): boolean {
    return this.#needDrain
  }

  write(data: string | Uint8Array): boolean {
    if (this.#slot < 0) return true // closed: the owner is failing the request already
    if (this.#native.write(this.#slot, data) < HIGH_WATER_MARK) return true
    this.#needDrain = true
    return false
  }

  cork(): void {
    if (this.#slot >= 0) this.#native.cork(this.#slot, true)
  }

  uncork(): void {
    if (this.#slot < 0 || this.#native.cork(this.#slot, false) !== 0 || !this.#needDrain) return
    // A write asked to wait, and uncorking sent everything: the poll phase will not say so.
    process.nextTick(() => {
      if (!this.#destroyed) this.onEvent(EV_DRAIN, 0, 0)
    })
  }

  pause(): void {
    if (this.#paused) return
    this.#paused = true
    if (this.#slot >= 0) this.#native.read(this.#slot, false)
  }

  resume(): void {
    if (!this.#paused) return
    this.#paused = false
    if (this.#slot >= 0) this.#native.read(this.#slot, true)
  }

  destroy(): void {
    this.#destroyed = true
    this.#release()
  }

  onEvent(event: number, value: number, offset: number): void {
    switch (event) {
      case EV_READ:
        this.#owner.onRead(this.#table.readBuffer, offset, offset + value)
        return
      case EV_CONNECT:
        this.#connecting = false
        this.#fallbacks = []
        this.#owner.onConnect()
        return
      case EV_DRAIN:
        if (!this.#needDrain) return
        this.#needDrain = false
        this.#owner.onDrain()
        return
      case EV_EOF:
        this.#owner.onEnd()
        this.#closeAfterOwner()
        return
      case EV_ERROR:
        this.#onError(value)
    }
  }

  #open(address: string): void {
    this.#address = address
    this.#connecting = true
    const slot = this.#native.open(address, this.#port)
    if (slot < 0) {
      // Reported from the next tick, never from inside the owner's constructor.
      process.nextTick(() => {
        if (!this.#destroyed) this.#onError(slot)
      })
      return
    }
    this.#slot = slot
    this.#table.attach(slot, this)
    if (this.#paused) this.#native.read(slot, false)
  }

  #onLookup(error: NodeJS.ErrnoException | null, addresses: LookupAddress[]): void {
    if (this.#destroyed) return
    if (error !== null || addresses.length === 0) {
      this.#fail(error ?? new Error(`no address for the upstream`))
      return
    }
    this.#fallbacks = addresses.slice(1).map((entry) => entry.address)
    this.#open(addresses[0]!.address)
  }

  #onError(errno: number): void {
    const connecting = this.#connecting
    this.#connecting = false
    this.#release()
    const next = connecting ? this.#fallbacks.shift() : undefined
    if (next !== undefined) {
      this.#open(next)
      return
    }
    const code = getSystemErrorName(errno)
    const syscall = connecting ? 'connect' : 'read'
    const error: NodeJS.ErrnoException = new Error(
      `${syscall} ${code} ${this.#address}:${this.#port}`,
    )
    error.errno = errno
    error.code = code
    error.syscall = syscall
    this.#fail(error)
  }

  #fail(error: Error): void {
    this.#owner.onError(error)
    this.#closeAfterOwner()
  }

  /** Closes the socket, and says so, unless the owner destroyed it meanwhile. */
  #closeAfterOwner(): void {
    if (this.#destroyed) return
    this.#release()
    this.#owner.onClose()
  }

  #release(): void {
    const slot = this.#slot
    if (slot < 0) return
    this.#slot = -1
    this.#table.detach(slot)
    this.#native.close(slot)
  }
}
