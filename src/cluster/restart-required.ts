/**
 * What a reload cannot apply. Listeners are bound, workers forked, verify threads started and
 * gossip members bound once, at start; a reload that changes them keeps the running values, and
 * the operator must be told which, instead of "config reloaded".
 */
import { isDeepStrictEqual } from 'node:util'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../config/schema.js'

/**
 * Config sections only read at start, each with why. Every other key applies on reload: TLS
 * listeners' files (certificates, keys, client_ca, crl, verify_depth), routes,
 * upstreams, issuers, revocation, rate limits, redis, limits (node:http keeps its head limit
 * below), log, tracing (the SDK is loaded on the reload that sets it), and the cluster's shutdown grace and respawn backoff (read by the primary when
 * used).
 */
const STARTUP_ONLY: readonly StartupOnly[] = [
  // A TLS listener's certificates, keys, CA bundle and CRLs are read again on every reload.
  { path: ['listeners', 'http'], why: 'listeners are bound at start' },
  { path: ['listeners', 'status'], why: 'listeners are bound at start' },
  { path: ['listeners', 'admin'], why: 'listeners are bound at start' },
  { path: ['listeners', 'https'], only: ['host', 'port'], why: 'listeners are bound at start' },
  { path: ['listeners', 'mtls'], only: ['host', 'port'], why: 'listeners are bound at start' },
  { path: ['cluster', 'workers'], why: 'workers are forked at start' },
  { path: ['cluster', 'verify_threads'], why: 'verify threads are started with each worker' },
  { path: ['gossip'], why: 'gossip members bind and find their peers at start' },
  { path: ['log', 'audit_file'], why: 'the audit file is opened at start' },
  { path: ['log', 'audit_chain_key'], why: 'each audit chain is keyed once, at start' },
]

interface StartupOnly {
  readonly path: readonly string[]
  /** Only these keys of the section (its presence always counts); default: all of it. */
  readonly only?: readonly string[]
  readonly why: string
}

/** The node front's node:http parser takes its head limit when the listener is created. */
const NODE_FRONT_STARTUP_ONLY = [
  { path: ['limits', 'max_header_bytes'], why: 'node:http takes its head limit at start' },
]

export interface RestartContext {
  readonly front: 'uws' | 'node'
  /** Config keys a command-line flag overrides (`cluster.workers` under --workers): not compared. */
  readonly overridden: ReadonlySet<string>
}

/** A key whose new value waits for a restart, and why. */
export interface PendingKey {
  /** `listeners.http.port`, `gossip.seeds`. */
  readonly key: string
  readonly why: string
}

/**
 * The keys only read at start whose value in `next` differs from the one the process started
 * with. Compared with the config of the start, not of the last reload: a change the last reload
 * could not apply is still not applied.
 */
export function restartRequired(
  started: GatewayConfig,
  next: GatewayConfig,
  context: RestartContext,
): PendingKey[] {
  const sections: readonly StartupOnly[] =
    context.front === 'node' ? [...STARTUP_ONLY, ...NODE_FRONT_STARTUP_ONLY] : STARTUP_ONLY
  const pending: PendingKey[] = []
  for (const { path, only, why } of sections) {
    const key = path.join('.')
    if (context.overridden.has(key)) continue
    const changed: string[] = []
    const [a, b] = [valueAt(started, path), valueAt(next, path)]
    if (only !== undefined && isRecord(a) && isRecord(b)) {
      for (const name of only) changedLeaves(a[name], b[name], `${key}.${name}`, changed)
    } else changedLeaves(a, b, key, changed)
    for (const leaf of changed) pending.push({ key: leaf, why })
  }
  return pending
}

/**
 * The log line of an applied reload: `config reloaded`, or, when some keys need a restart, a
 * warning that names each of them and says the rest was applied.
 */
export function logReloaded(
  logger: Logger,
  fields: Record<string, unknown>,
  pending: readonly PendingKey[],
): void {
  if (pending.length === 0) {
    logger.info(fields, 'config reloaded')
    return
  }
  const keys = pending.map((p) => `${p.key} (${p.why})`).join(', ')
  logger.warn(
    { ...fields, restart_required: pending.map((p) => p.key) },
    `config partly reloaded: restart required for ${keys}; these keep the values of the ` +
      'start, everything else was applied',
  )
}

function valueAt(config: GatewayConfig, path: readonly string[]): unknown {
  let node: unknown = config
  for (const key of path) {
    node = isRecord(node) ? node[key] : undefined
  }
  return node
}

/** Pushes the path of every leaf that differs: `listeners.http.port`, not all of `listeners`. */
function changedLeaves(a: unknown, b: unknown, path: string, out: string[]): void {
  if (isDeepStrictEqual(a, b)) return
  if (isRecord(a) && isRecord(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      changedLeaves(a[key], b[key], `${path}.${key}`, out)
    }
    return
  }
  out.push(path)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
