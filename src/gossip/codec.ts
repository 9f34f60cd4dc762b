/**
 * The gossip datagram: a fixed header, a msgpack body, and an HMAC-SHA256 when a secret is set.
 *
 * ```
 * offset  bytes  field
 *  0      1      version (1)
 *  1      1      flags: bit 0 = signed (a 32-byte MAC ends the datagram)
 *  2      8      sender id: random per process start, so a restart is a new sender
 * 10      2      sender port: where the sender listens (and sends from)
 * 12      6      sequence: per sender, +1 per datagram built (48 bits: ~9 years at 1M/s)
 * 18      6      timestamp: sender's clock, ms since the epoch
 * 24      …      body, msgpack: [1, counter, window, count, counter, window, count, …] (deltas)
 *                            or [2, id, host, port, id, host, port, …] (heartbeat: live members)
 *                            or [3, request id, counter, need, worker index] (borrow: budget
 *                               asked of this host's other workers, limits held exactly)
 *                            or [4, request id, counter, granted, left] (grant: the answer)
 * end-32  32     HMAC-SHA256(secret, every byte before it), when signed
 * ```
 *
 * Bodies are arrays, not maps, so a delta costs its counter name plus a few bytes. Decoding never
 * throws: it returns the message or why the datagram was refused.
 */
