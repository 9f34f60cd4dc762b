/**
 * One gossip member per worker process: sends what this worker's requests consumed to every other
 * member and adds what they consumed to this worker's counters, over UDP.
 *
 * - **Send.** Every `interval` the member takes the source's deltas and sends them, split into
 *   datagrams of at most `max_datagram`, to every live member. Every member_timeout / 4 it sends a
 *   heartbeat listing the members it hears from, to them and to the addresses it still probes
 *   (this host's other workers, the seeds, members others listed).
 * - **Receive.** A datagram is dropped and counted when it is too large, malformed, unsigned or
 *   badly signed (with a secret), more than 30 s off this clock (when signed), or already seen:
 *   each sender has a 64-datagram anti-replay window (RFC 4303 §3.4.3). Otherwise its deltas go
 *   to the sink. A new sender id from a known address is that member restarted.
 * - **Membership.** Members are keyed by sender id; one silent for member_timeout is dropped.
 * - **Budget.** The same socket carries the borrow requests and grants of limits held exactly on
 *   this host (src/cluster/budget-exchange.ts), signed and replay-checked like the rest, and
 *   heard only from this host's workers (their ports, on loopback or the bound address).
 *
 * Nothing here runs per request: the request path only touches the source's counters, and no
 * request ever waits on this socket.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { lookup } from 'node:dns/promises'
import { isIPv4 } from 'node:net'
import type { Logger } from 'pino'
import { PortcullisError } from '../errors.js'
import { GossipCodec, type DecodeFailure, type GossipBody, type MemberAddress } from './codec.js'
import type { GossipAddress, GossipSettings } from './schema.js'
import { isLoopback } from './settings.js'
import type { BudgetHandler, DeltaSink, DeltaSource } from './types.js'

/**
 * How far a signed datagram's timestamp may be from this clock. Past it a captured datagram can
 * no longer be replayed, even to a member that has forgotten its sender; NTP keeps hosts well
 * inside it.
 */
export const CLOCK_SKEW_MS = 30_000
/** Datagrams a sender may be reordered by and still count once (IPsec's default is 64 too). */
export const REPLAY_WINDOW = 64
/** Bound on addresses learned from heartbeats, so a confused member cannot grow this map. */
const MAX_CANDIDATES = 4096

export interface GossipMemberOptions extends GossipSettings {
  /** This worker's index on its host (0-based): it binds port + index. */
  readonly index: number
  /** Workers on this host, each a member at port + i; the others are probed from the start. */
  readonly localPeers: number
}

export interface GossipStats {
  /** Datagrams sent (one per datagram and destination). */
  sent: number
  /** Datagrams accepted. */
  received: number
  /** `foreign`: a budget datagram from a member that is not a worker of this host. */
  readonly dropped: Record<DecodeFailure | 'replay' | 'stale' | 'foreign', number>
  /** Sends the socket refused (unreachable host, full buffer). */
  sendErrors: number
  /** Deltas whose counter name alone exceeds max_datagram: never sent. */
  unsendable: number
  /** Live members, this one excluded. */
  members: number
}

export interface MemberInfo {
  readonly id: string
  readonly address: string
  readonly lastSeenMs: number
}

interface Peer {
  readonly id: string
  readonly host: string
  readonly port: number
  lastSeenMs: number
}

interface Candidate {
  readonly host: string
  readonly port: number
  /** Seeds and this host's workers are probed forever; learned addresses until this time. */
  readonly untilMs: number
}

/**
 * Per-sender anti-replay: the highest sequence accepted and which of the REPLAY_WINDOW below it
 * were seen (RFC 4303 §3.4.3, with a ring of flags instead of a shifted bitmap).
 */
export class ReplayWindow {
  #highest = -1
  readonly #seen = new Uint8Array(REPLAY_WINDOW)
  lastSeenMs = 0

