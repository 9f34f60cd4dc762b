/**
 * A small node:http client: unlike fetch/undici it sends hop-by-hop headers (Connection, TE,
 * Upgrade…) as given, which the header tests need.
 */
import {
  request as httpRequest,
  type Agent,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http'

export interface HttpResult {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
  readonly body: Buffer
  readonly text: string
  json<T>(): T
}

export interface RequestOptions {
  readonly method?: string
  /** An object, or a flat [name, value…] list to send repeated or oddly cased names. */
  readonly headers?: OutgoingHttpHeaders | readonly string[]
  readonly body?: string | Buffer
  /** Default: a new connection per request (agent false). */
  readonly agent?: Agent | false
  readonly timeoutMs?: number
}

/** The JSON error body of every gateway rejection. */
export interface ErrorBody {
  readonly error: string
  readonly message: string
  readonly request_id: string
}

/** Sends one request; rejects on a connection error, a cut response or after `timeoutMs`. */
export function send(url: string, options: RequestOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method: options.method ?? 'GET',
      headers: options.headers as OutgoingHttpHeaders | string[] | undefined,
      agent: options.agent ?? false,
    })
    const timer = setTimeout(() => {
      req.destroy(new Error(`request to ${url} timed out`))
    }, options.timeoutMs ?? 10_000)
    req.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
      res.on('end', () => {
        clearTimeout(timer)
        const body = Buffer.concat(chunks)
        const text = body.toString('utf8')
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body,
          text,
          json<T>(): T {
            return JSON.parse(text) as T
          },
        })
      })
    })
    req.end(options.body)
  })
}
