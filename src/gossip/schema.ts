/**
 * Config schema of the gossip layer (`gossip:`): where each worker's member listens, how it finds
 * the other hosts, and how datagrams are authenticated. compileGossip() (./settings.ts) applies
 * the cross-field rules and turns the values into the numbers GossipMember takes.
 */
import { Type, type Static } from '@sinclair/typebox'
import { Duration, Pattern, Port, Size } from '../config/fragments.js'
import { MAX_DATAGRAM_BYTES, MIN_DATAGRAM_BYTES } from './codec.js'

const IPV4_PATTERN =
  '^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$'
const SEED_PATTERN = '^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?:[0-9]{1,5}$'

export const GossipSchema = Type.Object(
  {
    port: Port({
      minimum: 1,
      description:
        'Base UDP port. Worker i of a host binds port + i, so the workers of one host find each ' +
        'other at port … port + workers - 1 without any configuration. 7946 is the port ' +
        'Serf and memberlist use for the same job.',
      default: 7946,
    }),
    bind: Pattern(IPV4_PATTERN, 'must be an IPv4 address such as 127.0.0.1 or 0.0.0.0', {
      description:
        'IPv4 address the members bind. The default keeps gossip on this host; any other ' +
        'address (0.0.0.0 included) requires a secret, since counters that anyone can feed are ' +
        'counters anyone can exhaust.',
      default: '127.0.0.1',
    }),
    seeds: Type.Array(Pattern(SEED_PATTERN, 'must be host:port, such as 10.0.0.2:7946'), {
      description:
        'host:port of a member on each other host (its base port is enough). Seeds only ' +
        'bootstrap: members list the members they hear from in their heartbeats, so every ' +
        'worker of every host is found from one seed that answers.',
      default: [],
    }),
    secret: Type.Optional(
      Type.String({
        minLength: 32,
        description:
          'Shared secret (at least 32 bytes; use ${ENV}) that signs every datagram with ' +
          'HMAC-SHA256. Every member of a cluster needs the same one.',
      }),
    ),
    interval: Duration({
      description:
        'How often a member sends the consumption its requests made since its last send. ' +
        'Shorter means counters agree sooner and more datagrams; 50ms keeps a burst overshoot ' +
        'to what the other members admit in a twentieth of a second.',
      default: '50ms',
    }),
    member_timeout: Duration({
      description:
        'A member silent this long is dropped: its deltas are no longer expected and nothing is ' +
        'sent to it. Members send a heartbeat every quarter of it, so three lost in a row are ' +
        'survived. At least 4 × interval.',
      default: '2s',
    }),
    exact_up_to: Type.Integer({
      minimum: 0,
      maximum: 1_000_000,
      description:
        'Rate limits of at most this many requests per window (token buckets: burst) are held ' +
        'exactly across the workers of a host: each worker holds a share of every key and ' +
        'borrows from the others when its share is spent, instead of learning their ' +
        'consumption by gossip an interval late. Login, sign-up and key-probing limits are that ' +
        'small, and for them one interval is the whole limit. Larger limits keep gossip. ' +
        '0 holds none exactly.',
      default: 100,
    }),
    borrow_timeout: Duration({
      description:
        'How long a request whose worker has spent its share of an exact limit waits for the ' +
        'other workers of its host to answer (a loopback round trip when they are idle). A ' +
        'worker that has not answered by then counts as having nothing to lend, so the request ' +
        'is refused, never admitted on a guess; its late grant is kept for the next request. ' +
        'The default covers a worker busy with another request.',
      default: '2ms',
    }),
    max_datagram: Size({
      description:
        'Largest datagram sent (and accepted), header and MAC included; a batch is split to ' +
        'fit. 1200 bytes fits the IPv6 minimum MTU (1280 less 48 bytes of headers) and any ' +
        'tunnel on Ethernet, so datagrams are never fragmented (one lost fragment loses all). ' +
        `Between ${MIN_DATAGRAM_BYTES} and ${MAX_DATAGRAM_BYTES} bytes.`,
      default: 1200,
    }),
  },
  { additionalProperties: false, default: {} },
)

export type GossipConfig = Static<typeof GossipSchema>

/** A host and a port, as written in `seeds`; the host may be a name, resolved at start. */
export interface GossipAddress {
  readonly host: string
  readonly port: number
}

/** `gossip:` compiled: every value in the unit its name carries. */
export interface GossipSettings {
  readonly bind: string
  /** Base port; 0 (tests only) binds an ephemeral port and has no local peers. */
  readonly port: number
  readonly seeds: readonly GossipAddress[]
  /** The HMAC key, or null: then the member only binds loopback and sends unsigned. */
  readonly secret: Buffer | null
  readonly intervalMs: number
  readonly memberTimeoutMs: number
  readonly maxDatagramBytes: number
  /** Limits of at most this many per window (buckets: burst) are held exactly on the host. */
  readonly exactUpTo: number
  readonly borrowTimeoutMs: number
}
