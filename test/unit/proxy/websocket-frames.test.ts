import { describe, expect, it } from 'vitest'
import {
  encodeClose,
  encodeFrame,
  FrameDecoder,
  type FrameSink,
} from '../../../src/proxy/websocket-frames.js'
import { closePayload, encodeFrame as serverFrame, parseFrames } from '../../helpers/websocket.js'

type Event =
  ['message', string, boolean] | ['ping', string] | ['close', number, string] | ['error', number]

/** Records what the decoder reports; payloads are copied, they live only during the call. */
function recorder(): { sink: FrameSink; events: Event[] } {
  const events: Event[] = []
  return {
    events,
    sink: {
      onMessage: (payload, binary) =>
        events.push(['message', payload.toString(binary ? 'hex' : 'utf8'), binary]),
      onPing: (payload) => events.push(['ping', payload.toString('utf8')]),
      onClose: (code, reason) => events.push(['close', code, reason]),
      onProtocolError: (code) => events.push(['error', code]),
    },
  }
}

function decode(bytes: Buffer, max = 1024 * 1024, split = 0): Event[] {
  const { sink, events } = recorder()
  const decoder = new FrameDecoder(sink, max)
  if (split === 0) decoder.push(bytes)
  else for (let i = 0; i < bytes.length; i += split) decoder.push(bytes.subarray(i, i + split))
  return events
}

/** A server frame with the FIN bit and opcode as given. */
function frame(opcode: number, payload: string | Buffer, fin = true): Buffer {
  const out = serverFrame(opcode, Buffer.from(payload), false)
  if (!fin) out[0] = out[0]! & 0x7f
  return out
}

describe('FrameDecoder (RFC 6455 §5, client side)', () => {
  it('reads text and binary messages, whatever the chunking', () => {
    const big = Buffer.alloc(70_000, 0xab)
    const bytes = Buffer.concat([
      frame(1, 'héllo'),
      frame(2, Buffer.from([1, 2, 3])),
      frame(2, big),
    ])
    const expected: Event[] = [
      ['message', 'héllo', false],
      ['message', '010203', true],
      ['message', big.toString('hex'), true],
    ]
    for (const split of [0, 1, 2, 3, 7, 125, 4096])
      expect(decode(bytes, 1 << 20, split)).toEqual(expected)
  })

  it('joins fragments, with a control frame between them (§5.4)', () => {
    const bytes = Buffer.concat([
      frame(1, 'frag', false),
      frame(9, 'mid'),
      frame(0, 'men', false),
      frame(0, 'ted'),
    ])
    for (const split of [0, 1, 5]) {
      expect(decode(bytes, 1024, split)).toEqual([
        ['ping', 'mid'],
        ['message', 'fragmented', false],
      ])
    }
  })

  it('reads close frames with and without a code (§5.5.1)', () => {
    expect(decode(frame(8, closePayload(4001, 'bye')))).toEqual([['close', 4001, 'bye']])
    expect(decode(frame(8, ''))).toEqual([['close', 1005, '']])
    // Nothing after a close is read.
    expect(decode(Buffer.concat([frame(8, closePayload(1000, '')), frame(1, 'late')]))).toEqual([
      ['close', 1000, ''],
    ])
  })

  it('fails the connection on protocol errors', () => {
    const masked = serverFrame(1, Buffer.from('x'), true)
    expect(decode(masked)).toEqual([['error', 1002]])
    const rsv = frame(1, 'x')
    rsv[0] = rsv[0]! | 0x40
    expect(decode(rsv)).toEqual([['error', 1002]])
    expect(decode(frame(3, 'x'))).toEqual([['error', 1002]])
    expect(decode(frame(0, 'x'))).toEqual([['error', 1002]])
    expect(decode(Buffer.concat([frame(1, 'a', false), frame(1, 'b')]))).toEqual([['error', 1002]])
    expect(decode(frame(9, 'x', false))).toEqual([['error', 1002]])
    expect(decode(frame(9, Buffer.alloc(126)))).toEqual([['error', 1002]])
    expect(decode(frame(8, Buffer.from([3])))).toEqual([['error', 1002]])
    expect(decode(frame(8, closePayload(1005, '')))).toEqual([['error', 1002]])
    expect(decode(frame(1, Buffer.from([0xc3, 0x28])))).toEqual([['error', 1007]])
    expect(decode(frame(8, Buffer.concat([closePayload(1000, ''), Buffer.from([0xff])])))).toEqual([
      ['error', 1007],
    ])
  })

  it('refuses messages over the limit before buffering them (1009)', () => {
    expect(decode(frame(2, Buffer.alloc(2000)), 1000, 16)).toEqual([['error', 1009]])
    expect(
      decode(
        Buffer.concat([frame(2, Buffer.alloc(600), false), frame(0, Buffer.alloc(600))]),
        1000,
      ),
    ).toEqual([['error', 1009]])
    // A 64-bit length of 2^32 or more.
    const head = Buffer.from([0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0])
    expect(decode(head)).toEqual([['error', 1009]])
  })
})

describe('encodeFrame (RFC 6455 §5.3, client side)', () => {
  it('masks every frame and keeps the payload intact, for each length form', () => {
    for (const length of [0, 1, 125, 126, 65535, 65536, 100_000]) {
      const payload = Buffer.alloc(length)
      for (let i = 0; i < length; i++) payload[i] = (i * 7) & 0xff
      const bytes = encodeFrame(2, payload)
      const { frames, used } = parseFrames(bytes, true)
      expect(used).toBe(bytes.length)
      expect(frames).toHaveLength(1)
      expect(frames[0]!.fin).toBe(true)
      expect(frames[0]!.opcode).toBe(2)
      expect(frames[0]!.payload.equals(payload)).toBe(true)
    }
  })

  it('uses a different mask key each time', () => {
    const a = encodeFrame(1, Buffer.from('same'))
    const b = encodeFrame(1, Buffer.from('same'))
    expect(a.subarray(2, 6).equals(b.subarray(2, 6))).toBe(false)
  })

  it('writes close frames, without a code for 1005', () => {
    const [withCode] = parseFrames(encodeClose(4000, 'bye'), true).frames
    expect(withCode!.payload.readUInt16BE(0)).toBe(4000)
    expect(withCode!.payload.subarray(2).toString()).toBe('bye')
    const [empty] = parseFrames(encodeClose(1005, 'ignored'), true).frames
    expect(empty!.payload.length).toBe(0)
  })
})
