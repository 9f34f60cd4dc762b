import { createSocket, type Socket } from 'node:dgram'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { PortcullisError, type ConfigProblem } from '../../../src/errors.js'
import { GossipCodec } from '../../../src/gossip/codec.js'
import {
  GossipMember,
  REPLAY_WINDOW,
  ReplayWindow,
  type GossipMemberOptions,
} from '../../../src/gossip/member.js'
import { createValidator } from '../../../src/config/validate.js'
import { GossipSchema, type GossipConfig } from '../../../src/gossip/schema.js'
import { compileGossip } from '../../../src/gossip/settings.js'
import type { ConsumptionDelta, DeltaSink, DeltaSource } from '../../../src/gossip/types.js'
import { consecutivePorts } from '../../helpers/ports.js'
import { sleep, waitUntil } from '../../helpers/wait.js'

const SECRET = Buffer.from('a-gossip-secret-of-at-least-32-bytes!')
const silent = pino({ level: 'silent' })

class FakeSink implements DeltaSink {
  readonly received: ConsumptionDelta[] = []
  applyRemote(deltas: readonly ConsumptionDelta[]): void {
    this.received.push(...deltas)
  }
}

class FakeSource implements DeltaSource {
  pending: ConsumptionDelta[] = []
  takeLocalDeltas(): ConsumptionDelta[] {
    const taken = this.pending
    this.pending = []
    return taken
  }
}

interface Node {
  readonly member: GossipMember
  readonly sink: FakeSink
  readonly source: FakeSource
  readonly port: number
}

const started: GossipMember[] = []
const sockets: Socket[] = []

afterEach(async () => {
  await Promise.all(started.splice(0).map((member) => member.close()))
  for (const socket of sockets.splice(0)) socket.close()
})

function options(overrides: Partial<GossipMemberOptions> = {}): GossipMemberOptions {
  return {
    bind: '127.0.0.1',
    port: 0,
    index: 0,
    localPeers: 1,
    seeds: [],
    secret: SECRET,
    intervalMs: 20,
    memberTimeoutMs: 300,
    maxDatagramBytes: 1200,
    exactUpTo: 100,
    borrowTimeoutMs: 2,
    ...overrides,
  }
}

async function node(overrides: Partial<GossipMemberOptions> = {}): Promise<Node> {
  const sink = new FakeSink()
  const source = new FakeSource()
  const member = new GossipMember(options(overrides), sink, source, silent)
  await member.start()
  started.push(member)
  return { member, sink, source, port: member.address().port }
}

function seed(...nodes: Node[]): Pick<GossipMemberOptions, 'seeds'> {
  return { seeds: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })) }
}

function delta(counter: string, count = 1): ConsumptionDelta {
  return { counter, window: 0, count }
}

async function joined(member: GossipMember, count: number): Promise<void> {
  await waitUntil(() => member.members().length === count, {
    timeoutMs: 2000,
    intervalMs: 10,
    what: `${count} members`,
  })
}

/** A raw socket on loopback that records what it receives. */
async function rawSocket(): Promise<{ socket: Socket; port: number; received: Buffer[] }> {
  const socket = createSocket('udp4')
  sockets.push(socket)
  const received: Buffer[] = []
  socket.on('message', (datagram) => received.push(datagram))
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  return { socket, port: socket.address().port, received }
}

function send(socket: Socket, datagram: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.send(datagram, port, '127.0.0.1', (error) => (error ? reject(error) : resolve())),
  )
}

