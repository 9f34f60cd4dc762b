/**
 * RFC 6455 §5 framing for the one leg where the gateway is a WebSocket client: the uws front
 * relays messages, so it speaks frames with the upstream itself (the node front splices bytes
 * and never parses a frame). As a client the gateway masks what it sends (§5.3) and refuses
 * masked frames (§5.1). It offers no extension, so a set RSV bit is always a protocol error.
 *
 * The decoder is a push parser over the socket's chunks: a frame's payload is a view of the
 * chunk when the chunk holds it whole, one copy otherwise; a fragmented message is joined once,
 * at its last fragment. Every size is checked against the message limit before it is buffered.
 */
import { isUtf8 } from 'node:buffer'
import { randomFillSync } from 'node:crypto'

export const Opcode = {
  Continuation: 0,
  Text: 1,
  Binary: 2,
  Close: 8,
  Ping: 9,
  Pong: 10,
} as const

/** RFC 6455 §7.4.1 and the IANA registry; 1005 and 1006 are never sent (§7.4.1). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidData: 1007,
  PolicyViolation: 1008,
  TooBig: 1009,
  InternalError: 1011,
  TryAgainLater: 1013,
} as const

/** What the decoder reports; a payload is valid only during the call, like a socket chunk. */
export interface FrameSink {
  onMessage(payload: Buffer, binary: boolean): void
  onPing(payload: Buffer): void
  /** The peer's close frame (§5.5.1); 1005 when it carried no code. Nothing is parsed after it. */
  onClose(code: number, reason: string): void
  /** The peer broke the protocol: close with `code`. Nothing is parsed after it. */
  onProtocolError(code: number, reason: string): void
}

const EMPTY = Buffer.alloc(0)

/** §7.4.2: codes a close frame may carry (1004-1006 and 1015 are reserved, never on the wire). */
export function isSendableCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  )
}

export class FrameDecoder {
  readonly #sink: FrameSink
  readonly #maxMessageBytes: number
  /** Frame head: 2 bytes, then 2 or 8 of extended length (§5.2); servers send no mask key. */
  readonly #head = Buffer.allocUnsafe(10)
  #headBytes = 0
  #headNeed = 2
  #inPayload = false
  #opcode = 0
  #fin = false
  #length = 0
  #payload: Buffer | null = null
  #filled = 0
  /** Opcode of the fragmented message in progress, 0 when none (§5.4). */
  #messageOpcode = 0
  #fragments: Buffer[] = []
  #fragmentBytes = 0
  #stopped = false

  constructor(sink: FrameSink, maxMessageBytes: number) {
    this.#sink = sink
    this.#maxMessageBytes = maxMessageBytes
  }

