/**
 * A gateway's workers follow the credential store and say how it stands: /readyz stays 200 while
 * Redis is down (the last known consumers and keys serve) and its body names the state of the
 * revocation and credential syncs; each worker logs the outage once and recovers when Redis does.
 */
import { isDeepStrictEqual } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { closeAllUpstreams, startUpstream } from '../helpers/upstream.js'
import { sleep, waitUntil } from '../helpers/wait.js'

const OUTAGE = 'credential sync: redis unavailable; keeping the last known consumers and keys'

describe('credential sync in a gateway', () => {
  let redis: RedisServer
  let gateway: Gateway

  beforeAll(async () => {
    redis = await startRedis()
    const upstream = await startUpstream('echo')
    gateway = await startGateway({
      workers: 2,
      config: {
        redis: { url: redis.url },
        upstreams: { echo: { targets: [upstream.url] } },
        routes: [{ name: 'api', match: { paths: ['/*'] }, upstream: 'echo', auth: 'none' }],
      },
    })
  })

  afterAll(async () => {
    await stopAllGateways()
    await closeAllUpstreams()
    await redis?.kill()
  })

  const readyz = async () => {
    const res = await send(`${gateway.statusUrl}/readyz`)
    return { status: res.status, body: JSON.parse(res.body.toString()) as unknown }
  }

  /** Probes on fresh connections, so that both workers answer: every one reports `body`. */
  const everyWorkerSays = async (body: unknown) => {
    const answers = await Promise.all(Array.from({ length: 8 }, readyz))
    return answers.every((answer) => isDeepStrictEqual(answer.body, body))
  }

  it('answers /readyz with the state of each Redis sync', async () => {
    const ready = { status: 'ready', redis: { revocations: 'ok', credentials: 'ok' } }
    // Each worker's syncs start on their own: wait until all of them report ok.
    await waitUntil(() => everyWorkerSays(ready), { what: '/readyz to report both syncs ok' })
    expect(await readyz()).toEqual({ status: 200, body: ready })
  })

  it('stays ready while redis is down, logs the outage once per worker, and recovers', async () => {
    await redis.kill()
    const down = {
      status: 'ready',
      redis: { revocations: 'redis_down', credentials: 'redis_down' },
    }
    for (let i = 0; i < 2; i++) {
      await waitUntil(async () => isDeepStrictEqual((await readyz()).body, down), {
        what: '/readyz to report redis down',
      })
    }
    expect((await readyz()).status).toBe(200)
    expect((await send(gateway.url)).status).toBe(200)
    await sleep(2500) // several polls fail meanwhile
    expect(gateway.logs.filter((line) => line.msg === OUTAGE)).toHaveLength(2)
    await redis.restart()
    await waitUntil(
      () => gateway.logs.filter((line) => line.msg === 'credential sync recovered').length === 2,
      { what: 'both workers to recover' },
    )
    expect((await readyz()).body).toEqual({
      redis: { revocations: 'ok', credentials: 'ok' },
      status: 'ready',
    })
  })
})
