/**
 * Demo upstream for portcullis: a small node:http server that shows what reached it.
 *
 * Every request gets a 200 JSON echo of its method, path, query and headers, so a user can see which
 * identity headers the gateway forwarded and which it stripped. A request body is streamed back
 * inside that JSON (never buffered whole) with its byte count. A few paths shape the response:
 *
 * - `/bench…`       fixed `{"ok":true}`, the cheapest answer, for load tests
 * - `/bytes/<n>`    n bytes of response body, streamed with backpressure
 * - `/status/<code>` the echo with that status code
 * - `/delay/<ms>`   the echo after ms milliseconds
 *
 * CLI: `node dist/scripts/demo-upstream.js [--host 127.0.0.1] [--port 3000]`
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { StringDecoder } from 'node:string_decoder'
import { isMain } from './is-main.js'

export interface DemoUpstreamOptions {
  readonly host?: string
  /** 0 picks a free port; the bound one is returned. */
  readonly port: number
}

export interface DemoUpstream {
  readonly port: number
  close(): Promise<void>
}

const BENCH_BODY = Buffer.from('{"ok":true}')
const BENCH_HEADERS = {
  'content-type': 'application/json',
  'content-length': String(BENCH_BODY.length),
}
/** Bounds so a typo in a demo URL cannot tie the server up for hours or fill memory. */
const MAX_DELAY_MS = 60_000
const MAX_BYTES = 1024 * 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 0x61)
const TEXTUAL =
  /^(text\/|application\/(json|[\w.+-]+\+json|x-www-form-urlencoded|xml|[\w.+-]+\+xml))/i

export function startDemoUpstream(options: DemoUpstreamOptions): Promise<DemoUpstream> {
  const host = options.host ?? '127.0.0.1'
  const server = createServer({ keepAlive: true }, handle)
  // Load generators and gateway pools hold connections open between runs; a short idle timeout
  // would make them reconnect mid-measurement.
  server.keepAliveTimeout = 60_000
  server.headersTimeout = 65_000

  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, host, () => {
      server.off('error', reject)
      const port = (server.address() as AddressInfo).port
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          }),
      })
    })
  })
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const rawUrl = req.url ?? '/'
  if (rawUrl === '/bench' || rawUrl.startsWith('/bench/') || rawUrl.startsWith('/bench?')) {
    // A body left unread would stall the next request on this keep-alive connection.
    if (hasBody(req)) {
      req.resume()
      req.once('end', () => res.writeHead(200, BENCH_HEADERS).end(BENCH_BODY))
    } else {
      res.writeHead(200, BENCH_HEADERS).end(BENCH_BODY)
    }
    return
  }

  const url = new URL(rawUrl, 'http://upstream.invalid')
  const bytes = /^\/bytes\/(\d+)$/.exec(url.pathname)
  if (bytes !== null) {
    req.resume()
    sendBytes(res, Math.min(Number(bytes[1]), MAX_BYTES))
    return
  }

  let status = 200
  const statusMatch = /^\/status\/(\d{3})$/.exec(url.pathname)
  if (statusMatch !== null) {
    const code = Number(statusMatch[1])
    status = code >= 200 && code <= 599 ? code : 400
  }

  const delayMatch = /^\/delay\/(\d+)$/.exec(url.pathname)
  if (delayMatch !== null) {
    const ms = Math.min(Number(delayMatch[1]), MAX_DELAY_MS)
    const timer = setTimeout(() => echo(req, res, url, status), ms)
    res.once('close', () => clearTimeout(timer))
    return
  }

  echo(req, res, url, status)
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined
}

function queryObject(params: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [key, value] of params) {
    const seen = out[key]
    out[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value]
  }
  return out
}

function echo(req: IncomingMessage, res: ServerResponse, url: URL, status: number): void {
  const head = {
    method: req.method,
    path: url.pathname,
    query: queryObject(url.searchParams),
    httpVersion: req.httpVersion,
    headers: req.headers,
  }
  const noBody = status === 204 || status === 304 || req.method === 'HEAD'
  if (noBody) {
    req.resume()
    res.writeHead(status).end()
    return
  }
  if (!hasBody(req)) {
    const body = JSON.stringify(head)
    res
      .writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      })
      .end(body)
    return
  }

  // The body goes back as it arrives (chunked), so a multi-gigabyte upload through the gateway can
  // be checked without this process holding it. Text stays readable; anything else is base64.
  const encoding = TEXTUAL.test(req.headers['content-type'] ?? '') ? 'utf8' : 'base64'
  res.writeHead(status, { 'content-type': 'application/json' })
  res.write(`${JSON.stringify(head).slice(0, -1)},"bodyEncoding":"${encoding}","body":"`)
  const text = new StringDecoder('utf8')
  let carry: Buffer = Buffer.alloc(0)
  let count = 0
  const emit = (piece: string): void => {
    // JSON.stringify escapes the piece; the surrounding quotes are already written.
    if (piece.length > 0 && !res.write(JSON.stringify(piece).slice(1, -1))) req.pause()
  }
  res.on('drain', () => req.resume())
  req.on('data', (chunk: Buffer) => {
    count += chunk.length
    if (encoding === 'utf8') {
      emit(text.write(chunk))
      return
    }
    // base64 works in 3-byte groups: hold back the tail so chunks concatenate into valid base64.
    const joined = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk
    const whole = joined.length - (joined.length % 3)
    carry = joined.subarray(whole)
    emit(joined.subarray(0, whole).toString('base64'))
  })
  req.on('end', () => {
    emit(encoding === 'utf8' ? text.end() : carry.toString('base64'))
    res.end(`","bodyBytes":${count}}`)
  })
  req.on('error', () => res.destroy())
}

function sendBytes(res: ServerResponse, total: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total })
  let left = total
  const pump = (): void => {
    while (left > 0) {
      const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left)
      left -= piece.length
      if (!res.write(piece)) {
        res.once('drain', pump)
        return
      }
    }
    res.end()
  }
  pump()
}

function flag(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}

if (isMain(import.meta.url)) {
  const args = process.argv.slice(2)
  const port = Number(flag(args, '--port') ?? '3000')
  const host = flag(args, '--host') ?? '127.0.0.1'
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`demo-upstream: --port must be 0..65535, got ${String(port)}\n`)
    process.exit(2)
  }
  const upstream = await startDemoUpstream({ host, port })
  process.stdout.write(
    `${JSON.stringify({ msg: 'demo upstream listening', url: `http://${host}:${upstream.port}`, pid: process.pid })}\n`,
  )
  const stop = (): void => {
    void upstream.close().then(() => process.exit(0))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
