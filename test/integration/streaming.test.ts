import { createHash, randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { residentBytes } from '../helpers/proc.js'
import { send } from '../helpers/http.js'
import {
  closeAllUpstreams,
  startUpstream,
  streamBytes,
  type TestUpstream,
} from '../helpers/upstream.js'

const MiB = 1024 * 1024
const TOTAL = 200 * MiB
const CHUNK = 64 * 1024
/** Growth of the worker's RSS during a transfer that still counts as "flat". */
const RSS_BOUND = 150 * MiB
const TRANSFER_TIMEOUT_MS = 60_000

/** One random block, stamped with the chunk index so that no two chunks are equal. */
const BLOCK = randomBytes(CHUNK)

function chunkAt(index: number, size: number): Buffer {
  const chunk = Buffer.from(BLOCK.subarray(0, size))
  if (size >= 4) chunk.writeUInt32BE(index, 0)
  return chunk
}

/** The body, generated as it is read: the test never holds more than a chunk of it. */
function* bodyChunks(total: number): Generator<Buffer> {
  for (let sent = 0, i = 0; sent < total; i++) {
    const size = Math.min(CHUNK, total - sent)
    sent += size
    yield chunkAt(i, size)
  }
}

function expectedDigest(total: number): string {
  const hash = createHash('sha256')
  for (const chunk of bodyChunks(total)) hash.update(chunk)
  return hash.digest('hex')
}

/** Samples the RSS of `pid` every 100 ms until stopped; returns the highest value seen. */
function sampleRss(pid: number): { stop(): number; readonly baseline: number } {
  const baseline = residentBytes(pid) ?? 0
  let peak = baseline
  const timer = setInterval(() => {
    const rss = residentBytes(pid)
    if (rss !== null && rss > peak) peak = rss
  }, 100)
  return {
    baseline,
    stop() {
      clearInterval(timer)
      const rss = residentBytes(pid)
      if (rss !== null && rss > peak) peak = rss
      return peak
    },
  }
}

interface Received {
  readonly bytes: number
  readonly sha256: string
}

/** A transfer that sees no byte for this long has stalled: fail fast instead of at the test timeout. */
const STALL_MS = 5000
/** The slow side stops reading for this long once PAUSE_AT bytes went through. */
const PAUSE_MS = 1500
const PAUSE_AT = 20 * MiB
/** A body sent in writes of a few KiB, and where its slow reader stops. */
const SMALL_TOTAL = 24 * MiB
const SMALL_PAUSE_AT = 4 * MiB

/** Pauses `stream` once after `at` bytes; returns the `data` listener to install. */
function pausingOnce(
  stream: { pause(): void; resume(): void },
  at: number,
  onChunk: (chunk: Buffer) => void,
): (chunk: Buffer) => void {
  let bytes = 0
  let paused = false
  return (chunk) => {
    bytes += chunk.length
    onChunk(chunk)
    if (!paused && bytes >= at) {
      paused = true
      stream.pause()
      setTimeout(() => stream.resume(), PAUSE_MS)
    }
  }
}

function upload(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'PUT',
      agent: false,
      headers: { 'content-length': TOTAL, 'content-type': 'application/octet-stream' },
    })
    req.setTimeout(STALL_MS, () => req.destroy(new Error(`upload stalled for ${STALL_MS} ms`)))
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    pipeline(Readable.from(bodyChunks(TOTAL)), req).catch(reject)
  })
}