  /** True (and remembered) the first time `sequence` is offered within the window. */
  accept(sequence: number): boolean {
    if (sequence > this.#highest) {
      const advance = Math.min(sequence - this.#highest, REPLAY_WINDOW)
      for (let i = 1; i <= advance; i++) this.#seen[(this.#highest + i) % REPLAY_WINDOW] = 0
      this.#highest = sequence
      this.#seen[sequence % REPLAY_WINDOW] = 1
      return true
    }
    if (this.#highest - sequence >= REPLAY_WINDOW) return false
    const slot = sequence % REPLAY_WINDOW
    if (this.#seen[slot] === 1) return false
    this.#seen[slot] = 1
    return true
  }
}

export class GossipMember {
  readonly stats: GossipStats = {
    sent: 0,
    received: 0,
    dropped: {
      malformed: 0,
      bad_mac: 0,
      unsigned: 0,
      too_large: 0,
      unknown_version: 0,
      replay: 0,
      stale: 0,
      foreign: 0,
    },
    sendErrors: 0,
    unsendable: 0,
    members: 0,
  }
  readonly #options: GossipMemberOptions
  readonly #sink: DeltaSink
  readonly #source: DeltaSource
  readonly #logger: Logger
  readonly #heartbeatMs: number
  #socket: Socket | null = null
  #codec: GossipCodec | null = null
  #timer: NodeJS.Timeout | null = null
  #lastHeartbeatMs = 0
  /** Live members by sender id. */
  readonly #peers = new Map<string, Peer>()
  /** `host:port` → the sender id last heard from there (this member's own id included). */
  readonly #owners = new Map<string, string>()
  readonly #candidates = new Map<string, Candidate>()
  readonly #replay = new Map<string, ReplayWindow>()
  #unresolved: GossipAddress[] = []
  #resolving = false
  #budget: BudgetHandler | null = null

  constructor(options: GossipMemberOptions, sink: DeltaSink, source: DeltaSource, logger: Logger) {
    if (options.secret === null && !isLoopback(options.bind)) {
      throw new PortcullisError('PCL_ERR_CONFIG_INVALID', 'invalid configuration', [
        {
          path: 'gossip.bind',
          reason: `binding ${options.bind} (not loopback) requires gossip.secret`,
        },
      ])
    }
    if (options.port !== 0 && options.port + Math.max(options.localPeers, 1) - 1 > 65535) {
      throw new PortcullisError('PCL_ERR_CONFIG_INVALID', 'invalid configuration', [
        {
          path: 'gossip.port',
          reason: `${options.localPeers} workers from ${options.port} pass 65535`,
        },
      ])
    }
    this.#options = options
    this.#sink = sink
    this.#source = source
    this.#logger = logger
    this.#heartbeatMs = Math.max(options.intervalMs, Math.floor(options.memberTimeoutMs / 4))
  }

  /** Binds the socket, resolves the seeds and sends the first heartbeat. */
  async start(): Promise<void> {
    if (this.#socket !== null) throw new Error('gossip member already started')
    const { bind, port, index } = this.#options
    const own = port === 0 ? 0 : port + index
    const socket = createSocket({ type: 'udp4' })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(own, bind, () => {
        socket.off('error', reject)
        resolve()
      })
    }).catch((error: NodeJS.ErrnoException) => {
      socket.close()
      throw new PortcullisError(
        'PCL_ERR_LISTEN',
        `gossip cannot bind ${bind}:${own} (${error.code ?? error.message})` +
          (error.code === 'EADDRINUSE'
            ? `: another gateway on this host uses gossip ports from ${this.#options.port}; give each its own gossip.port`
            : ''),
      )
    })
    socket.on('error', (error) => this.#logger.warn({ err: error }, 'gossip socket error'))
    socket.on('message', (datagram, remote) => this.#receive(datagram, remote))
    this.#socket = socket
    const bound = socket.address().port
    this.#codec = new GossipCodec({
      secret: this.#options.secret,
      maxDatagramBytes: this.#options.maxDatagramBytes,
      port: bound,
    })
    this.#owners.set(`${bind}:${bound}`, this.#codec.senderId)
    if (port !== 0) {
      // A member bound to every interface reaches its neighbours on loopback.
      const host = bind === '0.0.0.0' ? '127.0.0.1' : bind
      for (let i = 0; i < this.#options.localPeers; i++) {
        if (i !== index) this.#probe(host, port + i, Infinity)
      }
    }
    this.#unresolved = [...this.#options.seeds]
    await this.#resolveSeeds()
    this.#timer = setInterval(() => this.#tick(), this.#options.intervalMs)
    this.#timer.unref()
    this.#heartbeat(Date.now())
    this.#logger.info(
      {
        address: `${bind}:${bound}`,
        id: this.#codec.senderId,
        signed: this.#options.secret !== null,
      },
      'gossip member started',
    )
  }

  /** Stops sending and closes the socket; peers drop this member after member_timeout. */
  async close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    const socket = this.#socket
    this.#socket = null
    if (socket !== null) await new Promise<void>((resolve) => socket.close(() => resolve()))
  }

