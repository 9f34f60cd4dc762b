/**
 * Issue 5: two gateways on two hosts share one rate limit over gossip. The hosts are network
 * namespaces joined by a veth pair (test/helpers/netns.ts): each runs a gateway, bound to its
 * address on that link, and an upstream on its own loopback; gossip is signed, seeded with the
 * other host's address and crosses the link. The test sends its requests through a client inside
 * each namespace. Skipped only where `ip netns add` is refused (not root, no iproute2); the
 * loopback version is rate-limit-gossip.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  startGateway,
  stopAllGateways,
  type ConfigInput,
  type Gateway,
  type LogLine,
} from '../helpers/gateway.js'
import {
  createLinkedHosts,
  netnsRefusal,
  type LinkedHosts,
  type NetnsClient,
  type NetnsHost,
} from '../helpers/netns.js'
import { sleep } from '../helpers/wait.js'

const refusal = netnsRefusal()

/** Each namespace has its own ports: fixed ones clash with nothing. */
const HTTP_PORT = 8080
const UPSTREAM_PORT = 3000
const GOSSIP_PORT = 7946
/** Hourly windows (aligned to the epoch): a run of a few seconds almost never straddles two. */
const LIMIT = 20
/** Rounds of one request to each gateway at once: 3 × LIMIT in all, over about half a second. */
const ROUNDS = 30
/** Gossip must carry a secret to bind an address other than loopback. */
const SECRET = randomBytes(24).toString('base64')

function hostConfig(self: NetnsHost, other: NetnsHost): ConfigInput {
  return {
    listeners: { http: { host: self.address, port: HTTP_PORT } },
    upstreams: { echo: { targets: [`http://127.0.0.1:${UPSTREAM_PORT}`] } },
    gossip: {
      port: GOSSIP_PORT,
      bind: self.address,
      seeds: [`${other.address}:${GOSSIP_PORT}`],
      secret: SECRET,
      interval: '20ms',
      member_timeout: '400ms',
    },
    rate_limits: {
      per_client: { key: 'header:x-client', algorithm: 'fixed_window', rate: `${LIMIT}/h` },
    },
    routes: [
      {
        name: 'api',
        match: { paths: ['/*'] },
        upstream: 'echo',
        auth: 'none',
        rate_limit: 'per_client',
      },
    ],
  }
}

describe.skipIf(refusal !== null)(
  `rate limits shared by gossip between two hosts${refusal === null ? '' : ` (skipped: ${refusal})`}`,
  { timeout: 60_000 },
  () => {
    let hosts: LinkedHosts
    const gateways: Gateway[] = []
    const clients: NetnsClient[] = []

    beforeAll(async () => {
      hosts = createLinkedHosts()
      const { a, b } = hosts
      await Promise.all([a.startUpstream(UPSTREAM_PORT), b.startUpstream(UPSTREAM_PORT)])
      gateways.push(
        ...(await Promise.all([
          startGateway({ netns: a.netns, workers: 1, config: hostConfig(a, b) }),
          startGateway({ netns: b.netns, workers: 1, config: hostConfig(b, a) }),
        ])),
      )
      clients.push(a.startClient(), b.startClient())
    }, 45_000)

    afterAll(async () => {
      await stopAllGateways()
      await hosts?.destroy()
    })

    /**
     * Resolves when each gateway has logged the other host's member joining. A member joins on
     * the first datagram that passes the MAC check, so this is a signed heartbeat that left the
     * other namespace from its address on the link.
     */
    const heardEachOther = () => {
      const joined = (from: NetnsHost) => (line: LogLine) =>
        line.msg === 'gossip member joined' && line['address'] === `${from.address}:${GOSSIP_PORT}`
      return Promise.all([
        gateways[0]!.waitForLog(joined(hosts.b)),
        gateways[1]!.waitForLog(joined(hosts.a)),
      ])
    }

    it('hears the other host at its address on the link', async () => {
      await heardEachOther()
      expect(gateways.map((g) => g.url)).toEqual([
        `http://${hosts.a.address}:${HTTP_PORT}`,
        `http://${hosts.b.address}:${HTTP_PORT}`,
      ])
    })

    it('admits the limit once across both hosts, not once per host', async () => {
      await heardEachOther()
      // Each member learns how many peers it has every 250 ms (rate-limit-sharing.ts); until
      // then it does not cap what it admits between two gossip sends.
      await sleep(400)
      const admitted = [0, 0]
      for (let round = 0; round < ROUNDS; round++) {
        const statuses = await Promise.all(
          gateways.map((gateway, i) =>
            clients[i]!.get(`${gateway.url}/x`, { 'x-client': 'shared' }),
          ),
        )
        statuses.forEach((status, i) => {
          if (status === 200) admitted[i]!++
          else expect(status).toBe(429)
        })
        await sleep(10)
      }
      const total = admitted[0]! + admitted[1]!
      // Alone, each gateway would admit LIMIT (2 × LIMIT in all); with gossip the sum is LIMIT,
      // give or take what both admit in the same interval before either hears the other.
      expect(admitted[0]).toBeGreaterThan(0)
      expect(admitted[1]).toBeGreaterThan(0)
      expect(total).toBeGreaterThanOrEqual(LIMIT)
      expect(total).toBeLessThanOrEqual(LIMIT + 3)
    })
  },
)