import {
  createHmac,
  createSecretKey,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto'
import { Packr, Unpackr } from 'msgpackr'
import type { ConsumptionDelta } from './types.js'

export const GOSSIP_VERSION = 1
export const HEADER_BYTES = 24
export const MAC_BYTES = 32
/** A header, a MAC and one delta with a 150-byte counter name must fit. */
export const MIN_DATAGRAM_BYTES = 256
/** The largest UDP payload over IPv4: 65535 less the IP (20) and UDP (8) headers. */
export const MAX_DATAGRAM_BYTES = 65_507

const FLAG_SIGNED = 0x01
const KIND_DELTAS = 1
const KIND_HEARTBEAT = 2
const KIND_BORROW = 3
const KIND_GRANT = 4
const SENDER_ID_BYTES = 8
const MAX_U48 = 2 ** 48 - 1
// Upper bounds of msgpack encodings, so a batch is split without encoding it twice: an array
// header (array32), a string header (str32), a number (float64 or uint64).
const ARRAY_HEADER_MAX = 5
const STRING_HEADER_MAX = 5
const NUMBER_MAX = 9
const KIND_MAX = 1

// Plain msgpack: records would make a datagram depend on structures sent in an earlier one.
const packr = new Packr({ useRecords: false })
const unpackr = new Unpackr({ useRecords: false })

/** A member as heartbeats list it: its sender id (hex) and where it listens. */
export interface MemberAddress {
  readonly id: string
  readonly host: string
  readonly port: number
}

export type GossipBody =
  | { readonly kind: 'deltas'; readonly deltas: ConsumptionDelta[] }
  | { readonly kind: 'heartbeat'; readonly members: MemberAddress[] }
  | {
      readonly kind: 'borrow'
      readonly id: number
      readonly counter: string
      readonly need: number
      /** The asking worker's index on the host. */
      readonly from: number
    }
  | {
      readonly kind: 'grant'
      readonly id: number
      readonly counter: string
      readonly amount: number
      readonly left: number
    }

export interface GossipMessage {
  /** Sender id, 16 hex digits. */
  readonly sender: string
  readonly port: number
  readonly sequence: number
  readonly timestamp: number
  readonly signed: boolean
  readonly body: GossipBody
}

export type DecodeFailure = 'malformed' | 'bad_mac' | 'unsigned' | 'too_large' | 'unknown_version'

export type DecodeResult =
  | { readonly ok: true; readonly message: GossipMessage }
  | { readonly ok: false; readonly reason: DecodeFailure }

export interface GossipCodecOptions {
  /** HMAC key; null sends unsigned and refuses signed datagrams (they cannot be checked). */
  readonly secret: Buffer | null
  readonly maxDatagramBytes: number
  /** The port written in every header. */
  readonly port: number
  /** 8 bytes; random by default. */
  readonly senderId?: Buffer
}

export interface EncodedDeltas {
  readonly datagrams: Buffer[]
  /** Deltas whose counter name alone does not fit in a datagram: not sent. */
  readonly skipped: number
}

/** Encodes this process's datagrams (its sender id and sequence) and decodes everyone's. */
export class GossipCodec {
  /** This sender's id, 16 hex digits. */
  readonly senderId: string
  readonly #senderId: Buffer
  readonly #key: KeyObject | null
  readonly #max: number
  readonly #port: number
  #sequence = 0

  constructor(options: GossipCodecOptions) {
    this.#senderId = options.senderId ?? randomBytes(SENDER_ID_BYTES)
    if (this.#senderId.length !== SENDER_ID_BYTES) throw new RangeError('sender id must be 8 bytes')
    this.senderId = this.#senderId.toString('hex')
    this.#key = options.secret === null ? null : createSecretKey(options.secret)
    this.#max = options.maxDatagramBytes
    this.#port = options.port
  }

  /** The sequence number the next datagram gets. */
  get sequence(): number {
    return this.#sequence
  }

  /** Splits `deltas` into as few datagrams of at most maxDatagramBytes as the estimate allows. */
  encodeDeltas(deltas: readonly ConsumptionDelta[], nowMs: number): EncodedDeltas {
    const items: (string | number)[][] = []
    let skipped = 0
    const budget = this.#bodyBudget()
    const costs: number[] = []
    for (const delta of deltas) {
      const cost = STRING_HEADER_MAX + Buffer.byteLength(delta.counter) + 2 * NUMBER_MAX
      if (cost > budget) {
        skipped++
        continue
      }
      items.push([delta.counter, delta.window, delta.count])
      costs.push(cost)
    }
    return { datagrams: this.#split(KIND_DELTAS, items, costs, nowMs, false), skipped }
  }

  /** One heartbeat listing `members`, split when the list does not fit one datagram. */
  encodeHeartbeat(members: readonly MemberAddress[], nowMs: number): Buffer[] {
    const items: (string | number)[][] = []
    const costs: number[] = []
    for (const member of members) {
      items.push([member.id, member.host, member.port])
      costs.push(
        3 * STRING_HEADER_MAX + member.id.length + Buffer.byteLength(member.host) + NUMBER_MAX,
      )
    }
    return this.#split(KIND_HEARTBEAT, items, costs, nowMs, true)
  }

  /** A borrow request (one datagram: it is sent only on the rare path, one key at a time). */
  encodeBorrow(id: number, counter: string, need: number, from: number, nowMs: number): Buffer {
    return this.#seal([KIND_BORROW, id, counter, need, from], nowMs)
  }

  /** The answer to a borrow request. */
  encodeGrant(id: number, counter: string, amount: number, left: number, nowMs: number): Buffer {
    return this.#seal([KIND_GRANT, id, counter, amount, left], nowMs)
  }

  decode(datagram: Buffer): DecodeResult {
    if (datagram.length > this.#max) return FAILURES.too_large
    if (datagram.length < HEADER_BYTES + 1) return FAILURES.malformed
    if (datagram[0] !== GOSSIP_VERSION) return FAILURES.unknown_version
    const flags = datagram[1] as number
    if ((flags & ~FLAG_SIGNED) !== 0) return FAILURES.malformed
    const signed = (flags & FLAG_SIGNED) !== 0
    let end = datagram.length
    if (this.#key !== null) {
      if (!signed) return FAILURES.unsigned
      end -= MAC_BYTES
      if (end < HEADER_BYTES + 1) return FAILURES.malformed
      const expected = createHmac('sha256', this.#key).update(datagram.subarray(0, end)).digest()
      if (!timingSafeEqual(expected, datagram.subarray(end))) return FAILURES.bad_mac
    } else if (signed) {
      // Without the secret the MAC cannot be checked; accepting it anyway would make a pair with
      // one secret between them half work, silently.
      return FAILURES.bad_mac
    }
    let decoded: unknown
    try {
      decoded = unpackr.unpack(datagram.subarray(HEADER_BYTES, end))
    } catch {
      return FAILURES.malformed
    }
    const body = toBody(decoded)
    if (body === null) return FAILURES.malformed
    return {
      ok: true,
      message: {
        sender: datagram.toString('hex', 2, 2 + SENDER_ID_BYTES),
        port: datagram.readUInt16BE(10),
        sequence: datagram.readUIntBE(12, 6),
        timestamp: datagram.readUIntBE(18, 6),
        signed,
        body,
      },
    }
  }

  #bodyBudget(): number {
    return (
      this.#max - HEADER_BYTES - (this.#key === null ? 0 : MAC_BYTES) - ARRAY_HEADER_MAX - KIND_MAX
    )
  }

  #split(
    kind: number,
    items: readonly (string | number)[][],
    costs: readonly number[],
    nowMs: number,
    evenIfEmpty: boolean,
  ): Buffer[] {
    const budget = this.#bodyBudget()
    const datagrams: Buffer[] = []
    let body: (string | number)[] = [kind]
    let used = 0
    items.forEach((item, index) => {
      const cost = costs[index] as number
      if (used + cost > budget) {
        datagrams.push(this.#seal(body, nowMs))
        body = [kind]
        used = 0
      }
      body.push(...item)
      used += cost
    })
    if (body.length > 1 || (evenIfEmpty && datagrams.length === 0)) {
      datagrams.push(this.#seal(body, nowMs))
    }
    return datagrams
  }

  #seal(body: readonly (string | number)[], nowMs: number): Buffer {
    const packed = packr.pack(body)
    const unsigned = HEADER_BYTES + packed.length
    const datagram = Buffer.allocUnsafe(unsigned + (this.#key === null ? 0 : MAC_BYTES))
    datagram[0] = GOSSIP_VERSION
    datagram[1] = this.#key === null ? 0 : FLAG_SIGNED
    this.#senderId.copy(datagram, 2)
    datagram.writeUInt16BE(this.#port, 10)
    datagram.writeUIntBE(this.#sequence, 12, 6)
    datagram.writeUIntBE(Math.min(Math.max(0, Math.floor(nowMs)), MAX_U48), 18, 6)
    this.#sequence = this.#sequence === MAX_U48 ? 0 : this.#sequence + 1
    packed.copy(datagram, HEADER_BYTES)
    if (this.#key !== null) {
      createHmac('sha256', this.#key)
        .update(datagram.subarray(0, unsigned))
        .digest()
        .copy(datagram, unsigned)
    }
    return datagram
  }
}

const FAILURES: { readonly [R in DecodeFailure]: DecodeResult } = {
  malformed: Object.freeze({ ok: false, reason: 'malformed' }),
  bad_mac: Object.freeze({ ok: false, reason: 'bad_mac' }),
  unsigned: Object.freeze({ ok: false, reason: 'unsigned' }),
  too_large: Object.freeze({ ok: false, reason: 'too_large' }),
  unknown_version: Object.freeze({ ok: false, reason: 'unknown_version' }),
}

const SENDER_ID_RE = /^[0-9a-f]{16}$/

/** The body's shape, checked element by element: whoever holds the key is trusted, not its bytes. */
function toBody(value: unknown): GossipBody | null {
  if (!Array.isArray(value)) return null
  const kind: unknown = value[0]
  if (kind === KIND_BORROW || kind === KIND_GRANT) return toBudgetBody(kind, value)
  if ((value.length - 1) % 3 !== 0) return null
  if (kind === KIND_DELTAS) {
    const deltas: ConsumptionDelta[] = []
    for (let i = 1; i < value.length; i += 3) {
      const counter: unknown = value[i]
      const window: unknown = value[i + 1]
      const count: unknown = value[i + 2]
      if (typeof counter !== 'string' || counter.length === 0) return null
      if (typeof window !== 'number' || !Number.isSafeInteger(window) || window < 0) return null
      if (typeof count !== 'number' || !Number.isFinite(count)) return null
      deltas.push({ counter, window, count })
    }
    return { kind: 'deltas', deltas }
  }
  if (kind === KIND_HEARTBEAT) {
    const members: MemberAddress[] = []
    for (let i = 1; i < value.length; i += 3) {
      const id: unknown = value[i]
      const host: unknown = value[i + 1]
      const port: unknown = value[i + 2]
      if (typeof id !== 'string' || !SENDER_ID_RE.test(id)) return null
      if (typeof host !== 'string' || host.length === 0 || host.length > 253) return null
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
        return null
      }
      members.push({ id, host, port })
    }
    return { kind: 'heartbeat', members }
  }
  return null
}

function toBudgetBody(kind: number, value: readonly unknown[]): GossipBody | null {
  if (value.length !== 5) return null
  const [, id, counter, a, b] = value
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return null
  if (typeof counter !== 'string' || counter.length === 0) return null
  if (typeof a !== 'number' || !Number.isFinite(a) || a < 0) return null
  if (typeof b !== 'number' || !Number.isFinite(b) || b < 0) return null
  if (kind === KIND_BORROW) {
    if (!Number.isInteger(b)) return null
    return { kind: 'borrow', id, counter, need: a, from: b }
  }
  return { kind: 'grant', id, counter, amount: a, left: b }
}
