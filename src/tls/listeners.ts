/**
 * The TLS material of every TLS listener of a config (listeners.https, listeners.mtls), loaded
 * and checked by server-tls.ts: at config load (gateway-config.ts), when a serving process starts,
 * and on each of its reloads.
 */
import type { Logger } from 'pino'
import type { GatewayConfig } from '../config/schema.js'
import { parseDuration } from '../config/units.js'
import { PortcullisError, type ConfigProblem } from '../errors.js'
import { loadServerTls, type ExpiringCertificate, type ServerTls } from './server-tls.js'

export interface ListenersTls {
  readonly https: ServerTls | null
  readonly mtls: ServerTls | null
  readonly problems: readonly ConfigProblem[]
  readonly expiring: readonly ExpiringCertificate[]
}

export function loadListenersTls(config: GatewayConfig, now = Date.now()): ListenersTls {
  const warnMs = parseDuration(config.tls.warn_expiry)
  const { https, mtls } = config.listeners
  const a = https === undefined ? null : loadServerTls(https, 'listeners.https', warnMs, now)
  const b = mtls === undefined ? null : loadServerTls(mtls, 'listeners.mtls', warnMs, now)
  return {
    https: a?.tls ?? null,
    mtls: b?.tls ?? null,
    problems: [...(a?.problems ?? []), ...(b?.problems ?? [])],
    expiring: [...(a?.expiring ?? []), ...(b?.expiring ?? [])],
  }
}

/**
 * For a serving process: the listeners' material, or PCL_ERR_TLS when a file that passed the
 * config check no longer loads (replaced in between). Expiring certificates are logged.
 */
export function serveListenersTls(config: GatewayConfig, logger: Logger | null): ListenersTls {
  const loaded = loadListenersTls(config)
  if (loaded.problems.length > 0) {
    throw new PortcullisError(
      'PCL_ERR_TLS',
      'the TLS files of a listener do not load (changed since the config check?)',
      loaded.problems,
    )
  }
  for (const { path, file, expiresAt } of loaded.expiring) {
    const days = Math.floor((expiresAt.getTime() - Date.now()) / 86_400_000)
    logger?.warn(
      { path, file, expires_at: expiresAt.toISOString(), days_left: days },
      `certificate "${file}" (${path}) expires on ${expiresAt.toISOString()}, within tls.warn_expiry`,
    )
  }
  return loaded
}