  push(chunk: Buffer): void {
    const end = chunk.length
    let at = 0
    while (at < end && !this.#stopped) {
      if (!this.#inPayload) {
        const take = Math.min(this.#headNeed - this.#headBytes, end - at)
        chunk.copy(this.#head, this.#headBytes, at, at + take)
        this.#headBytes += take
        at += take
        if (this.#headBytes === this.#headNeed) this.#onHead()
        continue
      }
      const want = this.#length - this.#filled
      if (this.#filled === 0 && end - at >= want) {
        // The chunk holds the whole payload: no copy.
        const payload = chunk.subarray(at, at + want)
        at += want
        this.#onFrame(payload)
        continue
      }
      const payload = (this.#payload ??= Buffer.allocUnsafe(this.#length))
      const take = Math.min(want, end - at)
      chunk.copy(payload, this.#filled, at, at + take)
      this.#filled += take
      at += take
      if (this.#filled === this.#length) this.#onFrame(payload)
    }
  }

  #onHead(): void {
    const head = this.#head
    if (this.#headNeed === 2) {
      const b0 = head[0]!
      const b1 = head[1]!
      if (b0 & 0x70) return this.#fail(CloseCode.ProtocolError, 'RSV bit without an extension')
      if (b1 & 0x80) return this.#fail(CloseCode.ProtocolError, 'masked frame from the server')
      const opcode = b0 & 0x0f
      const fin = (b0 & 0x80) !== 0
      const length = b1 & 0x7f
      if (opcode >= 8) {
        if (opcode > Opcode.Pong) return this.#fail(CloseCode.ProtocolError, 'unknown opcode')
        // §5.5: control frames are never fragmented and carry at most 125 bytes.
        if (!fin || length > 125) return this.#fail(CloseCode.ProtocolError, 'bad control frame')
      } else if (opcode === Opcode.Continuation) {
        if (this.#messageOpcode === 0) {
          return this.#fail(CloseCode.ProtocolError, 'continuation without a message')
        }
      } else if (opcode <= Opcode.Binary) {
        if (this.#messageOpcode !== 0) {
          return this.#fail(CloseCode.ProtocolError, 'new message inside a fragmented one')
        }
      } else {
        return this.#fail(CloseCode.ProtocolError, 'unknown opcode')
      }
      this.#opcode = opcode
      this.#fin = fin
      if (length === 126) this.#headNeed = 4
      else if (length === 127) this.#headNeed = 10
      else this.#startPayload(length)
      return
    }
    if (this.#headNeed === 4) return this.#startPayload(head.readUInt16BE(2))
    // A 64-bit length (§5.2); anything from 2^32 on is far over every message limit.
    if (head.readUInt32BE(2) !== 0) return this.#fail(CloseCode.TooBig, 'message too big')
    this.#startPayload(head.readUInt32BE(6))
  }

  #startPayload(length: number): void {
    this.#headBytes = 0
    this.#headNeed = 2
    if (this.#opcode < 8 && this.#fragmentBytes + length > this.#maxMessageBytes) {
      return this.#fail(CloseCode.TooBig, 'message too big')
    }
    if (length === 0) return this.#onFrame(EMPTY)
    this.#inPayload = true
    this.#length = length
    this.#filled = 0
    this.#payload = null
  }

  #onFrame(payload: Buffer): void {
    this.#inPayload = false
    this.#payload = null
    switch (this.#opcode) {
      case Opcode.Text:
      case Opcode.Binary:
        if (this.#fin) return this.#deliver(payload, this.#opcode)
        this.#messageOpcode = this.#opcode
        // The view of a socket chunk must outlive this call now: copy it.
        this.#fragments.push(Buffer.from(payload))
        this.#fragmentBytes = payload.length
        return
      case Opcode.Continuation: {
        this.#fragments.push(this.#fin ? payload : Buffer.from(payload))
        this.#fragmentBytes += payload.length
        if (!this.#fin) return
        const message = Buffer.concat(this.#fragments, this.#fragmentBytes)
        const opcode = this.#messageOpcode
        this.#fragments = []
        this.#fragmentBytes = 0
        this.#messageOpcode = 0
        return this.#deliver(message, opcode)
      }
      case Opcode.Close:
        return this.#onClose(payload)
      case Opcode.Ping:
        return this.#sink.onPing(payload)
      default:
      // A pong answers a ping the gateway never sends: nothing to do (§5.5.3).
    }
  }

  #deliver(payload: Buffer, opcode: number): void {
    // §8.1: a text message that is not UTF-8 fails the connection with 1007.
    if (opcode === Opcode.Text && !isUtf8(payload)) {
      return this.#fail(CloseCode.InvalidData, 'text message is not UTF-8')
    }
    this.#sink.onMessage(payload, opcode === Opcode.Binary)
  }

  #onClose(payload: Buffer): void {
    if (payload.length === 0) {
      this.#stopped = true
      return this.#sink.onClose(CloseCode.NoStatus, '')
    }
    const code = payload.length >= 2 ? payload.readUInt16BE(0) : 0
    if (!isSendableCloseCode(code)) return this.#fail(CloseCode.ProtocolError, 'bad close code')
    const reason = payload.subarray(2)
    if (!isUtf8(reason)) return this.#fail(CloseCode.InvalidData, 'close reason is not UTF-8')
    this.#stopped = true
    this.#sink.onClose(code, reason.toString('utf8'))
  }

  #fail(code: number, reason: string): void {
    this.#stopped = true
    this.#fragments = []
    this.#payload = null
    this.#sink.onProtocolError(code, reason)
  }
}

/** Mask keys come from one random block refilled when used up: one syscall per 2048 frames. */
const maskPool = Buffer.allocUnsafe(8192)
let maskOffset = maskPool.length

/** One whole (FIN) frame, masked as a client must (§5.3). */
export function encodeFrame(opcode: number, payload: Uint8Array): Buffer {
  const length = payload.length
  const headLength = length < 126 ? 2 : length < 65536 ? 4 : 10
  const frame = Buffer.allocUnsafe(headLength + 4 + length)
  frame[0] = 0x80 | opcode
  if (length < 126) frame[1] = 0x80 | length
  else if (length < 65536) {
    frame[1] = 0x80 | 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 0x80 | 127
    frame.writeUInt32BE(Math.floor(length / 0x100000000), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  if (maskOffset === maskPool.length) {
    randomFillSync(maskPool)
    maskOffset = 0
  }
  maskPool.copy(frame, headLength, maskOffset, maskOffset + 4)
  maskOffset += 4
  const m0 = frame[headLength]!
  const m1 = frame[headLength + 1]!
  const m2 = frame[headLength + 2]!
  const m3 = frame[headLength + 3]!
  let out = headLength + 4
  let i = 0
  for (const end4 = length - 3; i < end4; i += 4) {
    frame[out++] = payload[i]! ^ m0
    frame[out++] = payload[i + 1]! ^ m1
    frame[out++] = payload[i + 2]! ^ m2
    frame[out++] = payload[i + 3]! ^ m3
  }
  for (; i < length; i++) frame[out++] = payload[i]! ^ frame[headLength + (i & 3)]!
  return frame
}

/** A close frame (§5.5.1): no payload for 1005, else the code and a reason of at most 123 bytes. */
export function encodeClose(code: number, reason: string): Buffer {
  if (!isSendableCloseCode(code)) return encodeFrame(Opcode.Close, EMPTY)
  const text = Buffer.from(reason, 'utf8')
  const payload = Buffer.allocUnsafe(2 + Math.min(text.length, 123))
  payload.writeUInt16BE(code, 0)
  text.copy(payload, 2, 0, payload.length - 2)
  return encodeFrame(Opcode.Close, payload)
}
