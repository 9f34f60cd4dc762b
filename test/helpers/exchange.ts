import type { Rejection } from '../../src/errors.js'
import { Exchange, type BodySink } from '../../src/gateway/exchange.js'
import type { Runtime } from '../../src/gateway/runtime.js'

/** An exchange with no front, for in-memory tests: it records what it is asked to send. */
export class FakeExchange extends Exchange {
  readonly rejections: Rejection[] = []

  constructor(readonly logged: unknown[][] = []) {
    const logger = { error: (...args: unknown[]) => logged.push(args) }
    super({ logger } as unknown as Runtime, 'http')
  }

  reject(rejection: Rejection): void {
    this.rejections.push(rejection)
    this.headSent = true
  }
  writeHead(): void {}
  writeBody(): boolean {
    return true
  }
  endResponse(): void {}
  destroy(): void {}
  readBody(_sink: BodySink): void {}
  pauseBody(): void {}
  resumeBody(): void {}
}