describe('gossip member', () => {
  describe('when members find each other', () => {
    it('exchanges deltas between two members within a few intervals', async () => {
      const a = await node()
      const b = await node(seed(a))
      await joined(a.member, 1)
      await joined(b.member, 1)
      a.source.pending.push(delta('p||alice', 3))
      b.source.pending.push(delta('p||bob', 2))
      await waitUntil(() => a.sink.received.length === 1 && b.sink.received.length === 1, {
        timeoutMs: 500,
        intervalMs: 10,
      })
      expect(b.sink.received).toEqual([delta('p||alice', 3)])
      expect(a.sink.received).toEqual([delta('p||bob', 2)])
      expect(a.member.members()[0]!.id).toBe(b.member.id)
    })

    it('learns a third member from another member’s heartbeat, not only from its seeds', async () => {
      const a = await node()
      const b = await node(seed(a))
      await joined(a.member, 1)
      const c = await node(seed(a))
      await joined(c.member, 2)
      await joined(b.member, 2)
      c.source.pending.push(delta('p||carol'))
      await waitUntil(() => a.sink.received.length === 1 && b.sink.received.length === 1, {
        timeoutMs: 500,
        intervalMs: 10,
      })
      expect(a.member.stats.members).toBe(2)
    })

    it('finds the workers of its own host on consecutive loopback ports without seeds', async () => {
      const base = await consecutivePorts(3)
      const nodes = await Promise.all(
        [0, 1, 2].map((index) => node({ port: base, index, localPeers: 3 })),
      )
      expect(nodes.map((n) => n.port)).toEqual([base, base + 1, base + 2])
      for (const n of nodes) await joined(n.member, 2)
      nodes[1]!.source.pending.push(delta('p||w1', 5))
      await waitUntil(
        () => nodes[0]!.sink.received.length === 1 && nodes[2]!.sink.received.length === 1,
        { timeoutMs: 500, intervalMs: 10 },
      )
    })

    it('splits a big batch into datagrams within max_datagram and delivers all of it', async () => {
      const a = await node({ maxDatagramBytes: 600 })
      const b = await node({ ...seed(a), maxDatagramBytes: 600 })
      await joined(a.member, 1)
      await joined(b.member, 1)
      const batch = Array.from({ length: 500 }, (_, i) => delta(`per-tier|pro|consumer-${i}`, i))
      const sentBefore = b.member.stats.sent
      b.source.pending.push(...batch)
      await waitUntil(() => a.sink.received.length === 500, { timeoutMs: 1000, intervalMs: 10 })
      expect(a.sink.received).toEqual(batch)
      expect(b.member.stats.sent - sentBefore).toBeGreaterThan(20)
      expect(a.member.stats.dropped.too_large).toBe(0)
    })
  })

  describe('when members stop and restart', () => {
    it('drops a silent member after member_timeout and stops sending to it', async () => {
      const a = await node()
      const b = await node(seed(a))
      await joined(a.member, 1)
      const stoppedAt = Date.now()
      await b.member.close()
      await joined(a.member, 0)
      expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(250)
      expect(a.member.stats.members).toBe(0)
      const sent = a.member.stats.sent
      a.source.pending.push(delta('p||nobody'))
      await sleep(60)
      expect(a.member.stats.sent).toBe(sent)
    })

    it('accepts a member restarted on the same address with a new sender id', async () => {
      const a = await node()
      const b = await node(seed(a))
      await joined(a.member, 1)
      const oldId = b.member.id
      await b.member.close()
      const b2 = await node({ ...seed(a), port: b.port })
      expect(b2.member.id).not.toBe(oldId)
      await waitUntil(() => a.member.members()[0]?.id === b2.member.id, {
        timeoutMs: 500,
        intervalMs: 10,
      })
      expect(a.member.members()).toHaveLength(1)
      await joined(b2.member, 1)
      b2.source.pending.push(delta('p||again'))
      await waitUntil(() => a.sink.received.length === 1, { timeoutMs: 500, intervalMs: 10 })
    })
  })

  describe('when datagrams are hostile', () => {
    it('drops a datagram signed with another key and counts it as bad_mac', async () => {
      const a = await node()
      const raw = await rawSocket()
      const forger = new GossipCodec({
        secret: Buffer.from('not-the-gossip-secret-but-32-bytes'),
        maxDatagramBytes: 1200,
        port: raw.port,
      })
      await send(
        raw.socket,
        forger.encodeDeltas([delta('p||x', 1000)], Date.now()).datagrams[0]!,
        a.port,
      )
      await waitUntil(() => a.member.stats.dropped.bad_mac === 1, { timeoutMs: 500, intervalMs: 5 })
      expect(a.sink.received).toEqual([])
      expect(a.member.members()).toEqual([])
    })

    it('drops a captured datagram re-sent by a third party as a replay', async () => {
      const a = await node()
      const b = await node(seed(a))
      await joined(b.member, 1)
      // The raw socket signs one heartbeat, so a counts it as a member and sends it deltas too.
      const raw = await rawSocket()
      const spy = new GossipCodec({ secret: SECRET, maxDatagramBytes: 1200, port: raw.port })
      await send(raw.socket, spy.encodeHeartbeat([], Date.now())[0]!, a.port)
      await joined(a.member, 2)
      a.source.pending.push(delta('p||alice', 7))
      await waitUntil(() => b.sink.received.length === 1, { timeoutMs: 500, intervalMs: 5 })
      const captured = await waitUntil(
        () => raw.received.find((d) => spy.decode(d).ok && isDeltas(spy, d)),
        { timeoutMs: 500, intervalMs: 5 },
      )
      await send(raw.socket, captured, b.port)
      await waitUntil(() => b.member.stats.dropped.replay === 1, { timeoutMs: 500, intervalMs: 5 })
      expect(b.sink.received).toEqual([delta('p||alice', 7)])
    })

    it('drops an unsigned datagram sent to a member with a secret', async () => {
      const a = await node()
      const raw = await rawSocket()
      const unsigned = new GossipCodec({ secret: null, maxDatagramBytes: 1200, port: raw.port })
      await send(
        raw.socket,
        unsigned.encodeDeltas([delta('p||x')], Date.now()).datagrams[0]!,
        a.port,
      )
      await waitUntil(() => a.member.stats.dropped.unsigned === 1, {
        timeoutMs: 500,
        intervalMs: 5,
      })
      expect(a.sink.received).toEqual([])
    })

    it('drops a correctly signed datagram whose timestamp is far from this clock as stale', async () => {
      const a = await node()
      const raw = await rawSocket()
      const old = new GossipCodec({ secret: SECRET, maxDatagramBytes: 1200, port: raw.port })
      const datagram = old.encodeDeltas([delta('p||x')], Date.now() - 60_000).datagrams[0]!
      await send(raw.socket, datagram, a.port)
      await waitUntil(() => a.member.stats.dropped.stale === 1, { timeoutMs: 500, intervalMs: 5 })
      expect(a.sink.received).toEqual([])
    })

    it('drops truncated, garbage and oversized datagrams and counts each', async () => {
      const signed = await node()
      const open = await node({ secret: null })
      const raw = await rawSocket()
      const unsigned = new GossipCodec({ secret: null, maxDatagramBytes: 1200, port: raw.port })
      const whole = unsigned.encodeDeltas([delta('p||x')], Date.now()).datagrams[0]!
      await send(raw.socket, Buffer.from('garbage'), signed.port)
      await send(raw.socket, whole.subarray(0, whole.length - 3), open.port)
      await send(
        raw.socket,
        Buffer.concat([whole.subarray(0, 24), Buffer.from([0xc1, 0xc1])]),
        open.port,
      )
      await send(raw.socket, Buffer.alloc(1500, 1), signed.port)
      await waitUntil(
        () =>
          signed.member.stats.dropped.malformed === 1 &&
          open.member.stats.dropped.malformed === 2 &&
          signed.member.stats.dropped.too_large === 1,
        { timeoutMs: 500, intervalMs: 5 },
      )
      expect(signed.sink.received).toEqual([])
      expect(open.sink.received).toEqual([])
      expect(signed.member.stats.received).toBe(0)
    })
  })

  describe('when configured', () => {
    it('refuses to bind a non-loopback address without a secret', () => {
      const create = () =>
        new GossipMember(
          options({ bind: '0.0.0.0', secret: null }),
          new FakeSink(),
          new FakeSource(),
          silent,
        )
      expect(create).toThrow(PortcullisError)
      expect(create).toThrow(/gossip\.bind.*requires gossip\.secret/)
    })
  })
})

