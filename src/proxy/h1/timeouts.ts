/**
 * The timeouts of a connection without a timer per request: the pool checks its connections a
 * few times a second, and each compares how long its current phase (connect, wait for the
 * response head, silence in the body, idle) has lasted with that phase's limit.
 *
 * A phase's count starts at the first check after it was entered, so a timeout fires between
 * one and two check periods late and never early; a phase that makes progress (a body chunk
 * written while waiting for the head, a read in the body) starts counting again.
 */
import { errors } from 'undici'

export const T_NONE = 0
export const T_CONNECT = 1
export const T_HEADERS = 2
export const T_BODY = 3
export const T_IDLE = 4

export class PhaseClock {
  phase: number
  /** Bumped on progress. */
  progress = 0
  /** When the count started (performance.now()); -1: at the next check. */
  #since: number
  #mark = 0

  /** Starts in `phase`, counting from `since` (-1: from the next check). */
  constructor(phase: number, since: number) {
    this.phase = phase
    this.#since = since
  }

  enter(phase: number): void {
    this.phase = phase
    this.#since = -1
  }

  /** The current phase waits on someone else (a paused reader): its count starts over. */
  hold(): void {
    this.#since = -1
  }

  /** At a check: has the phase lasted `limit` ms without progress? A limit of 0 disables. */
  expired(now: number, limit: number): boolean {
    if (limit <= 0) return false
    if (this.#since < 0 || this.#mark !== this.progress) {
      this.#since = now
      this.#mark = this.progress
      return false
    }
    return now - this.#since >= limit
  }
}

/** The undici error of an expired phase, with the code forward.ts maps to 504. */
export function timeoutError(phase: number, address: string, limit: number): Error {
  switch (phase) {
    case T_CONNECT:
      return new errors.ConnectTimeoutError(
        `Connect Timeout Error (attempted address: ${address}, timeout: ${limit}ms)`,
      )
    case T_HEADERS:
      return new errors.HeadersTimeoutError()
    case T_BODY:
      return new errors.BodyTimeoutError()
    default:
      return new errors.InformationalError('socket idle timeout')
  }
}
