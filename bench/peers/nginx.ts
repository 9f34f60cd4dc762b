/**
 * nginx (Debian's nginx-light) as a plain reverse proxy: bench/peers/nginx.conf. Open-source nginx
 * verifies no JWT (`auth_jwt` is NGINX Plus only), so it takes the proxy work alone: the floor of a
 * C proxy on this machine.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { GatewayWork } from '../scenarios/types.js'
import { ensureDebianBinary, versionLine } from './install.js'
import { plural, renderTemplate } from './template.js'
import type { Peer, PeerEnv } from './types.js'

let binary = 'nginx'

export const nginx: Peer = {
  name: 'nginx',
  prepare(env) {
    binary = ensureDebianBinary('nginx', 'nginx-light', env.log)
    return Promise.resolve(versionLine(binary, ['-v'], /nginx\/\S+/))
  },
  supports(work: GatewayWork | undefined) {
    switch (work?.kind) {
      case 'proxy':
        return true
      case 'jwt':
        return 'open-source nginx has no JWT verification (auth_jwt is NGINX Plus only)'
      case 'tls':
        return 'TLS is compared with HAProxy alone (issue 17)'
      case undefined:
        return 'portcullis-only target'
    }
  },
  instanceKey: (input) => JSON.stringify(input.work),
  launch(_input, at, env, id) {
    const dir = join(env.workDir, id)
    mkdirSync(dir, { recursive: true })
    const conf = renderTemplate(env.root, 'nginx.conf', join(dir, 'nginx.conf'), {
      workers: Math.max(1, env.workers),
      dir,
      upstream: `${env.upstream.host}:${env.upstream.port}`,
      listen: `${at.host}:${at.port}`,
      // Per-work server directives go here (e.g. a later api-key check).
      server: '',
    })
    // -e: errors to stderr before the config is read, so no log file outside the temp dir.
    return { command: binary, args: ['-e', 'stderr', '-p', dir, '-c', conf] }
  },
  describe: (env: PeerEnv) =>
    `master + ${plural(Math.max(1, env.workers), 'worker')} (worker_processes), proxy_pass to an ` +
    'upstream block with keepalive 64, proxy_http_version 1.1, Connection ""; keepalive_requests ' +
    'raised on both sides; access_log off',
}
