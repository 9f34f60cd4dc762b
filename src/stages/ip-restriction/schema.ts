/**
 * Config schema of a route's `ip:` (which client addresses may call it). Entries are checked when
 * the route compiles (consumers/address-list.ts), each bad one named by its path.
 */
import { Type, type Static } from '@sinclair/typebox'

const AddressList = (description: string) =>
  Type.Array(
    Type.String({
      description: 'An IPv4 or IPv6 address or CIDR block: 10.0.0.0/8, 192.0.2.7, 2001:db8::/32.',
    }),
    { description, default: [] },
  )

export const IpSchema = Type.Object(
  {
    allow: Type.Optional(
      AddressList(
        'Only clients in one of these blocks may call the route; others are refused (403 ' +
          'forbidden). [] or unset: every address.',
      ),
    ),
    deny: Type.Optional(
      AddressList(
        'Clients in any of these blocks are refused (403 forbidden), even when allow admits them.',
      ),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Client address rules, checked before anything else (credentials included). An IPv4-mapped ' +
      'IPv6 client (::ffff:a.b.c.d) is its IPv4 address.',
  },
)

export type IpConfig = Static<typeof IpSchema>
