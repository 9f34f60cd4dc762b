/**
 * Issue 17: certificates replaced on SIGHUP under traffic lose no request. The gateway runs in a
 * network namespace of its own (test/helpers/netns.ts) with the kernel settings its front needs:
 * on the uws front a reload binds a new SSLApp beside the old one and closes the old listen
 * socket, which loses nothing only with `net.ipv4.tcp_migrate_req=1` (docs/architecture.md, the
 * fronts table); the node front swaps its secure context and needs nothing. Clients inside the
 * namespace open a new TLS connection for every request (with and without SNI) while others keep
 * theirs alive, across several reloads that each swap the default and the SNI certificate.
 *
 * Skipped only outside CI where `ip netns add` is refused (not root, no iproute2); CI runs as root
 * with iproute2 (.ci/run), where a refusal fails the suite.
 */
import { writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPki, type Authority, type Pki } from '../../scripts/pki.js'
import { FRONTS, startGateway, stopAllGateways, type ConfigInput } from '../helpers/gateway.js'
import { createIsolatedHost, netnsRefusal, type IsolatedHost } from '../helpers/netns.js'
import { startTlsTraffic, type TlsTraffic } from '../helpers/tls-traffic.js'

const refusal = netnsRefusal()
const SKIP = refusal !== null && process.env['CI'] === undefined

/** The namespace has its own ports: fixed ones clash with nothing. */
const HTTP_PORT = 8080
const HTTPS_PORT = 8443
const UPSTREAM_PORT = 3000
/** The SNI name of the listener's second certificate. */
const SNI_NAME = 'api.test'
/** SIGHUPs, each swapping both certificates for a new pair. */
const RELOADS = 4
/** New connections in a row that must show a reload's certificates before the next one. */
const SETTLED = 20
/** Generous: the primary checks a config on a thread that loads its modules afresh. */
const RELOAD_TIMEOUT_MS = 60_000
const SETTLE_TIMEOUT_MS = 30_000
/** Hands connections queued on a closed SO_REUSEPORT listen socket to another of its group. */
const MIGRATE_REQ = 'net.ipv4.tcp_migrate_req'

let pki: Pki
let ca: Authority

beforeAll(() => {
  pki = createPki()
  ca = pki.ca('reload test CA')
})

afterAll(() => pki?.cleanup())

interface Live {
  readonly cert: string
  readonly key: string
  readonly sniCert: string
  readonly sniKey: string
}

/** Generation `n`'s certificates in the live files, as a renewal rewrites them in place. */
function install(live: Live, n: number): { readonly main: string; readonly sni: string } {
  const main = pki.issue(ca, { cn: `g${n}.default.test` })
  const sni = pki.issue(ca, { cn: `g${n}.${SNI_NAME}`, dns: [SNI_NAME] })
  writeFileSync(live.cert, main.chain)
  writeFileSync(live.key, main.key)
  writeFileSync(live.sniCert, sni.chain)
  writeFileSync(live.sniKey, sni.key)
  return { main: `g${n}.default.test`, sni: `g${n}.${SNI_NAME}` }
}

function config(live: Live): ConfigInput {
  return {
    listeners: {
      http: { host: '127.0.0.1', port: HTTP_PORT },
      https: {
        host: '127.0.0.1',
        port: HTTPS_PORT,
        cert: live.cert,
        key: live.key,
        certificates: [{ hosts: [SNI_NAME], cert: live.sniCert, key: live.sniKey }],
      },
    },
    upstreams: { up: { targets: [`http://127.0.0.1:${UPSTREAM_PORT}`] } },
    routes: [{ name: 'all', match: { paths: ['/*'] }, upstream: 'up', auth: 'none' }],
    // The traffic's answers are counted by the test: access lines would only take CPU.
    log: { access: false },
  }
}

describe.skipIf(SKIP)(
  `certificate reload under traffic in a network namespace${SKIP ? ` (skipped: ${refusal})` : ''}`,
  () => {
    describe.each(FRONTS)('--front %s', (front) => {
      it('loses no request on new or kept-alive connections and serves each new certificate', async () => {
        // The node front needs no setting: proving it without the sysctl keeps it honest.
        const host: IsolatedHost = createIsolatedHost(front === 'uws' ? { [MIGRATE_REQ]: '1' } : {})
        let traffic: TlsTraffic | null = null
        try {
          await host.startUpstream(UPSTREAM_PORT)
          const live: Live = {
            cert: pki.file(`live-${front}.pem`, ''),
            key: pki.file(`live-${front}.key`, ''),
            sniCert: pki.file(`live-sni-${front}.pem`, ''),
            sniKey: pki.file(`live-sni-${front}.key`, ''),
          }
          const first = install(live, 0)
          // Two workers: each has its own listen socket in the port's SO_REUSEPORT group.
          const gw = await startGateway({
            netns: host.netns,
            front,
            workers: 2,
            config: config(live),
          })
          // Nothing to warn of: the setting is on (uws), or not needed (node).
          expect(gw.logs.filter((l) => l['sysctl'] === MIGRATE_REQ)).toEqual([])
          traffic = startTlsTraffic(host, {
            port: HTTPS_PORT,
            servername: SNI_NAME,
            fresh: 4,
            kept: 2,
            maxRequests: 100_000,
            maxMs: 240_000,
          })
          await traffic.settledOn(first.main, false, SETTLED, SETTLE_TIMEOUT_MS)
          await traffic.settledOn(first.sni, true, SETTLED, SETTLE_TIMEOUT_MS)
          for (let n = 1; n <= RELOADS; n++) {
            const next = install(live, n)
            expect((await gw.reload(config(live), RELOAD_TIMEOUT_MS)).msg).toBe('config reloaded')
            await Promise.all([
              traffic.settledOn(next.main, false, SETTLED, SETTLE_TIMEOUT_MS),
              traffic.settledOn(next.sni, true, SETTLED, SETTLE_TIMEOUT_MS),
            ])
          }
          const { answers, failures } = await traffic.stop()
          traffic = null
          expect(failures).toEqual([])
          // Kept-alive connections were never dropped: every answer came on the connection opened
          // before the first reload, with its certificate.
          const kept = answers.filter((a) => !a.fresh)
          expect(kept.length).toBeGreaterThan(RELOADS)
          expect(new Set(kept.map((a) => a.cn))).toEqual(new Set([first.main, first.sni]))
        } finally {
          await traffic?.stop()
          await stopAllGateways()
          await host.destroy()
        }
      }, 300_000)
    })

    it('warns once at start when the uws front serves https without the setting', async () => {
      const host = createIsolatedHost()
      try {
        const live: Live = {
          cert: pki.file('warn.pem', ''),
          key: pki.file('warn.key', ''),
          sniCert: pki.file('warn-sni.pem', ''),
          sniKey: pki.file('warn-sni.key', ''),
        }
        install(live, 0)
        const gw = await startGateway({ netns: host.netns, workers: 2, config: config(live) })
        const warnings = gw.logs.filter((l) => l['sysctl'] === MIGRATE_REQ)
        expect(warnings).toHaveLength(1)
        expect(warnings[0]).toMatchObject({ level: 'warn', role: 'primary', value: '0' })
        expect(String(warnings[0]!.msg)).toContain(`${MIGRATE_REQ} is off`)
      } finally {
        await stopAllGateways()
        await host.destroy()
      }
    }, 60_000)
  },
)
