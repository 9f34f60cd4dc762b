/**
 * The one client address of a request. A front fills `peerAddress` (the TCP peer) and
 * `clientAddress` (the same, or the source of a PROXY header a trusted peer sent: the front
 * checked that peer). When that address is a trusted proxy (`trusted_proxies`), its
 * X-Forwarded-For names the client (net/trusted-proxies.ts), and the upstream is sent the
 * verified part of that chain with the proxy appended. Resolved once, before the connection cap and
 * the stages, so the cap, ip-restriction, rate-limit keys, key and consumer IP rules, the access
 * log and the upstream's X-Forwarded-For all name the same client.
 *
 * Never believed: an X-Forwarded-For from an untrusted peer (the peer is the client, and the
 * upstream is told only the peer), and anything left of the first untrusted hop.
 */
import type { ConfigProblem } from '../errors.js'
import type { GatewayConfig } from '../config/schema.js'
import { parseAddressList } from '../consumers/address-list.js'
import { createAddressRanges } from '../net/address-ranges.js'
import { TrustedProxies } from '../net/trusted-proxies.js'
import type { Exchange } from './exchange.js'

/** `trusted_proxies` compiled once per config; null when empty (no request does any work). */
export function compileTrustedProxies(
  config: GatewayConfig,
  problems: ConfigProblem[],
): TrustedProxies | null {
  const { blocks, problems: found } = parseAddressList(config.trusted_proxies, 'trusted_proxies')
  problems.push(...found)
  for (const [name, listener] of Object.entries(config.listeners)) {
    if (listener !== undefined && 'proxy_protocol' in listener && listener.proxy_protocol) {
      if (config.trusted_proxies.length === 0) {
        problems.push({
          path: `listeners.${name}.proxy_protocol`,
          reason: 'needs trusted_proxies: a PROXY header is accepted only from a peer listed there',
        })
      }
    }
  }
  if (blocks.length === 0 || found.length > 0) return null
  return new TrustedProxies(createAddressRanges(blocks))
}

/**
 * Takes the client from X-Forwarded-For when the exchange's address is a trusted proxy; fills
 * `forwardedFor`, the X-Forwarded-For the upstream gets ('' when it is the client address alone).
 */
export function resolveClientAddress(exchange: Exchange, proxies: TrustedProxies): void {
  const peer = exchange.clientAddress
  if (!proxies.trusts(peer)) return
  const chain = forwardedForValue(exchange.headers)
  if (chain === null) return
  proxies.walk(peer, chain)
  exchange.clientAddress = proxies.client
  if (proxies.chainFrom >= 0) {
    exchange.forwardedFor = `${chain.slice(proxies.chainFrom).trim()}, ${peer}`
  }
}

/** The X-Forwarded-For field, its lines joined as one list (RFC 9110 §5.3); null when absent. */
function forwardedForValue(headers: readonly string[]): string | null {
  let value: string | null = null
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'x-forwarded-for') continue
    value = value === null ? headers[i + 1]! : `${value}, ${headers[i + 1]!}`
  }
  return value
}
