/**
 * IP rules of a credential (issue 17): an API key's `allow_ips`/`deny_ips`, a consumer's
 * `ip.allow`/`ip.deny`. Deny wins; a non-empty allow list admits only its blocks. Compiled once into
 * sorted ranges (net/address-ranges.ts): a check reads the address and binary-searches, never
 * scanning the entries. An IPv4-mapped IPv6 client is its IPv4 address.
 *
 * Rules are interned by their canonical lists (blocks masked to their network, sorted, without
 * duplicates): a million keys with a handful of distinct lists hold a handful of rule objects.
 */
import { AddressReader } from '../net/address-reader.js'
import { createAddressRanges, type AddressRanges } from '../net/address-ranges.js'
import type { AddressBlock } from './address-list.js'

export class AddressRules {
  /** The canonical blocks, `10.0.0.0/8` or `2001:db8::/32`, sorted. */
  readonly allowEntries: readonly string[]
  readonly denyEntries: readonly string[]
  readonly #allow: AddressRanges | null
  readonly #deny: AddressRanges | null
  /** Holds the address being checked: checks are synchronous, so none reads between. */
  readonly #reader = new AddressReader()

  constructor(allow: readonly AddressBlock[], deny: readonly AddressBlock[]) {
    this.#allow = allow.length === 0 ? null : createAddressRanges(allow)
    this.#deny = deny.length === 0 ? null : createAddressRanges(deny)
    this.allowEntries = canonicalEntries(allow)
    this.denyEntries = canonicalEntries(deny)
  }

  /** Whether `address` (as the gateway gives it: IPv4, IPv6, IPv4-mapped IPv6) may pass. */
  admits(address: string): boolean {
    const reader = this.#reader
    // An unreadable address is in no block: refused by an allow list, not by a deny list.
    reader.read(address)
    if (this.#deny !== null && this.#deny.includes(reader)) return false
    return this.#allow === null || this.#allow.includes(reader)
  }
}

/** Interns rules: equal lists (in any order or spelling) give the same object. */
export class AddressRulesPool {
  readonly #rules = new Map<string, AddressRules>()

  /** The rules of `allow` and `deny`; null when both are empty (any address). */
  intern(allow: readonly AddressBlock[], deny: readonly AddressBlock[]): AddressRules | null {
    if (allow.length === 0 && deny.length === 0) return null
    const id = `${canonicalEntries(allow).join(',')}|${canonicalEntries(deny).join(',')}`
    let rules = this.#rules.get(id)
    if (rules === undefined) {
      rules = new AddressRules(allow, deny)
      this.#rules.set(id, rules)
    }
    return rules
  }

  get size(): number {
    return this.#rules.size
  }
}

function canonicalEntries(blocks: readonly AddressBlock[]): string[] {
  return [...new Set(blocks.map((b) => `${b.network}/${b.prefix}`))].sort()
}
