/**
 * The worker-side form of an API key: only what the request path checks, with everything many
 * keys have in common shared (consumer names, scope sets, allow-lists), because a worker holds
 * every key in memory. Display fields (label, last4, dates as text) stay in the store.
 */
import type { Identity } from '../identity.js'
import type { StoredKey } from '../keys/records.js'
import { parseRfc3339 } from '../keys/time.js'
import { parseAddressList, type AddressBlock } from './address-list.js'
import { AddressRulesPool, type AddressRules } from './address-rules.js'
import type { ConsumerKeyConfig } from './schema.js'

export interface KeyEntry {
  /** The key's id (`key_…` from the store, `cfg_…` from the config): usage, logs, identity. */
  readonly id: string
  readonly consumer: string
  readonly scopes: ReadonlySet<string>
  /** Milliseconds since the epoch before which the key is refused; 0: none. */
  readonly notBeforeMs: number
  /** Milliseconds since the epoch from which the key is refused; Infinity: none. */
  readonly expiresAtMs: number
  /** allow_ips and deny_ips; null: any client address. */
  readonly addresses: AddressRules | null
  /** Revoked, or a record the worker cannot read: refused. */
  readonly revoked: boolean
  /** Built on first use by the authenticate stage, reused while this entry lives. */
  identity: Identity | null
}

const NO_ADDRESSES = Object.freeze({ blocks: [] as AddressBlock[], problems: [] })

/** The id a config key goes by: stable while its hash is, and never a store id (`key_…`). */
export function configKeyId(hash: string): string {
  return `cfg_${hash.slice(0, 16)}`
}

/**
 * Compiles key records into entries, interning what they share. One compiler per generation of
 * records (a full read, a config): dropping it drops the interned values no entry uses any more.
 */
export class KeyEntryCompiler {
  readonly #names = new Map<string, string>()
  readonly #scopeSets = new Map<string, ReadonlySet<string>>()
  readonly #addresses = new AddressRulesPool()
  readonly #windows = new Map<string, KeyWindow>()

  /**
   * A stored record as an entry. A record that does not parse (a bad time or address, which the
   * admin API never writes) becomes a refused entry rather than one with a looser rule.
   */
  fromStored(record: StoredKey): KeyEntry {
    const notBeforeMs = record.not_before === null ? 0 : parseRfc3339(record.not_before)
    const expiresAtMs = record.expires_at === null ? Infinity : parseRfc3339(record.expires_at)
    // Most keys have no address rule: skip the parser's allocations for them on a full read.
    const allow =
      record.allow_ips.length === 0 ? NO_ADDRESSES : parseAddressList(record.allow_ips, 'allow_ips')
    // Records written before deny_ips existed have none.
    const denyIps = record.deny_ips ?? []
    const deny = denyIps.length === 0 ? NO_ADDRESSES : parseAddressList(denyIps, 'deny_ips')
    const unreadable =
      Number.isNaN(notBeforeMs) ||
      Number.isNaN(expiresAtMs) ||
      allow.problems.length > 0 ||
      deny.problems.length > 0
    return new CompiledKey(
      record.id,
      this.name(record.consumer),
      this.scopes(record.scopes),
      unreadable ? ALWAYS : this.#window(notBeforeMs, expiresAtMs),
      this.#addresses.intern(allow.blocks, deny.blocks),
      unreadable || record.state !== 'active',
    )
  }

  /** A config key of `consumer`; its times and addresses were checked (configured.ts). */
  fromConfig(consumer: string, key: ConsumerKeyConfig): KeyEntry {
    return new CompiledKey(
      configKeyId(key.hash),
      this.name(consumer),
      this.scopes(key.scopes),
      this.#window(
        key.not_before === undefined ? 0 : parseRfc3339(key.not_before),
        key.expires_at === undefined ? Infinity : parseRfc3339(key.expires_at),
      ),
      this.#addresses.intern(
        parseAddressList(key.allow_ips, 'allow_ips').blocks,
        parseAddressList(key.deny_ips ?? [], 'deny_ips').blocks,
      ),
      false,
    )
  }

  /** One string per consumer name, however many records spell it. */
  name(name: string): string {
    const interned = this.#names.get(name)
    if (interned !== undefined) return interned
    this.#names.set(name, name)
    return name
  }

  /** One window per distinct pair of times: keys created together often share their dates. */
  #window(notBeforeMs: number, expiresAtMs: number): KeyWindow {
    if (notBeforeMs === 0 && expiresAtMs === Infinity) return ALWAYS
    const id = `${notBeforeMs}/${expiresAtMs}`
    let window = this.#windows.get(id)
    if (window === undefined) {
      window = Object.freeze({ notBeforeMs, expiresAtMs })
      this.#windows.set(id, window)
    }
    return window
  }

  /** One set per distinct list of scopes, in any order. */
  scopes(scopes: readonly string[]): ReadonlySet<string> {
    // Scope tokens hold no space (RFC 6749 §3.3), so the joined list names the set.
    const id = scopes.length <= 1 ? (scopes[0] ?? '') : sortedScopes(scopes).join(' ')
    let set = this.#scopeSets.get(id)
    if (set === undefined) {
      set = new Set(scopes)
      this.#scopeSets.set(id, set)
    }
    return set
  }
}

function sortedScopes(scopes: readonly string[]): readonly string[] {
  for (let i = 1; i < scopes.length; i++) if (scopes[i - 1]! > scopes[i]!) return [...scopes].sort()
  return scopes
}

/** When a key may be used; keys without dates share {@link ALWAYS}. */
interface KeyWindow {
  readonly notBeforeMs: number
  readonly expiresAtMs: number
}

const ALWAYS: KeyWindow = Object.freeze({ notBeforeMs: 0, expiresAtMs: Infinity })

/**
 * An entry whose two times live in a shared window object: V8 keeps a number field that is not
 * a small integer in a box of its own per object, which most keys, having no dates, need not pay.
 */
class CompiledKey implements KeyEntry {
  readonly id: string
  readonly consumer: string
  readonly scopes: ReadonlySet<string>
  readonly addresses: AddressRules | null
  readonly revoked: boolean
  identity: Identity | null = null
  readonly #window: KeyWindow

  constructor(
    id: string,
    consumer: string,
    scopes: ReadonlySet<string>,
    window: KeyWindow,
    addresses: AddressRules | null,
    revoked: boolean,
  ) {
    this.id = id
    this.consumer = consumer
    this.scopes = scopes
    this.addresses = addresses
    this.revoked = revoked
    this.#window = window
  }

  get notBeforeMs(): number {
    return this.#window.notBeforeMs
  }

  get expiresAtMs(): number {
    return this.#window.expiresAtMs
  }
}
