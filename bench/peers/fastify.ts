/**
 * fastify 5 with @fastify/http-proxy and @fastify/jwt, on node:cluster: what a Node team would
 * assemble instead of portcullis (bench/peers/fastify-gateway.mjs). Its packages come from
 * bench/peers/package.json, installed on demand.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { GatewayWork } from '../scenarios/types.js'
import { ensureNodePeers } from './install.js'
import { plural } from './template.js'
import type { Peer, PeerEnv } from './types.js'

const versionOf = (root: string, name: string): string => {
  const file = join(root, 'bench/peers/node_modules', name, 'package.json')
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
}

export const fastify: Peer = {
  name: 'fastify',
  prepare(env) {
    ensureNodePeers(env.root, env.log)
    const names = ['fastify', '@fastify/http-proxy', '@fastify/jwt']
    return Promise.resolve(names.map((name) => `${name} ${versionOf(env.root, name)}`).join(', '))
  },
  supports(work: GatewayWork | undefined) {
    switch (work?.kind) {
      case 'proxy':
      case 'jwt':
        return true
      case 'tls':
        return 'TLS is compared with HAProxy alone (issue 17)'
      case undefined:
        return 'portcullis-only target'
    }
  },
  instanceKey: (input) => JSON.stringify(input.work),
  launch(input, at, env, id) {
    const work = input.work!
    const config = {
      host: at.host,
      port: at.port,
      upstream: `http://${env.upstream.host}:${env.upstream.port}`,
      workers: env.workers,
      ...(work.kind === 'jwt'
        ? {
            jwt: {
              alg: work.alg,
              publicKeyFile: work.publicKeyFile,
              issuer: work.issuer,
              audience: work.audience,
              cache: work.cache,
            },
          }
        : {}),
    }
    const file = join(env.workDir, `${id}.json`)
    writeFileSync(file, JSON.stringify(config))
    return {
      command: process.execPath,
      args: [join(env.root, 'bench/peers/fastify-gateway.mjs'), file],
      ready: (line) => {
        if (!line.startsWith('{"event":"ready"')) return undefined
        return (JSON.parse(line) as { pids: number[] }).pids
      },
    }
  },
  describe: (env: PeerEnv) =>
    `${env.workers > 0 ? `node:cluster primary + ${plural(env.workers, 'worker')}` : 'one process'}, ` +
    '@fastify/http-proxy (reply-from, undici pool), @fastify/jwt onRequest hook (fast-jwt; its ' +
    'cache of 10,000 tokens on for the repeated token, off for the rotation); logger off',
}
