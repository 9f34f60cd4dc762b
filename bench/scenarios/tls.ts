/**
 * tls and tls-handshake (issue 17): what terminating TLS costs, against plain HTTP in the same run
 * and against HAProxy (`bind … ssl crt`, `verify required`) with `--peers`.
 *
 * - `tls`: keep-alive requests (`GET /bench`, auth none) on the plain `listeners.http`, on
 *   `listeners.https` (uWS SSLApp) and on `listeners.mtls` (node:tls, a client certificate on every
 *   connection). Per request, TLS adds the record layer only; the handshakes happen once per
 *   connection, before the window.
 * - `tls-handshake`: new connections, each a full handshake (no session resumption) and no
 *   request, on `listeners.https` with an RSA-2048 and with a P-256 server certificate, and on
 *   `listeners.mtls` (P-256 server and client certificates).
 *
 * Certificates are made at bench time (scripts/pki.ts, `openssl`) in the scenario's temp dir: a
 * P-256 CA, the two server certificates for `localhost`/127.0.0.1, and a client certificate.
 */
import { createPki, type Issued } from '../../scripts/pki.js'
import type {
  BenchRequest,
  Listen,
  RatioCheck,
  ScenarioContext,
  Scenario,
  ScenarioTarget,
  TargetTls,
  TlsWork,
} from './types.js'

const BENCH_GET: BenchRequest = { method: 'GET', path: '/bench' }
const SERVER_NAME = 'localhost'

/** The certificates of one run. */
interface Material {
  readonly caFile: string
  readonly rsa: Issued
  readonly p256: Issued
  readonly client: Issued
}

function makeMaterial(ctx: ScenarioContext): Material {
  const pki = createPki(ctx.workDir)
  const ca = pki.ca('portcullis bench CA')
  const server = { cn: SERVER_NAME, dns: [SERVER_NAME], ips: ['127.0.0.1'] }
  return {
    caFile: ca.certFile,
    rsa: pki.issue(ca, { ...server, keyType: 'rsa' }),
    p256: pki.issue(ca, { ...server, keyType: 'ec' }),
    client: pki.issue(ca, { cn: 'bench-client', client: true }),
  }
}

type ListenerKind = 'http' | 'https' | 'mtls'

/** A portcullis config with one traffic listener of `kind` on `at.port`, proxying `/*`. */
function tlsConfig(
  ctx: ScenarioContext,
  at: Listen,
  kind: ListenerKind,
  server: Issued,
  caFile: string,
): string {
  const listener =
    kind === 'http'
      ? `{ host: ${at.host}, port: ${at.port} }`
      : `{ host: ${at.host}, port: ${at.port}, cert: ${server.chainFile}, key: ${server.keyFile}` +
        `${kind === 'mtls' ? `, client_ca: ${caFile}` : ''} }`
  // Access logging off and level warn, as every bench config (passthrough.ts's preamble).
  return `listeners:
  ${kind}: ${listener}
  status: { host: ${at.host}, port: ${at.statusPort} }
log: { level: warn, access: false }
upstreams:
  bench: { targets: [${ctx.upstreamOrigin}] }
routes:
  - name: bench
    match: { paths: [/*] }
    upstream: bench
    auth: none
`
}

/** A target on a TLS listener of portcullis and, with --peers, on HAProxy's `ssl` bind. */
function tlsTarget(
  ctx: ScenarioContext,
  material: Material,
  name: string,
  kind: 'https' | 'mtls',
  server: Issued,
  load: 'requests' | 'handshakes',
): ScenarioTarget {
  const mutual = kind === 'mtls'
  const work: TlsWork = {
    kind: 'tls',
    certFile: server.chainFile,
    keyFile: server.keyFile,
    ...(mutual ? { clientCaFile: material.caFile } : {}),
  }
  const tls: TargetTls = {
    caFile: material.caFile,
    servername: SERVER_NAME,
    ...(mutual
      ? { client: { certFile: material.client.certFile, keyFile: material.client.keyFile } }
      : {}),
  }
  return {
    name,
    via: 'gateway',
    requests: [BENCH_GET],
    work,
    tls,
    load,
    gatewayConfig: (at) => tlsConfig(ctx, at, kind, server, material.caFile),
  }
}

