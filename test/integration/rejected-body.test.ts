import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FRONTS, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { isAlive } from '../helpers/proc.js'
import { closeAllRaw, rawRequest } from '../helpers/raw.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'

// Over the uws front's 64 KiB queue of body read before a reader takes it.
const BODY_BYTES = 100_000

// Found by `npm run fuzz` (bench/fuzz): a request refused before its body was read, whose body
// arrived right behind its head, made the uws front pause a response it had already ended, and
// uWS.js threw in the worker.
describe.each(FRONTS)('a request refused before its body is read, on the %s front', (front) => {
  let gateway: Gateway
  let upstream: TestUpstream

  beforeAll(async () => {
    upstream = await startUpstream('bodies')
    gateway = await startGateway({
      front,
      config: {
        upstreams: { bodies: { targets: [upstream.url] } },
        routes: [
          {
            name: 'large',
            match: { paths: ['/large/*'] },
            upstream: 'bodies',
            auth: 'none',
            max_body: '10MiB',
          },
        ],
      },
    })
  })

  afterAll(async () => {
    closeAllRaw()
    await stopAllGateways()
    await closeAllUpstreams()
  })

  it.each([
    ['an encoded dot segment', '/large/%2e/x', 400],
    ['no route', '/elsewhere', 404],
  ])(
    'is answered (%s) while its large body is still arriving, and the worker lives on',
    async (_, path, status) => {
      const head = `PUT ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`
      const result = await rawRequest(
        gateway.port,
        Buffer.concat([Buffer.from(head), Buffer.alloc(BODY_BYTES, 0x79)]),
        { waitMs: 3000, until: (responses) => responses.length > 0 },
      )
      expect(result.responses[0]?.status).toBe(status)
      expect(gateway.logs.filter((l) => l.msg === 'worker died; respawning')).toEqual([])
      expect(isAlive(gateway.workerPids[0]!)).toBe(true)
      expect((await send(`${gateway.url}/large/after`)).status).toBe(200)
      expect(upstream.requests.map((r) => r.url)).toEqual(['/large/after'])
      upstream.reset()
    },
  )
})
