/**
 * HAProxy (Debian's 2.6) from bench/peers/haproxy.cfg. JWTs are checked with its native
 * `jwt_verify` converter, in the rules of HAProxy's own JWT guide (alg, iss and aud from
 * `jwt_header_query`/`jwt_payload_query`, signature with the issuer's PEM, exp against `date()`).
 * HAProxy keeps no verified-token cache: every request pays the signature check, cached or not,
 * so the `cache` flag of the work does not change its config (one instance serves both streams).
 *
 * HAProxy 2.6's jwt_verify knows RS*, PS*, ES* and HS*, not EdDSA (a valid Ed25519 token gets a
 * 401 here). The ratelimit scenario's hook is `rules()`: a stick-table section and
 * `track-sc0`/`deny` rules in the frontend.
 *
 * TLS work terminates on the bind line (`ssl crt`, and `ca-file … verify required` for mutual
 * TLS) with the bind options of Mozilla's "intermediate" HAProxy configuration, the profile
 * portcullis's listeners follow (src/tls/profile.ts): the same cipher lists, client preference.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { TLS12_CIPHERS, TLS13_SUITES } from '../../src/tls/profile.js'
import type { GatewayWork, TlsWork } from '../scenarios/types.js'
import { ensureDebianBinary, versionLine } from './install.js'
import { renderTemplate } from './template.js'
import type { Peer, PeerEnv } from './types.js'

let binary = 'haproxy'

interface Rules {
  /** Options after the bind address (TLS). */
  readonly bind: string
  /** Lines of the frontend, before `default_backend`. */
  readonly frontend: readonly string[]
  /** Whole sections after the backend, e.g. a stick-table's own `backend`. */
  readonly sections: readonly string[]
}

/**
 * The bind options of TLS work; `dir`: where the certificate and key go as the one PEM file
 * `crt` reads.
 */
function tlsBind(work: TlsWork, dir: string): string {
  const pem = join(dir, 'server.pem')
  writeFileSync(pem, `${readFileSync(work.certFile, 'utf8')}${readFileSync(work.keyFile, 'utf8')}`)
  // Mozilla intermediate for HAProxy: ssl-min-ver TLSv1.2, its two cipher lists,
  // prefer-client-ciphers, no-tls-tickets; ALPN http/1.1 as portcullis offers.
  const options = [
    `ssl crt ${pem} alpn http/1.1 ssl-min-ver TLSv1.2`,
    `ciphers ${TLS12_CIPHERS} ciphersuites ${TLS13_SUITES} prefer-client-ciphers no-tls-tickets`,
    ...(work.clientCaFile === undefined ? [] : [`ca-file ${work.clientCaFile} verify required`]),
  ]
  return ` ${options.join(' ')}`
}

function rules(work: GatewayWork, dir: string): Rules {
  switch (work.kind) {
    case 'proxy':
      return { bind: '', frontend: [], sections: [] }
    case 'tls':
      return { bind: tlsBind(work, dir), frontend: [], sections: [] }
    case 'jwt': {
      // Each check answers 401 like the other gateways (the guide uses deny's default 403).
      const deny = 'http-request deny deny_status 401'
      return {
        frontend: [
          `${deny} unless { req.hdr(authorization) -m found }`,
          "http-request set-var(txn.alg) http_auth_bearer,jwt_header_query('$.alg')",
          "http-request set-var(txn.iss) http_auth_bearer,jwt_payload_query('$.iss')",
          "http-request set-var(txn.aud) http_auth_bearer,jwt_payload_query('$.aud')",
          "http-request set-var(txn.exp) http_auth_bearer,jwt_payload_query('$.exp','int')",
          `${deny} unless { var(txn.alg) -m str ${work.alg} }`,
          `${deny} unless { var(txn.iss) -m str ${work.issuer} }`,
          `${deny} unless { var(txn.aud) -m str ${work.audience} }`,
          `${deny} unless { http_auth_bearer,jwt_verify(txn.alg,"${work.publicKeyFile}") -m int 1 }`,
          'http-request set-var(txn.now) date()',
          `${deny} if { var(txn.exp),sub(txn.now) -m int lt 0 }`,
        ],
        bind: '',
        sections: [],
      }
    }
    // ratelimit (later): sections `backend st_rate` + `stick-table type ip size 100k expire 60s
    // store http_req_rate(10s)`; frontend `http-request track-sc0 src table st_rate` and
    // `http-request deny deny_status 429 if { sc_http_req_rate(0) gt N }`.
  }
}

export const haproxy: Peer = {
  name: 'haproxy',
  prepare(env) {
    binary = ensureDebianBinary('haproxy', 'haproxy', env.log)
    return Promise.resolve(versionLine(binary, ['-v'], /HAProxy version \S+/))
  },
  supports(work) {
    switch (work?.kind) {
      case 'proxy':
      case 'tls':
        return true
      case 'jwt':
        return work.alg === 'EdDSA'
          ? 'HAProxy 2.6 jwt_verify has no EdDSA (RS/PS/ES/HS only)'
          : true
      case undefined:
        return 'portcullis-only target'
    }
  },
  instanceKey(input) {
    // No token cache to turn off: the cached and uncached streams share one instance.
    if (input.work?.kind === 'jwt') return JSON.stringify({ ...input.work, cache: undefined })
    return JSON.stringify(input.work)
  },
  launch(input, at, env, id) {
    const dir = join(env.workDir, id)
    mkdirSync(dir, { recursive: true })
    const { bind, frontend, sections } = rules(input.work!, dir)
    const cfg = renderTemplate(env.root, 'haproxy.cfg', join(dir, 'haproxy.cfg'), {
      threads: Math.max(1, env.workers),
      listen: `${at.host}:${at.port}`,
      bind,
      upstream: `${env.upstream.host}:${env.upstream.port}`,
      frontend: frontend.map((line) => `  ${line}`).join('\n'),
      sections: sections.join('\n'),
    })
    // -db: foreground, no daemon, so it stays the harness's child and its group.
    return { command: binary, args: ['-db', '-f', cfg] }
  },
  describe: (env: PeerEnv) =>
    `one process, nbthread ${Math.max(1, env.workers)}, http-reuse always, JWT by jwt_verify ` +
    'with the rules of its JWT guide (no token cache exists), TLS with the bind options of ' +
    "Mozilla's intermediate profile (verify required for mutual TLS), no logging",
}
