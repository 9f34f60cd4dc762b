/**
 * Which of the client's request headers never reach the upstream, compiled once per config:
 * hop-by-hop fields (RFC 9110 §7.6.1), the fields the gateway sets itself (X-Forwarded-*, Via,
 * X-Request-Id, Host), the identity names every route may set and the identity prefixes, and the
 * configured `headers.drop` list (method overrides by default). One set and a few prefixes, so a
 * header costs one lookup; a name is compared in lower case and, since CGI-style upstreams read
 * `X_User_Id` as `X-User-Id`, with `_` folded to `-`.
 */
import { foldHeaderName, GATEWAY_OWNED, HOP_BY_HOP } from '../http/field-names.js'

export class RequestHeaderRules {
  /** Folded names removed from every request. */
  readonly #names: ReadonlySet<string>
  /** Folded prefixes: a name that starts with one is removed. */
  readonly #prefixes: readonly string[]

  /**
   * `names` and `prefixes` are the identity names and prefixes and the configured drop list, in
   * any case and spelling; hop-by-hop and gateway-owned names are always added.
   */
  constructor(names: Iterable<string>, prefixes: readonly string[]) {
    const all = new Set<string>([...HOP_BY_HOP, ...GATEWAY_OWNED])
    for (const name of names) all.add(foldHeaderName(name.toLowerCase()))
    this.#names = all
    this.#prefixes = prefixes.map((p) => foldHeaderName(p.toLowerCase()))
  }

  /** Whether the client's header `name` (lower case, as the fronts give it) is removed. */
  removes(name: string): boolean {
    if (this.#names.has(name) || this.#hasPrefix(name)) return true
    if (name.indexOf('_') < 0) return false
    // Spoofing by spelling: X_User_Id reaches a CGI-style upstream as X-User-Id.
    const folded = foldHeaderName(name)
    return this.#names.has(folded) || this.#hasPrefix(folded)
  }

  #hasPrefix(name: string): boolean {
    const prefixes = this.#prefixes
    for (let i = 0; i < prefixes.length; i++) if (name.startsWith(prefixes[i]!)) return true
    return false
  }
}