describe('gossip config', () => {
  const defaults: GossipConfig = {
    port: 7946,
    bind: '127.0.0.1',
    seeds: [],
    interval: '50ms',
    member_timeout: '2s',
    exact_up_to: 100,
    borrow_timeout: '2ms',
    max_datagram: 1200,
  }

  function compile(overrides: Partial<GossipConfig>) {
    const problems: ConfigProblem[] = []
    return { settings: compileGossip({ ...defaults, ...overrides }, problems), problems }
  }

  it('fills every default from an empty section and refuses unknown keys and short secrets', () => {
    const validate = createValidator(GossipSchema)
    expect(validate({})).toEqual(defaults)
    expect(() => validate({ ports: 1 })).toThrow(/ports/)
    expect(() => validate({ secret: 'short' })).toThrow(/secret/)
    expect(() => validate({ bind: 'localhost' })).toThrow(/bind/)
  })

  it('compiles the defaults into milliseconds and bytes', () => {
    expect(compile({}).settings).toEqual({
      bind: '127.0.0.1',
      port: 7946,
      seeds: [],
      secret: null,
      intervalMs: 50,
      memberTimeoutMs: 2000,
      maxDatagramBytes: 1200,
      exactUpTo: 100,
      borrowTimeoutMs: 2,
    })
  })

  it('names gossip.bind when a non-loopback bind has no secret', () => {
    expect(compile({ bind: '0.0.0.0' }).problems).toEqual([
      { path: 'gossip.bind', reason: expect.stringMatching(/requires gossip\.secret/) },
    ])
    expect(compile({ bind: '0.0.0.0', secret: SECRET.toString() }).problems).toEqual([])
  })

  it('names a seed on another host that a loopback bind cannot reach', () => {
    const { problems } = compile({ seeds: ['127.0.0.1:7946', '10.0.0.6:7946'] })
    expect(problems.map((p) => p.path)).toEqual(['gossip.seeds[1]'])
  })

  it('names member_timeout shorter than four intervals and max_datagram out of bounds', () => {
    const { problems } = compile({ member_timeout: '100ms', max_datagram: '64KiB' })
    expect(problems.map((p) => p.path)).toEqual(['gossip.member_timeout', 'gossip.max_datagram'])
  })
})

describe('replay window', () => {
  it('accepts each sequence once, in any order within the window', () => {
    const window = new ReplayWindow()
    expect([5, 3, 4, 3, 5, 10, 4, 9].map((s) => window.accept(s))).toEqual([
      true,
      true,
      true,
      false,
      false,
      true,
      false,
      true,
    ])
  })

  it('refuses sequences that fell out of the window', () => {
    const window = new ReplayWindow()
    expect(window.accept(1)).toBe(true)
    expect(window.accept(1 + REPLAY_WINDOW + 10)).toBe(true)
    expect(window.accept(2)).toBe(false)
    expect(window.accept(1 + REPLAY_WINDOW + 10 - (REPLAY_WINDOW - 1))).toBe(true)
  })
})

function isDeltas(codec: GossipCodec, datagram: Buffer): boolean {
  const result = codec.decode(datagram)
  return result.ok && result.message.body.kind === 'deltas'
}