  /** The bound address (after start). */
  address(): { readonly address: string; readonly port: number } {
    if (this.#socket === null) throw new Error('gossip member is not started')
    return this.#socket.address()
  }

  /** This process's sender id (after start). */
  get id(): string {
    if (this.#codec === null) throw new Error('gossip member is not started')
    return this.#codec.senderId
  }

  /** Who answers this host's other workers' borrow requests (null: nothing is lent). */
  set budget(handler: BudgetHandler | null) {
    this.#budget = handler
  }

  /**
   * Sends a borrow request to every other worker of this host (their ports, whether heard from
   * yet or not: at start-up a share may be asked for before the first heartbeat). Returns how
   * many were asked.
   */
  requestBudget(id: number, counter: string, need: number): number {
    const codec = this.#codec
    const { port, index, localPeers, bind } = this.#options
    if (codec === null || port === 0 || localPeers < 2) return 0
    const datagram = codec.encodeBorrow(id, counter, need, index, Date.now())
    const host = bind === '0.0.0.0' ? '127.0.0.1' : bind
    for (let i = 0; i < localPeers; i++) if (i !== index) this.#send(datagram, host, port + i)
    return localPeers - 1
  }

  /** True when a datagram from `address`, listening on `port`, is a worker of this host. */
  #fromThisHost(address: string, port: number): boolean {
    const base = this.#options.port
    if (base === 0 || port < base || port >= base + this.#options.localPeers) return false
    return isLoopback(address) || address === this.#options.bind
  }

  /** How many live members there are, this one excluded (no list built). */
  get size(): number {
    return this.#peers.size
  }

  /** Live members, this one excluded. */
  members(): MemberInfo[] {
    return [...this.#peers.values()].map((peer) => ({
      id: peer.id,
      address: `${peer.host}:${peer.port}`,
      lastSeenMs: peer.lastSeenMs,
    }))
  }

