/**
 * Hands a parsed response to its undici handler: the head (1xx interim ones skipped), the body
 * as Buffers the handler may keep (the parser copies them out of the reused read buffer) or, to a
 * handler that takes views, as views valid during the call; the end with its trailers. It stops
 * as soon as the handler paused (the rest stays in the parser until resume) or aborted (the
 * connection is gone).
 */
import { errors, type Dispatcher } from 'undici'
import { DATA, END, ERROR, HEAD, NEED_MORE, type ResponseParser } from './parser.js'
import type { H1Request } from './request.js'

/**
 * A handler that takes the response head as the parser holds it, a field list and the parsed
 * Content-Length, instead of undici's header object: the gateway's proxy builds the client's head
 * from the list without an object per response (src/proxy/forward.ts).
 */
export interface ResponseFieldsHandler extends Dispatcher.DispatchHandler {
  /** `fields`: [name, value, …], names in lower case, in order; `contentLength` -1 when absent. */
  onResponseFields(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    fields: readonly string[],
    contentLength: number,
  ): void
  /**
   * onResponseData for a chunk that may be a view of the transport's read buffer, overwritten
   * once the call returns: the handler copies what it keeps. Saves the copy of every chunk for a
   * handler that sends it on at once.
   */
  onResponseView?(controller: Dispatcher.DispatchController, chunk: Buffer): void
}

/** The handler takes body chunks as views (see ResponseFieldsHandler.onResponseView). */
export function takesViews(handler: Dispatcher.DispatchHandler): boolean {
  return (handler as Partial<ResponseFieldsHandler>).onResponseView !== undefined
}

/** The connection, as the delivery loop drives it. */
export interface ResponseSink {
  /** The server ended its side: what the parser holds is all there will be. */
  readonly eof: boolean
  /** The final head was parsed: the body phase starts. */
  onFinalHead(): void
  /** The handler paused: stop reading the socket. */
  stopReading(): void
  complete(request: H1Request): void
  fail(error: Error): void
}

export function deliver(parser: ResponseParser, request: H1Request, sink: ResponseSink): void {
  const handler = request.handler
  for (;;) {
    switch (parser.next()) {
      case NEED_MORE:
        if (!sink.eof) return
        if (parser.atEof() === END) sink.complete(request)
        else sink.fail(new errors.SocketError(`other side closed: ${parser.error}`))
        return
      case HEAD:
        if (parser.status < 200) {
          // 100 and 103 are interim and skipped; 101 was not asked for (RFC 9110 §15.2.2).
          if (parser.status === 101) {
            sink.fail(new errors.SocketError('upstream switched protocols unasked'))
            return
          }
          continue
        }
        sink.onFinalHead()
        if ((handler as Partial<ResponseFieldsHandler>).onResponseFields !== undefined) {
          ;(handler as ResponseFieldsHandler).onResponseFields(
            request,
            parser.status,
            parser.fields,
            parser.contentLength,
          )
        } else {
          handler.onResponseStart?.(request, parser.status, parser.headers, parser.statusMessage)
        }
        break
      case DATA:
        if (parser.lend) (handler as ResponseFieldsHandler).onResponseView!(request, parser.data)
        else handler.onResponseData?.(request, parser.data)
        break
      case END:
        sink.complete(request)
        return
      case ERROR:
        sink.fail(new errors.SocketError(`malformed upstream response: ${parser.error}`))
        return
    }
    if (request.done) return // aborted from the callback: the connection is gone
    if (request.paused) {
      sink.stopReading()
      return
    }
  }
}
