/**
 * OTLP span export (`tracing:`) from real gateway processes on both fronts to a collector the
 * test runs: the spans of a request and their links, the ids the upstream receives, sampling
 * (ratio and a caller's flag), a collector that is down, the flush at SIGTERM, and that a gateway
 * without `tracing:` loads nothing of the OpenTelemetry SDK.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { generateApiKey } from '../../src/keys/format.js'
import { KeyHasher } from '../../src/keys/hash.js'
import {
  FRONTS,
  REPO_ROOT,
  startGateway,
  stopAllGateways,
  type ConfigInput,
  type Front,
  type Gateway,
} from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import {
  SPAN_KIND,
  STATUS_CODE,
  startCollector,
  type Collector,
  type ReceivedSpan,
} from '../helpers/otlp-collector.js'
import { refusingPort } from '../helpers/ports.js'
import {
  closeAllUpstreams,
  startUpstream,
  type Echo,
  type TestUpstream,
} from '../helpers/upstream.js'
import { sleep, waitUntil } from '../helpers/wait.js'

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/
const KEY = generateApiKey('pc_live')
const PROBE = join(REPO_ROOT, 'test', 'fixtures', 'module-probe', 'opentelemetry.mjs')

let upstream: TestUpstream
let collector: Collector

beforeAll(async () => {
  upstream = await startUpstream('echo')
  collector = await startCollector()
})

afterAll(async () => {
  await stopAllGateways()
  await closeAllUpstreams()
  await collector.close()
})

/** A fresh trace id and parent span id, so each test's spans are its own. */
function newTrace(): { traceId: string; parent: string } {
  const hex = (n: number) =>
    Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('')
  return { traceId: `${hex(31)}1`, parent: `${hex(15)}1` }
}

function config(tracing: Record<string, unknown> | undefined): ConfigInput {
  return {
    upstreams: { echo: { targets: [upstream.url] } },
    api_keys: { prefixes: ['pc_live'] },
    consumers: [{ name: 'acme', keys: [{ hash: new KeyHasher(null).hash(KEY) }] }],
    routes: [
      { name: 'orders', match: { paths: ['/orders/*'] }, upstream: 'echo', auth: 'api_key' },
      { name: 'pub', match: { paths: ['/pub/*'] }, upstream: 'echo', auth: 'none' },
    ],
    ...(tracing === undefined ? {} : { tracing }),
  }
}

function tracing(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    otlp: { endpoint: collector.url, headers: { 'x-collector-key': '${PCL_TEST_COLLECTOR_KEY}' } },
    service_name: 'portcullis-test',
    batch: { delay: '100ms' },
    ...extra,
  }
}

async function start(front: Front, tracingConfig: Record<string, unknown> | undefined) {
  return startGateway({
    front,
    env: { PCL_TEST_COLLECTOR_KEY: 'collector-secret' },
    config: config(tracingConfig),
  })
}

/** Sends through the gateway; returns the status and the traceparent the upstream received. */
async function call(
  gateway: Gateway,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; sent: RegExpExecArray | null }> {
  const res = await send(`${gateway.url}${path}`, { headers })
  if (res.status !== 200) return { status: res.status, sent: null }
  const echo = res.json<Echo>()
  return { status: 200, sent: TRACEPARENT.exec(String(echo.headers['traceparent'])) }
}

function byKind(spans: readonly ReceivedSpan[], kind: number): ReceivedSpan[] {
  return spans.filter((span) => span.kind === kind)
}

/** Whether any span of `traceId` was received. */
function exported(traceId: string): boolean {
  return collector.spans.some((span) => span.traceId === traceId)
}

