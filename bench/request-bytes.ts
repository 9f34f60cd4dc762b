/**
 * The bytes the paced loaders send: bench/paced-client.ts (Node) writes them to its sockets, and
 * bench/paced-native.ts writes them to the file bench/paced/paced-load.c reads. One builder, so
 * both engines send the same requests byte for byte.
 */
import type { BenchRequest } from './scenarios/types.js'

/**
 * The bytes of every request, built once per process and laid out in one buffer: the warm-up and
 * the measured window share them, so no megabytes of a previous client's requests (10 000
 * distinct tokens make about 9 MB) wait for a collection inside the measured window, where the
 * loader's pause would show as the gateway's latency.
 */
const built = new WeakMap<readonly BenchRequest[], { host: string; views: Buffer[] }>()

export function buildRequests(origin: URL, requests: readonly BenchRequest[]): Buffer[] {
  // The Host line is in the bytes: reused only for the same origin.
  const cached = built.get(requests)
  if (cached !== undefined && cached.host === origin.host) return cached.views
  const parts = requests.map((request) => {
    const body = request.body === undefined ? undefined : Buffer.from(request.body)
    const lines = [`${request.method} ${request.path} HTTP/1.1`, `host: ${origin.host}`]
    for (const [key, value] of Object.entries(request.headers ?? {})) lines.push(`${key}: ${value}`)
    if (body !== undefined) lines.push(`content-length: ${body.length}`)
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1')
    return body === undefined ? head : Buffer.concat([head, body])
  })
  const slab = Buffer.concat(parts)
  const views: Buffer[] = []
  let offset = 0
  for (const part of parts) {
    views.push(slab.subarray(offset, offset + part.length))
    offset += part.length
  }
  built.set(requests, { host: origin.host, views })
  return views
}

/** A response to HEAD has no body, whatever its Content-Length says. */
export function expectsNoBody(request: BenchRequest): boolean {
  return request.method.toUpperCase() === 'HEAD'
}