function download(
  url: string,
  slowReader: boolean,
  pauseAt = PAUSE_AT,
): Promise<Received & { status: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false })
    req.setTimeout(STALL_MS, () => req.destroy(new Error(`download stalled for ${STALL_MS} ms`)))
    req.on('response', (res) => {
      const hash = createHash('sha256')
      let bytes = 0
      const count = (chunk: Buffer) => {
        bytes += chunk.length
        hash.update(chunk)
      }
      res.on('data', slowReader ? pausingOnce(res, pauseAt, count) : count)
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, bytes, sha256: hash.digest('hex') }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

describe.each(FRONTS)('streaming on the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream
  let digest: string

  beforeAll(async () => {
    digest = expectedDigest(TOTAL)
    upstream = await startUpstream('bulk')
    gateway = await startGateway({
      front,
      config: {
        limits: { request_timeout: '60s' },
        upstreams: { bulk: { targets: [upstream.url] } },
        routes: [
          {
            name: 'bulk',
            match: { paths: ['/bulk/*'] },
            upstream: 'bulk',
            auth: 'none',
            max_body: '256MiB',
          },
        ],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  describe('when a response is larger than the client socket buffers', () => {
    it.each([
      ['a Content-Length', true],
      ['a chunked', false],
    ])('delivers %s 1 MiB body', async (_, contentLength) => {
      upstream.handle(streamBytes(MiB, { contentLength }))
      const res = await send(`${gateway.url}/bulk/medium`, { timeoutMs: STALL_MS })
      expect(res.status).toBe(200)
      expect(res.body.length).toBe(MiB)
    })
  })

  describe.each([
    ['reads as fast as it can', false],
    ['stops reading for a while', true],
  ])('when a client uploads 200 MB and the upstream %s', (_, slowUpstream) => {
    it(
      'reaches the upstream intact while the worker memory stays flat',
      async () => {
        upstream.handle((req, res) => {
          const hash = createHash('sha256')
          let bytes = 0
          const count = (chunk: Buffer) => {
            bytes += chunk.length
            hash.update(chunk)
          }
          req.on('data', slowUpstream ? pausingOnce(req, PAUSE_AT, count) : count)
          req.on('end', () => {
            const body = JSON.stringify({ bytes, sha256: hash.digest('hex') } satisfies Received)
            res.writeHead(200, { 'content-type': 'application/json' }).end(body)
          })
        })
        const rss = sampleRss(gateway.workerPids[0]!)
        const answer = await upload(`${gateway.url}/bulk/upload`)
        const peak = rss.stop()
        expect(answer.status, answer.body).toBe(200)
        expect(JSON.parse(answer.body) as Received).toEqual({ bytes: TOTAL, sha256: digest })
        expect(peak - rss.baseline).toBeLessThan(RSS_BOUND)
      },
      TRANSFER_TIMEOUT_MS,
    )
  })

  describe('when two clients download at once, one of them stopping for a while', () => {
    // The upstream sockets read into one reused buffer: a body chunk the front keeps (a write
    // queued while its client does not read) must be a copy, or the reads of the other download
    // overwrite it. Random bytes: BLOCK repeats every 64 KiB, as often as the reads, and would
    // hide such an overwrite.
    const body = randomBytes(SMALL_TOTAL)
    const bodyDigest = createHash('sha256').update(body).digest('hex')

    it.each([
      ['a Content-Length', true],
      ['a chunked', false],
    ])('delivers %s body sent in small writes intact to both', async (_, contentLength) => {
      upstream.handle((req, res) => {
        req.resume()
        const headers: Record<string, string | number> = {
          'content-type': 'application/octet-stream',
        }
        if (contentLength) headers['content-length'] = SMALL_TOTAL
        res.writeHead(200, headers)
        // Writes of 1 to 4 KiB (each its own chunk when chunked), a few per loop turn.
        let at = 0
        const pump = (): void => {
          for (let n = 0; n < 8; n++) {
            if (at >= body.length) return void res.end()
            const piece = body.subarray(at, at + 1024 + ((at * 13 + n * 977) % 3072))
            at += piece.length
            if (!res.write(piece)) return void res.once('drain', pump)
          }
          setImmediate(pump)
        }
        pump()
      })
      const url = `${gateway.url}/bulk/small-writes`
      const received = await Promise.all([
        download(url, true, SMALL_PAUSE_AT),
        download(url, false),
      ])
      const intact = { status: 200, bytes: SMALL_TOTAL, sha256: bodyDigest }
      expect(received).toEqual([intact, intact])
    })
  })

  describe.each([
    ['reads as fast as it can', false],
    ['stops reading for a while', true],
  ])('when an upstream sends 200 MB and the client %s', (_, slowReader) => {
    it(
      'reaches the client intact while the worker memory stays flat',
      async () => {
        upstream.handle((req, res) => {
          req.resume()
          res.writeHead(200, {
            'content-type': 'application/octet-stream',
            'content-length': TOTAL,
          })
          Readable.from(bodyChunks(TOTAL)).pipe(res)
        })
        const rss = sampleRss(gateway.workerPids[0]!)
        const received = await download(`${gateway.url}/bulk/download`, slowReader)
        const peak = rss.stop()
        expect(received).toEqual({ status: 200, bytes: TOTAL, sha256: digest })
        expect(peak - rss.baseline).toBeLessThan(RSS_BOUND)
      },
      TRANSFER_TIMEOUT_MS,
    )
  })
})