describe.each(FRONTS)('span export on the %s front', (front) => {
  describe('with sample_ratio 1', () => {
    let gateway: Gateway

    beforeAll(async () => {
      gateway = await start(front, tracing())
    })

    afterAll(async () => {
      await stopAllGateways()
    })

    it('exports server, authentication and upstream spans linked under the incoming trace', async () => {
      const { traceId, parent } = newTrace()
      const { status, sent } = await call(gateway, '/orders/42?api_key=not-logged', {
        traceparent: `00-${traceId}-${parent}-01`,
        'x-api-key': KEY,
      })
      expect(status).toBe(200)
      expect(sent?.[1]).toBe(traceId)
      expect(sent?.[3]).toBe('01')
      const spans = await collector.waitForTrace(traceId, 3)
      expect(spans).toHaveLength(3)
      const [server] = byKind(spans, SPAN_KIND.server)
      const [auth] = byKind(spans, SPAN_KIND.internal)
      const [client] = byKind(spans, SPAN_KIND.client)

      expect(server!.parentSpanId).toBe(parent)
      expect(server!.name).toBe('GET orders')
      expect(server!.attributes).toMatchObject({
        'http.request.method': 'GET',
        'http.route': 'orders',
        'http.response.status_code': 200,
        'url.path': '/orders/42',
        'url.scheme': 'http',
        'client.address': '127.0.0.1',
      })
      expect(server!.status).toBe(STATUS_CODE.unset)
      expect(server!.resource['service.name']).toBe('portcullis-test')

      expect(auth!.parentSpanId).toBe(server!.spanId)
      expect(auth!.name).toBe('authenticate')
      expect(auth!.attributes).toMatchObject({
        'portcullis.auth.method': 'api_key',
        'portcullis.auth.outcome': 'admitted',
        'portcullis.auth.reason': 'ok',
      })

      // The upstream's parent is the exported client span.
      expect(client!.parentSpanId).toBe(server!.spanId)
      expect(client!.spanId).toBe(sent![2])
      expect(client!.attributes).toMatchObject({
        'http.request.method': 'GET',
        'server.address': '127.0.0.1',
        'server.port': upstream.port,
        'http.response.status_code': 200,
        'portcullis.upstream': 'echo',
      })

      // Children lie inside the server span.
      for (const child of [auth!, client!]) {
        expect(child.startNs >= server!.startNs).toBe(true)
        expect(child.endNs <= server!.endNs).toBe(true)
      }
      // Neither the key nor the query reaches a span.
      const text = JSON.stringify(spans.map((span) => span.attributes))
      expect(text).not.toContain(KEY)
      expect(text).not.toContain('not-logged')
      // The configured headers, their ${ENV} resolved, go with each export.
      expect(collector.exportHeaders.at(-1)?.['x-collector-key']).toBe('collector-secret')
    })

    it('starts a sampled trace of its own when none comes in', async () => {
      const { status, sent } = await call(gateway, '/pub/a', {})
      expect(status).toBe(200)
      expect(sent?.[3]).toBe('01')
      const spans = await collector.waitForTrace(sent![1]!, 2)
      const [server] = byKind(spans, SPAN_KIND.server)
      expect(server!.parentSpanId).toBe('')
      expect(byKind(spans, SPAN_KIND.client)[0]!.spanId).toBe(sent![2])
      expect(byKind(spans, SPAN_KIND.internal)).toHaveLength(0)
    })

    it('records a refused credential without an upstream span, and a 5xx as an error', async () => {
      const refused = newTrace()
      const res = await send(`${gateway.url}/orders/1`, {
        headers: { traceparent: `00-${refused.traceId}-${refused.parent}-01`, 'x-api-key': 'bad' },
      })
      expect(res.status).toBe(401)
      const spans = await collector.waitForTrace(refused.traceId, 2)
      const [server] = byKind(spans, SPAN_KIND.server)
      const [auth] = byKind(spans, SPAN_KIND.internal)
      expect(server!.attributes['http.response.status_code']).toBe(401)
      // A 4xx is the client's: not an error of the server span (semantic conventions).
      expect(server!.status).toBe(STATUS_CODE.unset)
      expect(auth!.attributes['portcullis.auth.outcome']).toBe('refused')
      expect(auth!.attributes['portcullis.auth.reason']).not.toBe('ok')

      upstream.handle((_req, res) => res.writeHead(503).end())
      try {
        const failing = newTrace()
        const answer = await send(`${gateway.url}/pub/x`, {
          headers: { traceparent: `00-${failing.traceId}-${failing.parent}-01` },
        })
        expect(answer.status).toBe(503)
        const failed = await collector.waitForTrace(failing.traceId, 2)
        for (const span of failed) {
          expect(span.status).toBe(STATUS_CODE.error)
          expect(span.attributes['error.type']).toBe('503')
        }
      } finally {
        upstream.handle(null)
      }
      expect(collector.spans.filter((s) => s.traceId === refused.traceId)).toHaveLength(2)
    })

    it("honours a caller's unsampled flag: nothing exported, 00 forwarded", async () => {
      const unsampled = newTrace()
      const { sent } = await call(gateway, '/pub/a', {
        traceparent: `00-${unsampled.traceId}-${unsampled.parent}-00`,
      })
      expect(sent?.[1]).toBe(unsampled.traceId)
      expect(sent?.[3]).toBe('00')
      // A sampled request after it: once its spans arrived, the earlier one's would have.
      const after = newTrace()
      await call(gateway, '/pub/a', { traceparent: `00-${after.traceId}-${after.parent}-01` })
      await collector.waitForTrace(after.traceId, 2)
      expect(exported(unsampled.traceId)).toBe(false)
    })
  })

  describe('each test with a gateway of its own', () => {
    afterEach(async () => {
      await stopAllGateways()
    })

    it('with sample_ratio 0 exports no new trace but still forwards a traceparent, and follows a sampled caller', async () => {
      const gateway = await start(front, tracing({ sample_ratio: 0 }))
      const fresh = await call(gateway, '/pub/a', {})
      expect(fresh.sent?.[3]).toBe('00')
      const sampled = newTrace()
      const followed = await call(gateway, '/pub/a', {
        traceparent: `00-${sampled.traceId}-${sampled.parent}-01`,
      })
      expect(followed.sent?.[3]).toBe('01')
      const spans = await collector.waitForTrace(sampled.traceId, 2)
      expect(byKind(spans, SPAN_KIND.client)[0]!.spanId).toBe(followed.sent![2])
      expect(exported(fresh.sent![1]!)).toBe(false)
    })

    it('serves every request while the collector is down, and logs the failure once', async () => {
      const port = await refusingPort()
      const gateway = await start(
        front,
        tracing({ otlp: { endpoint: `http://127.0.0.1:${port}/v1/traces`, timeout: '1s' } }),
      )
      for (let i = 0; i < 20; i++) {
        const { status } = await call(gateway, '/pub/a', {})
        expect(status).toBe(200)
        if (i % 5 === 4) await sleep(150)
      }
      await gateway.waitForLog((line) => String(line.msg).startsWith('span export failed'))
      await sleep(500)
      expect(
        gateway.logs.filter((line) => String(line.msg).startsWith('span export failed')),
      ).toHaveLength(1)
    })

    it('exports the spans still queued when it is stopped with SIGTERM', async () => {
      const gateway = await start(front, tracing({ batch: { delay: '60s' } }))
      const { traceId, parent } = newTrace()
      await call(gateway, '/pub/a', { traceparent: `00-${traceId}-${parent}-01` })
      await sleep(200)
      expect(exported(traceId)).toBe(false)
      expect(await gateway.stop('SIGTERM')).toBe(0)
      expect(collector.spans.filter((span) => span.traceId === traceId)).toHaveLength(2)
    })
  })
})

