/**
 * The HMAC chain of an audit file (`log.audit_chain_key`): each line ends with its place in its
 * writer's chain and a MAC over the line and the MAC of the line before, so an edited, inserted,
 * removed or reordered line breaks the chain at that line (docs/audit.md).
 *
 * Each writing process keeps its own chain, named by `chain` (`<worker index>.<pid>`), numbered
 * from 0 by `seq`: workers append to one file without coordinating, and the verifier follows
 * every chain through the file on its own.
 *
 * A line's MAC: HMAC-SHA256(key, <MAC of the chain's line before, '' for seq 0> + "\n" + <the line
 * up to, not including, `,"mac":`>), lowercase hex.
 */
import { createHmac } from 'node:crypto'

/** What ends a chained line; its MAC covers everything before `,"mac":`. */
const TAIL = /,"chain":"([^"\\]+)","seq":(\d+),"mac":"([0-9a-f]{64})"\}$/

export function chainMac(key: string, previous: string, content: string): string {
  return createHmac('sha256', key).update(previous).update('\n').update(content).digest('hex')
}

/** Appends chain fields to pino's lines before they reach the destination. */
export class AuditChain {
  readonly #key: string
  readonly #chain: string
  #seq = 0
  #previous = ''

  constructor(key: string, chain: string) {
    this.#key = key
    this.#chain = JSON.stringify(chain)
  }

  /** `line` is one serialized JSON object with its newline, as pino writes it. */
  seal(line: string): string {
    const end = line.endsWith('}\n') ? line.length - 2 : line.lastIndexOf('}')
    const content = `${line.slice(0, end)},"chain":${this.#chain},"seq":${this.#seq++}`
    const mac = chainMac(this.#key, this.#previous, content)
    this.#previous = mac
    return `${content},"mac":"${mac}"}\n`
  }
}

export interface ChainProblem {
  /** 1-based line number in the file. */
  readonly line: number
  readonly reason: string
}

export interface ChainReport {
  readonly lines: number
  readonly chains: number
  /** The first line that breaks a chain; null when every chain holds. */
  readonly problem: ChainProblem | null
}

/**
 * Follows every chain through `text`. A chain must start at seq 0, count up by one, and each MAC
 * must match; the first line that does not is reported. Lines that are not audit lines are
 * refused too: an audit file holds only audit lines.
 */
export function verifyChain(text: string, key: string): ChainReport {
  const chains = new Map<string, { seq: number; mac: string }>()
  const rows = text.split('\n')
  if (rows.at(-1) === '') rows.pop()
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!
    const fail = (reason: string): ChainReport => ({
      lines: rows.length,
      chains: chains.size,
      problem: { line: i + 1, reason },
    })
    const tail = TAIL.exec(row)
    if (tail === null) return fail('no chain fields (chain, seq, mac) at the end of the line')
    const [, chain, seqText, mac] = tail as unknown as [string, string, string, string]
    const seq = Number(seqText)
    const state = chains.get(chain)
    const expected = state === undefined ? 0 : state.seq + 1
    if (seq !== expected) {
      return fail(
        state === undefined
          ? `chain ${chain} starts at seq ${seq}, not 0: its earlier lines are missing`
          : `chain ${chain} jumps from seq ${state.seq} to ${seq}: lines are missing or reordered`,
      )
    }
    const content = row.slice(0, row.length - tail[0].length + tail[0].indexOf(',"mac":'))
    if (chainMac(key, state?.mac ?? '', content) !== mac) {
      return fail(`the MAC does not match: the line was changed, or the key is not the writer's`)
    }
    chains.set(chain, { seq, mac })
  }
  return { lines: rows.length, chains: chains.size, problem: null }
}
