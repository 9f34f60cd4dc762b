import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import {
  closeAllUpstreams,
  startUpstream,
  type Echo,
  type TestUpstream,
} from '../helpers/upstream.js'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/

let upstream: TestUpstream

beforeAll(async () => {
  upstream = await startUpstream('echo')
})

afterEach(async () => {
  await stopAllGateways()
})

afterAll(async () => {
  await closeAllUpstreams()
})

describe.each(FRONTS)('W3C trace context on the %s front', (front) => {
  let gateway: Gateway

  beforeEach(async () => {
    gateway = await startGateway({
      front,
      config: {
        upstreams: { echo: { targets: [upstream.url] } },
        routes: [{ name: 'pub', match: { paths: ['/pub/*'] }, upstream: 'echo', auth: 'none' }],
      },
    })
  })

  async function forwarded(headers: Record<string, string>): Promise<Echo> {
    const res = await send(`${gateway.url}/pub/a`, { headers })
    expect(res.status).toBe(200)
    return res.json<Echo>()
  }

  it('continues an incoming trace with the gateway as the parent of the upstream', async () => {
    const echo = await forwarded({
      traceparent: `00-${TRACE}-${PARENT}-01`,
      tracestate: 'vendor=abc',
      'x-request-id': 'trace-continued',
    })
    const sent = TRACEPARENT.exec(String(echo.headers['traceparent']))
    expect(sent?.[1]).toBe(TRACE)
    expect(sent?.[2]).not.toBe(PARENT)
    expect(String(echo.headers['traceparent']).endsWith('-01')).toBe(true)
    expect(echo.headers['tracestate']).toBe('vendor=abc')
    const line = await gateway.waitForLog((l) => l['request_id'] === 'trace-continued')
    expect(line['trace_id']).toBe(TRACE)
  })

  it('starts a new trace for a malformed traceparent and drops its tracestate', async () => {
    const echo = await forwarded({
      traceparent: `00-${TRACE.toUpperCase()}-${PARENT}-01`,
      tracestate: 'vendor=abc',
      'x-request-id': 'trace-malformed',
    })
    const sent = TRACEPARENT.exec(String(echo.headers['traceparent']))
    expect(sent).not.toBeNull()
    expect(sent![1]).not.toBe(TRACE.toLowerCase())
    expect(echo.headers['tracestate']).toBeUndefined()
    const line = await gateway.waitForLog((l) => l['request_id'] === 'trace-malformed')
    expect(line['trace_id']).toBe(sent![1])
  })

  it('starts a new trace when none is sent, and logs its id for a request never forwarded', async () => {
    const echo = await forwarded({ 'x-request-id': 'trace-new' })
    expect(String(echo.headers['traceparent'])).toMatch(TRACEPARENT)
    expect(
      (await send(`${gateway.url}/nowhere`, { headers: { 'x-request-id': 'trace-404' } })).status,
    ).toBe(404)
    const line = await gateway.waitForLog((l) => l['request_id'] === 'trace-404')
    expect(line['trace_id']).toMatch(/^[0-9a-f]{32}$/)
  })
})