  #tick(): void {
    const now = Date.now()
    this.#expire(now)
    // Taken even with nobody to send to, so the source never accumulates.
    const deltas = this.#source.takeLocalDeltas()
    if (deltas.length > 0 && this.#peers.size > 0 && this.#codec !== null) {
      const { datagrams, skipped } = this.#codec.encodeDeltas(deltas, now)
      if (skipped > 0) {
        // Once: the same long key would otherwise log every interval.
        if (this.stats.unsendable === 0) {
          this.#logger.warn(
            { skipped },
            'gossip cannot send counters whose name exceeds max_datagram',
          )
        }
        this.stats.unsendable += skipped
      }
      for (const peer of this.#peers.values()) {
        for (const datagram of datagrams) this.#send(datagram, peer.host, peer.port)
      }
    }
    if (now - this.#lastHeartbeatMs >= this.#heartbeatMs) this.#heartbeat(now)
  }

  #heartbeat(now: number): void {
    if (this.#codec === null) return
    this.#lastHeartbeatMs = now
    if (this.#unresolved.length > 0) void this.#resolveSeeds()
    const live: MemberAddress[] = []
    for (const peer of this.#peers.values()) {
      live.push({ id: peer.id, host: peer.host, port: peer.port })
    }
    const datagrams = this.#codec.encodeHeartbeat(live, now)
    for (const peer of live) {
      for (const datagram of datagrams) this.#send(datagram, peer.host, peer.port)
    }
    for (const [key, candidate] of this.#candidates) {
      const owner = this.#owners.get(key)
      if (owner !== undefined && (owner === this.#codec.senderId || this.#peers.has(owner)))
        continue
      for (const datagram of datagrams) this.#send(datagram, candidate.host, candidate.port)
    }
  }

  #expire(now: number): void {
    for (const [id, peer] of this.#peers) {
      if (now - peer.lastSeenMs < this.#options.memberTimeoutMs) continue
      this.#peers.delete(id)
      this.#logger.info(
        { id, address: `${peer.host}:${peer.port}` },
        'gossip member silent, dropped',
      )
    }
    this.stats.members = this.#peers.size
    for (const [key, candidate] of this.#candidates) {
      if (candidate.untilMs <= now) this.#candidates.delete(key)
    }
    // A forgotten sender's datagrams are stale (signed) by the time its window goes.
    const forgetBefore = now - CLOCK_SKEW_MS - this.#options.memberTimeoutMs
    for (const [id, window] of this.#replay) {
      if (window.lastSeenMs < forgetBefore && !this.#peers.has(id)) this.#replay.delete(id)
    }
    for (const [key, id] of this.#owners) {
      if (id !== this.#codec?.senderId && !this.#peers.has(id) && !this.#replay.has(id)) {
        this.#owners.delete(key)
      }
    }
  }

  #receive(datagram: Buffer, remote: RemoteInfo): void {
    const codec = this.#codec
    if (codec === null) return
    const result = codec.decode(datagram)
    if (!result.ok) {
      this.#drop(result.reason, remote)
      return
    }
    const message = result.message
    const key = `${remote.address}:${message.port}`
    if (message.sender === codec.senderId) {
      this.#owners.set(key, message.sender)
      return
    }
    const now = Date.now()
    if (message.signed && Math.abs(message.timestamp - now) > CLOCK_SKEW_MS) {
      this.#drop('stale', remote)
      return
    }
    let window = this.#replay.get(message.sender)
    if (window === undefined) {
      window = new ReplayWindow()
      this.#replay.set(message.sender, window)
    }
    if (!window.accept(message.sequence)) {
      this.#drop('replay', remote)
      return
    }
    window.lastSeenMs = now
    this.stats.received++
    this.#heard(message.sender, remote.address, message.port, key, now)
    const body = message.body
    const local = this.#fromThisHost(remote.address, message.port)
    switch (body.kind) {
      case 'deltas':
        try {
          this.#sink.applyRemote(body.deltas, now, local)
        } catch (error) {
          this.#logger.error({ err: error }, 'gossip sink refused deltas')
        }
        return
      case 'heartbeat':
        for (const member of body.members) this.#learn(member, remote.address, now)
        return
      case 'borrow':
      case 'grant':
        if (!local) this.#drop('foreign', remote)
        else this.#onBudget(body, remote.address, message.port, now)
        return
    }
  }

  #onBudget(
    body: Extract<GossipBody, { kind: 'borrow' | 'grant' }>,
    host: string,
    port: number,
    now: number,
  ): void {
    const handler = this.#budget
    const codec = this.#codec
    if (codec === null) return
    if (body.kind === 'grant') {
      handler?.granted(body.id, body.counter, body.amount, body.left, now)
      return
    }
    // Without a handler (no exact limits here) the answer is that nothing is lent.
    const loan = handler?.lend(body.counter, body.need, body.from, now) ?? { granted: 0, left: 0 }
    this.#send(codec.encodeGrant(body.id, body.counter, loan.granted, loan.left, now), host, port)
  }

  #heard(id: string, host: string, port: number, key: string, now: number): void {
    const peer = this.#peers.get(id)
    if (peer !== undefined) {
      peer.lastSeenMs = now
      this.#owners.set(key, id)
      return
    }
    const previous = this.#owners.get(key)
    if (previous !== undefined && previous !== id && this.#peers.delete(previous)) {
      this.#logger.info({ id, previous, address: key }, 'gossip member restarted')
    } else {
      this.#logger.info({ id, address: key }, 'gossip member joined')
    }
    this.#peers.set(id, { id, host, port, lastSeenMs: now })
    this.#owners.set(key, id)
    this.stats.members = this.#peers.size
  }

  /** A member another one listed: probed until member_timeout unless it answers. */
  #learn(member: MemberAddress, from: string, now: number): void {
    if (member.id === this.#codec?.senderId || this.#peers.has(member.id)) return
    // The lister's loopback is its own host: from here that is the address it sent from.
    const host = isLoopback(member.host) && !isLoopback(from) ? from : member.host
    if (!isIPv4(host) || host === '0.0.0.0' || !this.#reaches(host)) return
    this.#probe(host, member.port, now + this.#options.memberTimeoutMs)
  }

  /** A socket bound to loopback reaches only loopback; one bound to another address, only others. */
  #reaches(host: string): boolean {
    const bind = this.#options.bind
    return bind === '0.0.0.0' || isLoopback(bind) === isLoopback(host)
  }

  #probe(host: string, port: number, untilMs: number): void {
    const key = `${host}:${port}`
    const existing = this.#candidates.get(key)
    if (existing !== undefined && existing.untilMs >= untilMs) return
    if (existing === undefined && this.#candidates.size >= MAX_CANDIDATES) return
    this.#candidates.set(key, { host, port, untilMs })
  }

  async #resolveSeeds(): Promise<void> {
    if (this.#resolving) return
    this.#resolving = true
    const pending = this.#unresolved
    this.#unresolved = []
    await Promise.all(
      pending.map(async (seed) => {
        try {
          const hosts = isIPv4(seed.host)
            ? [seed.host]
            : (await lookup(seed.host, { family: 4, all: true })).map((found) => found.address)
          for (const host of hosts) this.#probe(host, seed.port, Infinity)
        } catch (error) {
          this.#unresolved.push(seed)
          this.#logger.warn(
            { seed: `${seed.host}:${seed.port}`, code: (error as NodeJS.ErrnoException).code },
            'gossip seed not resolved; retrying with each heartbeat',
          )
        }
      }),
    )
    this.#resolving = false
  }

  #send(datagram: Buffer, host: string, port: number): void {
    const socket = this.#socket
    if (socket === null) return
    this.stats.sent++
    socket.send(datagram, port, host, (error) => {
      if (error !== null && error !== undefined) {
        this.stats.sendErrors++
        this.#logger.debug({ err: error, to: `${host}:${port}` }, 'gossip send failed')
      }
    })
  }

  #drop(reason: DecodeFailure | 'replay' | 'stale' | 'foreign', remote: RemoteInfo): void {
    this.stats.dropped[reason]++
    this.#logger.debug(
      { reason, from: `${remote.address}:${remote.port}` },
      'gossip datagram dropped',
    )
  }
}
