/**
 * Whether the kernel keeps a certificate reload of the uws front lossless. uWS 20.30 cannot
 * change a running SSLApp's default certificate, so a reload binds a new SSLApp beside the old
 * one and closes the old listen socket (uws.ts updateTls). Linux resets the connections still
 * queued on a closed SO_REUSEPORT socket unless `net.ipv4.tcp_migrate_req` (Linux ≥ 5.14, a
 * setting of each network namespace) hands them to another socket of the port. The primary reads
 * it once at start, so an operator learns of it before a renewal resets a few handshakes.
 */
import { readFileSync } from 'node:fs'

export const MIGRATE_REQ_SYSCTL = 'net.ipv4.tcp_migrate_req'
export const MIGRATE_REQ_FILE = '/proc/sys/net/ipv4/tcp_migrate_req'

/** The warning to log: its fields and its message. */
export interface MigrateReqWarning {
  readonly fields: {
    readonly sysctl: string
    /** null: the kernel has no such setting (before Linux 5.14, or not Linux). */
    readonly value: string | null
    readonly listener: string
  }
  readonly message: string
}

/** The setting's value, or null where the kernel has none. */
export function readMigrateReq(file = MIGRATE_REQ_FILE): string | null {
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    return null
  }
}

/**
 * The warning for a uws front whose https listener a reload replaces while `value` (the
 * setting, as {@link readMigrateReq} read it) leaves its queue unprotected; null when there is
 * nothing to say: no https listener, or one on `proxy_protocol` (served by node:https, which
 * swaps its certificates in place), or the setting on.
 */
export function migrateReqWarning(
  listeners: { readonly https?: { readonly proxy_protocol: boolean } | undefined },
  value: string | null,
): MigrateReqWarning | null {
  const https = listeners.https
  if (https === undefined || https.proxy_protocol || value === '1') return null
  const state = value === null ? 'is not available on this kernel (Linux 5.14 added it)' : 'is off'
  return {
    fields: { sysctl: MIGRATE_REQ_SYSCTL, value, listener: 'listeners.https' },
    message:
      `${MIGRATE_REQ_SYSCTL} ${state}: on a certificate reload (SIGHUP) the uws front replaces ` +
      "the https listener's socket, and connections queued on the old one at that instant are " +
      `reset; set ${MIGRATE_REQ_SYSCTL}=1 to hand them to the new socket, or run --front node`,
  }
}