describe('the OpenTelemetry SDK', () => {
  let dir: string

  afterEach(async () => {
    await stopAllGateways()
  })

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-otel-probe-'))
  })

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  /** Starts a gateway whose processes report, at exit, how many @opentelemetry modules they loaded. */
  async function probed(file: string, tracingConfig: Record<string, unknown> | undefined) {
    const inherited = process.env['NODE_OPTIONS'] ?? ''
    return startGateway({
      env: {
        PCL_TEST_COLLECTOR_KEY: 'collector-secret',
        PCL_TEST_MODULE_PROBE: file,
        NODE_OPTIONS: `${inherited} --import=${PROBE}`.trim(),
      },
      config: config(tracingConfig),
    })
  }

  /** pid → modules loaded, from the probe's lines. */
  function loaded(file: string): Map<number, number> {
    const counts = new Map<number, number>()
    for (const line of readFileSync(file, 'utf8').trim().split('\n')) {
      const [pid, count] = line.split(' ').map(Number)
      counts.set(pid!, count!)
    }
    return counts
  }

  it('is not loaded by a gateway without tracing', async () => {
    const file = join(dir, 'off.txt')
    const gateway = await probed(file, undefined)
    const { status } = await call(gateway, '/pub/a', {
      traceparent: `00-${newTrace().traceId}-${newTrace().parent}-01`,
    })
    expect(status).toBe(200)
    expect(await gateway.stop('SIGTERM')).toBe(0)
    const counts = loaded(file)
    expect([...counts.keys()].sort()).toEqual([...gateway.pids].sort())
    expect([...counts.values()]).toEqual(gateway.pids.map(() => 0))
  })

  it('is loaded by the workers when a reload turns tracing on, and their spans are exported', async () => {
    const file = join(dir, 'reload.txt')
    const gateway = await probed(file, undefined)
    const line = await gateway.reload(config(tracing()))
    expect(line.msg).toBe('config reloaded')
    // The primary logs the reload when it sends it; each worker applies it once it has loaded
    // the SDK: requests go on until one of them is exported.
    const sent: string[] = []
    await waitUntil(
      async () => {
        const { traceId, parent } = newTrace()
        sent.push(traceId)
        await call(gateway, '/pub/a', { traceparent: `00-${traceId}-${parent}-01` })
        return sent.some(exported)
      },
      { timeoutMs: 30_000, intervalMs: 300, what: 'a span exported after the reload' },
    )
    expect(await gateway.stop('SIGTERM')).toBe(0)
    const counts = loaded(file)
    for (const pid of gateway.workerPids) expect(counts.get(pid)).toBeGreaterThan(0)
    // The primary never serves a request: it never loads the SDK.
    expect(counts.get(gateway.pids[0]!)).toBe(0)
  })
})
