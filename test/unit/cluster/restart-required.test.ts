import { describe, expect, it } from 'vitest'
import { restartRequired, type RestartContext } from '../../../src/cluster/restart-required.js'
import { validateConfig } from '../../../src/config/load.js'
import { GatewayConfigSchema, type GatewayConfig } from '../../../src/config/schema.js'

function config(extra: Record<string, unknown> = {}): GatewayConfig {
  return validateConfig({ upstreams: {}, routes: [], ...extra }, GatewayConfigSchema)
}

const uws: RestartContext = { front: 'uws', overridden: new Set<string>() }

function keys(started: GatewayConfig, next: GatewayConfig, context = uws): string[] {
  return restartRequired(started, next, context).map((p) => p.key)
}

describe('restartRequired', () => {
  it('names nothing when only keys a reload applies changed', () => {
    const next = config({
      upstreams: { svc: { targets: ['http://127.0.0.1:9'] } },
      limits: { max_body: '2MiB' },
      log: { level: 'debug' },
      cluster: { shutdown_grace: '3s', respawn_backoff_max: '1s' },
    })
    expect(keys(config(), next)).toEqual([])
  })

  it('names each changed leaf of the listeners, a listener added or removed by its key', () => {
    const started = config({ listeners: { http: { port: 8080 } } })
    const next = config({
      listeners: { http: { port: 9090, host: '127.0.0.1' }, status: { port: 8081 } },
    })
    expect(keys(started, next).sort()).toEqual([
      'listeners.http.host',
      'listeners.http.port',
      'listeners.status',
    ])
  })

  it("applies a TLS listener's files and names only its address", () => {
    const tls = (port: number, file: string) => ({
      listeners: {
        https: { port, cert: `${file}.pem`, key: `${file}.key` },
        mtls: { port: port + 1, cert: `${file}.pem`, key: `${file}.key`, client_ca: `${file}.ca` },
      },
    })
    expect(keys(config(tls(8443, 'a')), config(tls(8443, 'b')))).toEqual([])
    expect(keys(config(tls(8443, 'a')), config(tls(9443, 'a')))).toEqual([
      'listeners.https.port',
      'listeners.mtls.port',
    ])
    // The default http listener goes, the TLS ones come: each named once.
    expect(keys(config(), config(tls(8443, 'a')))).toEqual([
      'listeners.http',
      'listeners.https',
      'listeners.mtls',
    ])
  })

  it("names the admin listener's address, and applies its tokens", () => {
    const tokens = (digit: string) => ({ tokens: [digit.repeat(64)] })
    const started = config({ listeners: { admin: { port: 8082 } }, admin: tokens('a') })
    const next = config({ listeners: { admin: { port: 9092 } }, admin: tokens('b') })
    expect(keys(started, next)).toEqual(['listeners.admin.port'])
  })

  it('names the worker count, verify threads and every gossip key', () => {
    const next = config({
      cluster: { workers: 4, verify_threads: 2 },
      gossip: { port: 8000, bind: '127.0.0.2', seeds: ['127.0.0.3:7946'] },
    })
    expect(keys(config(), next)).toEqual([
      'cluster.workers',
      'cluster.verify_threads',
      'gossip.port',
      'gossip.bind',
      'gossip.seeds',
    ])
  })

  it('says why a restart is needed', () => {
    const [pending] = restartRequired(config(), config({ gossip: { port: 8000 } }), uws)
    expect(pending?.why).toMatch(/bind/)
  })

  it('leaves out keys a command-line flag overrides', () => {
    const context: RestartContext = { front: 'uws', overridden: new Set(['cluster.workers']) }
    expect(keys(config(), config({ cluster: { workers: 4 } }), context)).toEqual([])
  })

  it('names the head limit on the node front only, whose node:http parser takes it at start', () => {
    const next = config({ limits: { max_header_bytes: '32KiB' } })
    expect(keys(config(), next)).toEqual([])
    const node: RestartContext = { front: 'node', overridden: new Set<string>() }
    expect(keys(config(), next, node)).toEqual(['limits.max_header_bytes'])
  })
})
