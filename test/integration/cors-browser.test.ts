/**
 * CORS in a real browser: headless Chromium loads a page from one origin whose script calls the
 * gateway on another, and the test reads what the script could see from the page's DOM. From
 * the allowed origin a credentialed call with a bearer token (so with a preflight) succeeds and
 * reads an exposed field, but not one left unexposed, and a 401 of the gateway is readable; from
 * a refused origin the browser keeps every answer from the page.
 */
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { dumpDom } from '../helpers/chromium.js'
import { startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { hmacToken } from '../helpers/jwt.js'
import { freePort } from '../helpers/ports.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'

const HS_SECRET = 'an-hmac-secret-of-at-least-32-bytes!'
/** A browser start on a busy 2-core machine takes seconds; the run is killed past this. */
const BROWSER_MS = 45_000

/** What the page's script reports, one entry per call. */
interface PageResult {
  readonly [call: string]:
    | {
        readonly status: number
        readonly fields: Record<string, string | null>
        readonly body: string
      }
    | { readonly error: string }
}

/** The page: two calls to the gateway, each result (or the browser's error) written to #result. */
function page(gateway: string, token: string): string {
  const script = `
    const GATEWAY = ${JSON.stringify(gateway)}
    const TOKEN = ${JSON.stringify(token)}
    const FIELDS = ['x-trace', 'x-hidden', 'ratelimit-policy']
    async function call(path, headers) {
      try {
        const response = await fetch(GATEWAY + path, { credentials: 'include', headers })
        const fields = {}
        for (const name of FIELDS) fields[name] = response.headers.get(name)
        return { status: response.status, fields, body: await response.text() }
      } catch (error) {
        return { error: String(error) }
      }
    }
    async function run() {
      const result = {}
      result.token = await call('/secure/data', { authorization: 'Bearer ' + TOKEN })
      result.anonymous = await call('/secure/data', {})
      document.getElementById('result').textContent = JSON.stringify(result)
    }
    run()`
  return `<!doctype html><html><body><pre id="result">pending</pre><script>${script}</script></body></html>`
}

function resultOf(dom: string): PageResult {
  const match = /<pre id="result">([^<]*)<\/pre>/.exec(dom)
  if (match === null) throw new Error(`no result in the page:\n${dom}`)
  const text = match[1]!
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
  if (text === 'pending') throw new Error('the page script did not finish')
  return JSON.parse(text.replace(/&amp;/g, '&')) as PageResult
}

async function listen(server: Server, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
}

describe('cors in headless Chromium', () => {
  let gateway: Gateway
  let upstream: TestUpstream
  let pages: Server
  let pagesAgain: Server
  let allowedOrigin: string
  let refusedOrigin: string

  beforeAll(async () => {
    upstream = await startUpstream('echo')
    const allowedPort = await freePort()
    const refusedPort = await freePort()
    allowedOrigin = `http://127.0.0.1:${allowedPort}`
    refusedOrigin = `http://127.0.0.1:${refusedPort}`
    gateway = await startGateway({
      config: {
        upstreams: { echo: { targets: [upstream.url] } },
        issuers: [
          {
            name: 'hs',
            issuer: 'https://hs.issuer.test',
            secret: HS_SECRET,
            audiences: ['https://api.test'],
            algorithms: ['HS256'],
          },
        ],
        rate_limits: { roomy: { key: 'ip', rate: '1000/s' } },
        routes: [
          {
            name: 'secure',
            match: { paths: ['/secure/*'], methods: ['GET'] },
            upstream: 'echo',
            auth: 'jwt',
            jwt: { issuers: ['hs'] },
            rate_limit: 'roomy',
            cors: {
              origins: [allowedOrigin],
              credentials: true,
              allow_headers: ['authorization'],
              expose_headers: ['x-trace'],
            },
          },
        ],
      },
    })
    const now = Math.floor(Date.now() / 1000)
    const token = hmacToken(
      { alg: 'HS256', typ: 'JWT' },
      { iss: 'https://hs.issuer.test', aud: 'https://api.test', sub: 'u1', exp: now + 3600 },
      HS_SECRET,
    )
    const html = page(gateway.url, token)
    const serve = () =>
      createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        res.end(html)
      })
    pages = serve()
    pagesAgain = serve()
    await listen(pages, allowedPort)
    await listen(pagesAgain, refusedPort)
  })

  beforeEach(() => {
    upstream.reset()
    // A wildcard of the upstream's own would fail every credentialed call, were it passed on.
    upstream.handle((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'access-control-allow-origin': '*',
        'x-trace': 'trace-1',
        'x-hidden': 'hidden-1',
      })
      res.end('{"data":42}')
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
    await new Promise((resolve) => pages?.close(resolve))
    await new Promise((resolve) => pagesAgain?.close(resolve))
  })

  it(
    'lets a page of the allowed origin call with credentials and read exposed fields',
    async () => {
      const result = resultOf(await dumpDom(`${allowedOrigin}/`, BROWSER_MS))
      expect(result['token']).toEqual({
        status: 200,
        fields: {
          'x-trace': 'trace-1',
          'x-hidden': null,
          'ratelimit-policy': '"roomy";q=1000;w=1',
        },
        body: '{"data":42}',
      })
      expect(result['anonymous']).toMatchObject({ status: 401 })
      expect(JSON.parse((result['anonymous'] as { body: string }).body)).toMatchObject({
        error: 'unauthorized',
      })
      // The preflight was the gateway's: the upstream saw the actual call only.
      expect(upstream.requests.map((r) => r.method)).toEqual(['GET'])
    },
    BROWSER_MS + 5_000,
  )

  it(
    'keeps every answer from a page of a refused origin',
    async () => {
      const result = resultOf(await dumpDom(`${refusedOrigin}/`, BROWSER_MS))
      expect(result['token']).toEqual({ error: 'TypeError: Failed to fetch' })
      expect(result['anonymous']).toEqual({ error: 'TypeError: Failed to fetch' })
      // The refused preflight stopped the call with the token before it left the browser.
      expect(upstream.requests).toEqual([])
    },
    BROWSER_MS + 5_000,
  )
})
