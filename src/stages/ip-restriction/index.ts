/**
 * ip-restriction — whether the client's address may call the route at all. The route's `ip.deny`
 * blocks refuse (deny wins), then a non-empty `ip.allow` admits only its blocks. IPv4 and IPv6,
 * an IPv4-mapped IPv6 client as its IPv4 address (RFC 4291 §2.5.5.2). First in order.ts, so a
 * refused address costs no credential check. Synchronous; the blocks are compiled into sorted,
 * merged ranges (net/address-ranges.ts) once per config, and a request only reads its address.
 *
 * Reads: clientAddress (gateway/client-address.ts: the peer, or whom a trusted proxy names).
 * Answers: 403 `forbidden`, naming no rule. An address the gateway cannot read is in no block.
 */
import { Type, type Static, type TObject } from '@sinclair/typebox'
import { parseAddressList } from '../../consumers/address-list.js'
import { createRejection } from '../../errors.js'
import { AddressReader } from '../../net/address-reader.js'
import { createAddressRanges, type AddressRanges } from '../../net/address-ranges.js'
import type {
  RouteSite,
  Stage,
  StageDefinition,
  StageExchange,
  Verdict,
} from '../../pipeline/stage.js'
import { IpSchema } from './schema.js'

/** The route keys this stage owns. */
const ROUTE_KEYS = { ip: Type.Optional(IpSchema) }
export type IpRestrictionConfig = Static<TObject<typeof ROUTE_KEYS>>

/** The stage asks for no shared service. */
export type IpRestrictionDeps = Record<never, never>

export const ipRestriction: StageDefinition<typeof ROUTE_KEYS, IpRestrictionDeps> = {
  name: 'ip-restriction',
  schema: ROUTE_KEYS,
  compile: (config, route) => compileIpRestriction(config, route),
}

const ADDRESS_REFUSED = createRejection(
  403,
  'forbidden',
  'This client address may not use this route.',
)

/** The route's stage; null when it has no rule. */
export function compileIpRestriction(
  config: IpRestrictionConfig,
  site: RouteSite,
): IpRestrictionStage | null {
  const allow = compileList(config.ip?.allow, `${site.path}.ip.allow`, site)
  const deny = compileList(config.ip?.deny, `${site.path}.ip.deny`, site)
  if (allow === null && deny === null) return null
  return new IpRestrictionStage(allow, deny)
}

/** The list's ranges; null for no entries (and for a list with a problem: the config fails). */
function compileList(
  entries: readonly string[] | undefined,
  path: string,
  site: RouteSite,
): AddressRanges | null {
  if (entries === undefined || entries.length === 0) return null
  const { blocks, problems } = parseAddressList(entries, path)
  if (problems.length > 0) {
    site.problems.push(...problems)
    return null
  }
  return createAddressRanges(blocks)
}

export class IpRestrictionStage implements Stage {
  readonly name = 'ip-restriction'
  readonly onResponse = null
  readonly onFinish = null
  readonly #allow: AddressRanges | null
  readonly #deny: AddressRanges | null
  /** Holds the address being checked: onRequest is synchronous, so no request reads between. */
  readonly #reader = new AddressReader()

  constructor(allow: AddressRanges | null, deny: AddressRanges | null) {
    this.#allow = allow
    this.#deny = deny
  }

  onRequest(exchange: StageExchange): Verdict {
    const reader = this.#reader
    reader.read(exchange.clientAddress)
    if (this.#deny !== null && this.#deny.includes(reader)) return ADDRESS_REFUSED
    if (this.#allow !== null && !this.#allow.includes(reader)) return ADDRESS_REFUSED
    return undefined
  }
}
