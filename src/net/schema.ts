/** Config schema of `trusted_proxies`: the peers whose word about the client is believed. */
import { Type, type Static } from '@sinclair/typebox'

export const TrustedProxiesSchema = Type.Array(
  Type.String({
    description: 'An IPv4 or IPv6 address or CIDR block: 10.0.0.0/8, 192.0.2.7, 2001:db8::/32.',
  }),
  {
    description:
      'Proxies and load balancers in front of the gateway. Only when the direct peer is one of ' +
      'them is the client address taken from X-Forwarded-For (read from the right past these ' +
      'blocks) or from the PROXY header of a listener with proxy_protocol; any other peer is ' +
      'the client, whatever it sends. An IPv4-mapped IPv6 peer is its IPv4 address. [] (default): ' +
      'every peer is the client.',
    default: [],
  },
)

export type TrustedProxiesConfig = Static<typeof TrustedProxiesSchema>
