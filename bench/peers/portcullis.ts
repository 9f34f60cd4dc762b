/**
 * portcullis itself as a peer: the built CLI (`dist/src/cli/main.js start`) with the config the
 * scenario wrote for the target, or any command given with `--gateway-cmd` in a plain run.
 */
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { HOST } from '../options.js'
import type { Listen } from '../scenarios/types.js'
import { plural } from './template.js'
import type { Launch, Peer, PeerEnv, PeerInput } from './types.js'

export interface PortcullisOptions {
  readonly front: 'uws' | 'node' | undefined
  readonly verifyThreads: string | undefined
  /** `--gateway-cmd` template; {config} {workers} {front} {port} {status_port} {upstream}. */
  readonly gatewayCmd: string | undefined
}

/**
 * The `"msg":"portcullis started"` line's pids (primary and workers), or undefined for any other
 * line.
 */
export function parseStartupLine(line: string): readonly number[] | undefined {
  if (!line.includes('portcullis started')) return undefined
  try {
    const parsed: unknown = JSON.parse(line)
    if (typeof parsed !== 'object' || parsed === null) return undefined
    const record = parsed as Record<string, unknown>
    if (record['msg'] !== 'portcullis started') return undefined
    const pids = record['pids']
    return Array.isArray(pids) ? pids.filter((pid): pid is number => Number.isInteger(pid)) : []
  } catch {
    return undefined
  }
}

export function createPortcullisPeer(options: PortcullisOptions): Peer {
  const cli = (env: PeerEnv) => join(env.root, 'dist/src/cli/main.js')
  return {
    name: 'portcullis',
    prepare(env) {
      if (options.gatewayCmd !== undefined) return Promise.resolve(options.gatewayCmd)
      if (!existsSync(cli(env))) {
        return Promise.reject(
          new Error(
            `${cli(env)} does not exist: the gateway CLI (src/cli/main.ts) is not built. ` +
              'Build it, or pass --gateway-cmd to measure another proxy.',
          ),
        )
      }
      return Promise.resolve('this checkout')
    },
    // Every target: the scenario wrote a portcullis config for each.
    supports: () => true,
    instanceKey: (input: PeerInput) => input.gatewayConfig,
    launch(input: PeerInput, at: Listen, env: PeerEnv, id: string): Launch {
      const config = join(env.workDir, `${id}.yaml`)
      writeFileSync(config, input.gatewayConfig(at))
      if (options.gatewayCmd !== undefined) {
        const substitutions: Record<string, string> = {
          config,
          workers: String(env.workers),
          front: options.front ?? 'uws',
          port: String(at.port),
          status_port: String(at.statusPort),
          upstream: `http://${HOST}:${env.upstream.port}`,
        }
        const [command, ...args] = options.gatewayCmd
          .trim()
          .split(/\s+/)
          .map((word) =>
            word.replace(/\{(\w+)\}/g, (whole, key: string) => substitutions[key] ?? whole),
          )
        if (command === undefined) throw new Error('--gateway-cmd is empty')
        return { command, args }
      }
      return {
        command: process.execPath,
        args: [
          cli(env),
          'start',
          '--config',
          config,
          '--workers',
          String(env.workers),
          ...(options.front === undefined ? [] : ['--front', options.front]),
          ...(options.verifyThreads === undefined
            ? []
            : ['--verify-threads', options.verifyThreads]),
        ],
        ready: parseStartupLine,
      }
    },
    describe(env) {
      if (options.gatewayCmd !== undefined) return `--gateway-cmd: ${options.gatewayCmd}`
      const verify =
        options.verifyThreads === undefined
          ? 'not set (default 0: inline)'
          : options.verifyThreads
      const processes =
        env.workers === 0 ? 'one process' : `primary + ${plural(env.workers, 'worker')}`
      return (
        `${processes} (--workers ${env.workers}), --verify-threads ${verify}, front ` +
        `${options.front ?? 'uws (default)'}; access log off, level warn; token cache at its ` +
        'default (10,000) for the repeated token, cache_size 0 for the rotation'
      )
    },
  }
}
