import type { Rejection } from '../../src/errors.js'
import { Exchange, type BodySink, type ExchangeRuntime } from '../../src/gateway/exchange.js'
import type { RequestTracer } from '../../src/gateway/exchange.js'

/** An exchange with no front, for in-memory tests: it records what it is asked to send. */
export class FakeExchange extends Exchange {
  readonly rejections: Rejection[] = []

  /** `tracer`: the runtime's span export (null: tracing not configured). */
  constructor(
    readonly logged: unknown[][] = [],
    tracer: RequestTracer | null = null,
  ) {
    const logger = { error: (...args: unknown[]) => logged.push(args) }
    super({ logger, tracer } as unknown as ExchangeRuntime, 'http')
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
