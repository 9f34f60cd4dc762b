/**
 * A consumer: a known caller, from the config's `consumers:` or the credential store. Workers
 * hold these compiled; a change replaces the object, so a stage may memo by reference.
 */

import { parseAddressList } from './address-list.js'
import { AddressRules } from './address-rules.js'

export type ConsumerSource = 'config' | 'store'

/** A consumer's `ip:` rules as written. */
export interface ConsumerIp {
  readonly allow?: readonly string[] | undefined
  readonly deny?: readonly string[] | undefined
}

export interface Consumer {
  readonly name: string
  readonly groups: readonly string[]
  readonly groupSet: ReadonlySet<string>
  readonly tier: string | null
  readonly metadata: Readonly<Record<string, string>>
  readonly disabled: boolean
  /** `ip:` as written (for views), and compiled; null: any client address. */
  readonly ip: ConsumerIp | null
  readonly addresses: AddressRules | null
  /** The config owns its consumers: the admin API refuses to change them. */
  readonly source: ConsumerSource
}

/** The fields a consumer is compiled from: a store record or a config entry. */
export interface ConsumerFields {
  readonly name: string
  readonly groups: readonly string[]
  readonly tier?: string | null | undefined
  readonly metadata: Readonly<Record<string, string>>
  readonly disabled: boolean
  readonly ip?: ConsumerIp | null | undefined
}

const NO_GROUPS: readonly string[] = Object.freeze([])
const NO_GROUP_SET: ReadonlySet<string> = new Set()
const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({})

/** A new, frozen consumer: never the object of an earlier version, so memos by reference hold. */
export function createConsumer(fields: ConsumerFields, source: ConsumerSource): Consumer {
  // Most consumers have no groups or metadata: those share one empty value.
  const groups = fields.groups.length === 0 ? NO_GROUPS : Object.freeze([...fields.groups])
  const metadata = fields.metadata
  const ip = fields.ip ?? null
  const allow = parseAddressList(ip?.allow ?? [], 'ip.allow')
  const deny = parseAddressList(ip?.deny ?? [], 'ip.deny')
  // A stored record whose rules do not parse (the admin API never writes one) refuses the
  // consumer rather than admit it from anywhere; config consumers were checked (configured.ts).
  const unreadable = allow.problems.length > 0 || deny.problems.length > 0
  const hasRules = allow.blocks.length > 0 || deny.blocks.length > 0
  return Object.freeze({
    name: fields.name,
    groups,
    groupSet: groups.length === 0 ? NO_GROUP_SET : new Set(groups),
    tier: fields.tier ?? null,
    metadata: isEmpty(metadata) ? NO_METADATA : Object.freeze({ ...metadata }),
    disabled: fields.disabled || unreadable,
    ip: hasRules ? ip : null,
    addresses: hasRules ? new AddressRules(allow.blocks, deny.blocks) : null,
    source,
  })
}

function isEmpty(record: Readonly<Record<string, string>>): boolean {
  for (const _ in record) return false
  return true
}
