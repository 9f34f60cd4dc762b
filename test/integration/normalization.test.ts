import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import type { ErrorBody } from '../helpers/http.js'
import { rawRequest } from '../helpers/raw.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { sleep } from '../helpers/wait.js'

/**
 * Each raw path, and the spellings the gateway may forward it as: the path after RFC 3986
 * normalization (unreserved characters decoded, dot segments removed; for a backslash, what a
 * WHATWG URL parser makes of it). Forwarding any other spelling, or to the upstream of another
 * route than the forwarded path's own, is a routing bypass. A 400 is always acceptable.
 */
const CASES: readonly (readonly [raw: string, forwardedAs: readonly string[]])[] = [
  ['/public/../admin/x', ['/admin/x']],
  ['/public/%2e%2e/admin/x', ['/admin/x']],
  ['/public/%2E%2E/admin/x', ['/admin/x']],
  ['/public/.%2e/admin/x', ['/admin/x']],
  ['/public/..%2fadmin/x', ['/public/..%2Fadmin/x', '/public/..%2fadmin/x']],
  ['/public/%2fadmin', ['/public/%2Fadmin', '/public/%2fadmin']],
  ['/public/..;/admin/x', ['/public/..;/admin/x']],
  ['/public/%252e%252e/admin', ['/public/%252e%252e/admin', '/public/%252E%252E/admin']],
  ['/public\\..\\admin', ['/admin']],
  ['/public/..%5cadmin', ['/public/..%5Cadmin', '/public/..%5cadmin']],
  ['/public/%c0%ae%c0%ae/admin', ['/public/%C0%AE%C0%AE/admin']],
  ['//admin/x', ['/admin/x']],
  ['/public/./../admin', ['/admin']],
  ['/public/x/../../admin/y', ['/admin/y']],
  ['/admin/../public/x', ['/public/x']],
]

/** Which upstream a forwarded path belongs to under the test config. */
function routeOf(path: string): 'public' | 'admin' | null {
  const bare = path.split('?')[0]!
  if (bare === '/admin' || bare.startsWith('/admin/')) return 'admin'
  if (bare === '/public' || bare.startsWith('/public/')) return 'public'
  return null
}

describe.each(FRONTS)('path normalization on the %s front', (front) => {
  let gateway: Gateway
  let publicUpstream: TestUpstream
  let adminUpstream: TestUpstream

  beforeAll(async () => {
    publicUpstream = await startUpstream('public')
    adminUpstream = await startUpstream('admin')
    gateway = await startGateway({
      front,
      config: {
        upstreams: {
          public: { targets: [publicUpstream.url] },
          admin: { targets: [adminUpstream.url] },
        },
        routes: [
          { name: 'public', match: { paths: ['/public/*'] }, upstream: 'public', auth: 'none' },
          { name: 'admin', match: { paths: ['/admin/*'] }, upstream: 'admin', auth: 'none' },
        ],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
  })

  beforeEach(() => {
    publicUpstream.reset()
    adminUpstream.reset()
  })

  describe('when a path is spelled to reach another route', () => {
    it.each(CASES)(
      '%s is refused or forwarded as its normalized path',
      async (raw, forwardedAs) => {
        const result = await rawRequest(
          gateway.port,
          `GET ${raw} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
          { waitMs: 3000, until: (r) => r.some((x) => x.status >= 200 && x.complete) },
        )
        // Give a request the gateway did forward time to be recorded.
        await sleep(50)
        const seen = [
          ...publicUpstream.requests.map((r) => ({ upstream: 'public', url: r.url })),
          ...adminUpstream.requests.map((r) => ({ upstream: 'admin', url: r.url })),
        ]
        const response = result.responses.find((r) => r.status >= 200)
        expect(response, `no response to ${raw}: ${JSON.stringify(result.text)}`).toBeDefined()
        if (response!.status === 400) {
          const body = JSON.parse(response!.body.toString('utf8')) as ErrorBody
          expect(['invalid_path', 'bad_request']).toContain(body.error)
          expect(seen).toEqual([])
          return
        }
        expect(response!.status, result.text).toBe(200)
        expect(seen).toHaveLength(1)
        expect(forwardedAs).toContain(seen[0]!.url)
        expect(seen[0]!.upstream).toBe(routeOf(seen[0]!.url))
      },
    )
  })

  describe('when a path is already normal', () => {
    it('forwards it unchanged', async () => {
      const result = await rawRequest(
        gateway.port,
        'GET /public/a/b.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
        { waitMs: 3000, until: (r) => r.some((x) => x.complete) },
      )
      expect(result.responses[0]?.status).toBe(200)
      expect(publicUpstream.requests.map((r) => r.url)).toEqual(['/public/a/b.json'])
    })
  })
})
