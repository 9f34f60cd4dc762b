/**
 * `gossip:` compiled into the numbers GossipMember takes, with the cross-field rules the schema
 * (./schema.ts) cannot state. Apart from the schema so that a worker, which compiles but never
 * validates, does not load TypeBox.
 */
import { isIPv4 } from 'node:net'
import { parseDuration, parseSize } from '../config/units.js'
import type { ConfigProblem } from '../errors.js'
import { MAX_DATAGRAM_BYTES, MIN_DATAGRAM_BYTES } from './codec.js'
import type { GossipAddress, GossipConfig, GossipSettings } from './schema.js'

/** 127.0.0.0/8: the only addresses a member without a secret may bind or reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || (isIPv4(host) && host.startsWith('127.'))
}

/**
 * Checks what the schema cannot (the secret a non-loopback bind needs, seeds a loopback bind
 * cannot reach, interval against member_timeout, datagram bounds); problems are pushed with their
 * config path. Returns null when there was any.
 */
export function compileGossip(
  config: GossipConfig,
  problems: ConfigProblem[],
  path = 'gossip',
): GossipSettings | null {
  const before = problems.length
  const loopback = isLoopback(config.bind)
  if (!loopback && config.secret === undefined) {
    problems.push({
      path: `${path}.bind`,
      reason:
        `binding ${config.bind} (not loopback) requires ${path}.secret: unsigned gossip would ` +
        'let anyone who can reach the port feed or drain every rate-limit counter',
    })
  }
  const seeds: GossipAddress[] = []
  config.seeds.forEach((seed, index) => {
    const colon = seed.lastIndexOf(':')
    const host = seed.slice(0, colon)
    const port = Number(seed.slice(colon + 1))
    if (port < 1 || port > 65535) {
      problems.push({ path: `${path}.seeds[${index}]`, reason: `port ${port} is not 1-65535` })
    } else if (loopback && !isLoopback(host)) {
      problems.push({
        path: `${path}.seeds[${index}]`,
        reason: `${host} is not reachable from a member bound to ${config.bind}; set ${path}.bind (and ${path}.secret)`,
      })
    } else {
      seeds.push({ host, port })
    }
  })
  const intervalMs = parseDuration(config.interval)
  const memberTimeoutMs = parseDuration(config.member_timeout)
  if (intervalMs < 1) {
    problems.push({ path: `${path}.interval`, reason: 'must be at least 1ms' })
  }
  if (memberTimeoutMs < 4 * intervalMs) {
    problems.push({
      path: `${path}.member_timeout`,
      reason:
        `${config.member_timeout} is less than 4 × interval (${config.interval}): a member ` +
        'would be dropped before it could send a few heartbeats',
    })
  }
  const borrowTimeoutMs = parseDuration(config.borrow_timeout)
  if (borrowTimeoutMs < 1) {
    problems.push({ path: `${path}.borrow_timeout`, reason: 'must be at least 1ms' })
  }
  const maxDatagramBytes = parseSize(config.max_datagram)
  if (maxDatagramBytes < MIN_DATAGRAM_BYTES || maxDatagramBytes > MAX_DATAGRAM_BYTES) {
    problems.push({
      path: `${path}.max_datagram`,
      reason:
        `${maxDatagramBytes} bytes is outside ${MIN_DATAGRAM_BYTES}-${MAX_DATAGRAM_BYTES} ` +
        '(a header and one delta must fit; 65507 is the largest UDP payload over IPv4)',
    })
  }
  if (problems.length > before) return null
  return {
    bind: config.bind,
    port: config.port,
    seeds,
    secret: config.secret === undefined ? null : Buffer.from(config.secret, 'utf8'),
    intervalMs,
    memberTimeoutMs,
    maxDatagramBytes,
    exactUpTo: config.exact_up_to,
    borrowTimeoutMs,
  }
}
