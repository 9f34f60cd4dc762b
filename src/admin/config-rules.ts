/**
 * The admin API's rules across config sections: its listener has a port of its own (a traffic
 * listener sharing it would put credential management one Host header away from the internet,
 * and uSockets' SO_REUSEPORT would even let both bind), and a listener without a token would
 * answer every call 401.
 */
import type { ConfigProblem } from '../errors.js'
import type { GatewayConfig } from '../config/schema.js'

export function checkAdminConfig(config: GatewayConfig): ConfigProblem[] {
  const admin = config.listeners.admin
  if (admin === undefined) return []
  const problems: ConfigProblem[] = []
  const { http, https, mtls, status } = config.listeners
  for (const [name, listener] of [
    ['http', http],
    ['https', https],
    ['mtls', mtls],
    ['status', status],
  ] as const) {
    // Port 0 takes a new port for each listener: they never meet.
    if (listener !== undefined && admin.port !== 0 && listener.port === admin.port) {
      problems.push({
        path: 'listeners.admin.port',
        reason: `${admin.port} is also the port of listeners.${name}: the admin API never shares a port with another listener`,
      })
    }
  }
  if (config.admin.tokens.length === 0) {
    problems.push({
      path: 'admin.tokens',
      reason:
        'listeners.admin is set: give the SHA-256 of at least one admin token (printf %s "$TOKEN" | sha256sum)',
    })
  }
  return problems
}
