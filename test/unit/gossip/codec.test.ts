import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  GOSSIP_VERSION,
  GossipCodec,
  HEADER_BYTES,
  MAC_BYTES,
  type GossipCodecOptions,
} from '../../../src/gossip/codec.js'
import type { ConsumptionDelta } from '../../../src/gossip/types.js'

const SECRET = Buffer.from('a-gossip-secret-of-at-least-32-bytes!')
const NOW = 1_760_000_000_000

function codec(overrides: Partial<GossipCodecOptions> = {}): GossipCodec {
  return new GossipCodec({ secret: SECRET, maxDatagramBytes: 1200, port: 7946, ...overrides })
}

function deltas(n: number, name = 'per-tier|pro|consumer-'): ConsumptionDelta[] {
  return Array.from({ length: n }, (_, i) => ({
    counter: `${name}${i}`,
    window: i % 2 === 0 ? 0 : NOW - (NOW % 60_000),
    count: i + 1,
  }))
}

function decodeOk(receiver: GossipCodec, datagram: Buffer) {
  const result = receiver.decode(datagram)
  if (!result.ok) throw new Error(`refused: ${result.reason}`)
  return result.message
}

describe('gossip codec', () => {
  describe('when encoding deltas', () => {
    it('round-trips sender, port, sequence, timestamp and every delta', () => {
      const sender = codec({ port: 7950 })
      const { datagrams, skipped } = sender.encodeDeltas(deltas(3), NOW)
      expect(skipped).toBe(0)
      expect(datagrams).toHaveLength(1)
      const message = decodeOk(codec(), datagrams[0]!)
      expect(message).toEqual({
        sender: sender.senderId,
        port: 7950,
        sequence: 0,
        timestamp: NOW,
        signed: true,
        body: { kind: 'deltas', deltas: deltas(3) },
      })
    })

    it('writes a 24-byte header, the body and a 32-byte MAC', () => {
      const datagram = codec().encodeDeltas(deltas(1), NOW).datagrams[0]!
      expect(datagram[0]).toBe(GOSSIP_VERSION)
      expect(datagram[1]).toBe(1)
      const unsigned = codec({ secret: null }).encodeDeltas(deltas(1), NOW).datagrams[0]!
      expect(unsigned[1]).toBe(0)
      expect(datagram.length - unsigned.length).toBe(MAC_BYTES)
      expect(unsigned.length).toBeGreaterThan(HEADER_BYTES)
    })

    it('numbers each datagram with the next sequence', () => {
      const sender = codec()
      const receiver = codec()
      const first = sender.encodeDeltas(deltas(1), NOW).datagrams[0]!
      const second = sender.encodeDeltas(deltas(1), NOW).datagrams[0]!
      expect(decodeOk(receiver, first).sequence).toBe(0)
      expect(decodeOk(receiver, second).sequence).toBe(1)
      expect(sender.sequence).toBe(2)
    })

    it('splits a big batch into datagrams within max_datagram that carry every delta in order', () => {
      const batch = deltas(400)
      const sender = codec({ maxDatagramBytes: 512 })
      const { datagrams } = sender.encodeDeltas(batch, NOW)
      expect(datagrams.length).toBeGreaterThan(10)
      for (const datagram of datagrams) expect(datagram.length).toBeLessThanOrEqual(512)
      const receiver = codec({ maxDatagramBytes: 512 })
      const received = datagrams.flatMap((d) => {
        const body = decodeOk(receiver, d).body
        return body.kind === 'deltas' ? body.deltas : []
      })
      expect(received).toEqual(batch)
    })

    it('skips a delta whose counter name alone exceeds a datagram and sends the rest', () => {
      const batch = [...deltas(2), { counter: 'x'.repeat(2000), window: 0, count: 1 }]
      const { datagrams, skipped } = codec().encodeDeltas(batch, NOW)
      expect(skipped).toBe(1)
      const body = decodeOk(codec(), datagrams[0]!).body
      expect(body).toEqual({ kind: 'deltas', deltas: deltas(2) })
    })

    it('sends nothing for an empty batch', () => {
      expect(codec().encodeDeltas([], NOW).datagrams).toEqual([])
    })

    it('keeps non-ASCII counter names and fractional counts', () => {
      const batch = [{ counter: 'policy||ключ-🔑', window: 0, count: 0.25 }]
      const body = decodeOk(codec(), codec().encodeDeltas(batch, NOW).datagrams[0]!).body
      expect(body).toEqual({ kind: 'deltas', deltas: batch })
    })
  })

  describe('when encoding heartbeats', () => {
    it('round-trips the member list', () => {
      const members = [
        { id: '0123456789abcdef', host: '127.0.0.1', port: 7947 },
        { id: 'fedcba9876543210', host: '10.0.0.6', port: 7946 },
      ]
      const datagrams = codec().encodeHeartbeat(members, NOW)
      expect(datagrams).toHaveLength(1)
      expect(decodeOk(codec(), datagrams[0]!).body).toEqual({ kind: 'heartbeat', members })
    })

    it('sends one heartbeat even with no members to list', () => {
      const datagrams = codec().encodeHeartbeat([], NOW)
      expect(datagrams).toHaveLength(1)
      expect(decodeOk(codec(), datagrams[0]!).body).toEqual({ kind: 'heartbeat', members: [] })
    })

    it('splits a long member list', () => {
      const members = Array.from({ length: 100 }, (_, i) => ({
        id: i.toString(16).padStart(16, '0'),
        host: `10.0.${i}.1`,
        port: 7946,
      }))
      const datagrams = codec({ maxDatagramBytes: 300 }).encodeHeartbeat(members, NOW)
      expect(datagrams.length).toBeGreaterThan(1)
      const receiver = codec({ maxDatagramBytes: 300 })
      const listed = datagrams.flatMap((d) => {
        const body = decodeOk(receiver, d).body
        return body.kind === 'heartbeat' ? body.members : []
      })
      expect(listed).toEqual(members)
    })
  })

  describe('when decoding', () => {
    const signed = () => codec().encodeDeltas(deltas(2), NOW).datagrams[0]!

    it('refuses a datagram signed with another key as bad_mac', () => {
      const forged = codec({ secret: Buffer.from('another-secret-that-is-32-bytes-long') })
      const datagram = forged.encodeDeltas(deltas(1), NOW).datagrams[0]!
      expect(codec().decode(datagram)).toEqual({ ok: false, reason: 'bad_mac' })
    })

    it('refuses a datagram with one flipped bit as bad_mac', () => {
      const datagram = signed()
      datagram[HEADER_BYTES + 3]! ^= 0x01
      expect(codec().decode(datagram)).toEqual({ ok: false, reason: 'bad_mac' })
    })

    it('refuses an unsigned datagram when it has a secret', () => {
      const datagram = codec({ secret: null }).encodeDeltas(deltas(1), NOW).datagrams[0]!
      expect(codec().decode(datagram)).toEqual({ ok: false, reason: 'unsigned' })
    })

    it('refuses a signed datagram when it has no secret to check it with', () => {
      expect(codec({ secret: null }).decode(signed())).toEqual({ ok: false, reason: 'bad_mac' })
    })

    it('refuses a datagram over max_datagram as too_large before reading it', () => {
      expect(codec().decode(Buffer.alloc(1201, 1))).toEqual({ ok: false, reason: 'too_large' })
    })

    it('refuses another version as unknown_version', () => {
      const datagram = signed()
      datagram[0] = 2
      expect(codec().decode(datagram)).toEqual({ ok: false, reason: 'unknown_version' })
    })

    it('refuses truncated and unknown-flag datagrams as malformed', () => {
      const receiver = codec({ secret: null })
      const datagram = codec({ secret: null }).encodeDeltas(deltas(3), NOW).datagrams[0]!
      expect(receiver.decode(datagram.subarray(0, 10))).toEqual({ ok: false, reason: 'malformed' })
      expect(receiver.decode(datagram.subarray(0, datagram.length - 4))).toEqual({
        ok: false,
        reason: 'malformed',
      })
      const flagged = Buffer.from(datagram)
      flagged[1] = 0x80
      expect(receiver.decode(flagged)).toEqual({ ok: false, reason: 'malformed' })
    })

    it('refuses well-formed msgpack of the wrong shape as malformed', () => {
      const receiver = codec({ secret: null })
      const header = codec({ secret: null }).encodeHeartbeat([], NOW)[0]!.subarray(0, HEADER_BYTES)
      const bodies = [
        [0xc0], // nil
        [0x92, 0x01, 0xa1], // [1, <truncated string>]
        [0x94, 0x01, 0xa1, 0x61, 0x01, 0xa1], // deltas with a string count
        [0x94, 0x01, 0xa0, 0x00, 0x01], // empty counter name
        [0x94, 0x01, 0xa1, 0x61, 0xff, 0x01], // negative window
        [0x91, 0x07], // unknown kind
      ]
      for (const body of bodies) {
        const datagram = Buffer.concat([header, Buffer.from(body)])
        expect(receiver.decode(datagram)).toEqual({ ok: false, reason: 'malformed' })
      }
    })

    it('never throws on random bytes', () => {
      const receivers = [codec(), codec({ secret: null })]
      for (let i = 0; i < 2000; i++) {
        const datagram = randomBytes(1 + (i % 300))
        if (i % 2 === 0) datagram[0] = GOSSIP_VERSION
        if (i % 4 === 0) datagram[1] = 0
        for (const receiver of receivers) {
          const result = receiver.decode(datagram)
          if (result.ok) expect(['deltas', 'heartbeat']).toContain(result.message.body.kind)
        }
      }
    })
  })
})