/** Issue 17: keep-alive TLS at most 1.25× plain passthrough's CPU per request. */
const KEEP_ALIVE_MAX = 1.25
/** Issue 17: full handshakes per core at least 0.8× HAProxy's. */
const HANDSHAKES_MIN = 0.8

/** Each TLS target against plain HTTP through the same gateway: issue 17's bound, and references. */
const KEEP_ALIVE_CHECKS: readonly RatioCheck[] = [
  { label: 'TLS', target: 'tls', max: KEEP_ALIVE_MAX },
  { label: 'mutual TLS (no bound in the issue)', target: 'mtls' },
].flatMap(({ label, target, max }) =>
  ['portcullis', 'haproxy'].map((peer) => ({
    label: `${label}, CPU per keep-alive request against plain HTTP`,
    subject: { target, peer },
    baseline: { target: 'passthrough', peer },
    figure: 'cpu' as const,
    ...(peer === 'portcullis' && max !== undefined ? { max } : {}),
  })),
)

/** portcullis's handshakes per core against HAProxy's, per certificate. */
const HANDSHAKE_CHECKS: readonly RatioCheck[] = [
  { target: 'handshake-rsa2048', min: HANDSHAKES_MIN },
  { target: 'handshake-p256', min: HANDSHAKES_MIN },
  { target: 'handshake-mtls-p256' },
].map(({ target, min }) => ({
  label: `full handshakes per core against HAProxy's${min === undefined ? ' (no bound in the issue)' : ''}`,
  subject: { target },
  baseline: { target, peer: 'haproxy' },
  figure: 'per-core' as const,
  ...(min === undefined ? {} : { min }),
}))

export const tls: Scenario = {
  name: 'tls',
  // Run with --peers by name (--scenario tls,tls-handshake --peer haproxy --peer portcullis):
  // only HAProxy of the peers terminates TLS here.
  peers: false,
  description:
    'GET /bench, auth none, on keep-alive connections: plain HTTP (passthrough), TLS on ' +
    'listeners.https (uWS SSLApp) and mutual TLS on listeners.mtls (node:tls), P-256 certificates',
  prepare(ctx) {
    const material = makeMaterial(ctx)
    const plain = (at: Listen) => tlsConfig(ctx, at, 'http', material.p256, material.caFile)
    return Promise.resolve({
      gatewayConfig: plain,
      targets: [
        { name: 'passthrough', via: 'gateway', requests: [BENCH_GET], work: { kind: 'proxy' } },
        tlsTarget(ctx, material, 'tls', 'https', material.p256, 'requests'),
        tlsTarget(ctx, material, 'mtls', 'mtls', material.p256, 'requests'),
      ],
      checks: KEEP_ALIVE_CHECKS,
    })
  },
}

export const tlsHandshake: Scenario = {
  name: 'tls-handshake',
  peers: false,
  description:
    'new TLS connections, each a full handshake (no resumption) and no request: listeners.https ' +
    'with an RSA-2048 and a P-256 certificate, listeners.mtls with P-256 server and client ' +
    'certificates',
  prepare(ctx) {
    const material = makeMaterial(ctx)
    const https = (at: Listen) => tlsConfig(ctx, at, 'https', material.p256, material.caFile)
    return Promise.resolve({
      gatewayConfig: https,
      targets: [
        tlsTarget(ctx, material, 'handshake-rsa2048', 'https', material.rsa, 'handshakes'),
        tlsTarget(ctx, material, 'handshake-p256', 'https', material.p256, 'handshakes'),
        tlsTarget(ctx, material, 'handshake-mtls-p256', 'mtls', material.p256, 'handshakes'),
      ],
      checks: HANDSHAKE_CHECKS,
    })
  },
}
