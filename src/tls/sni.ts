/**
 * Chooses a listener's certificate by the server name of the TLS ClientHello (RFC 6066 §3) for
 * the node:tls listeners, with the rules uSockets applies on the uWS front: an exact name first,
 * then a wildcard standing for exactly one label (`*.example.com` matches `a.example.com`, not
 * `a.b.example.com` nor `example.com`, as RFC 6125 §6.4.3 matches certificates), else the default.
 */
export class SniTable<T> {
  readonly #exact = new Map<string, T>()
  readonly #wildcard = new Map<string, T>()

  /** The first entry naming a host wins, as the config lists them. */
  constructor(entries: readonly { readonly hosts: readonly string[]; readonly value: T }[]) {
    for (const { hosts, value } of entries) {
      for (const host of hosts) {
        const name = host.toLowerCase()
        const table = name.startsWith('*.') ? this.#wildcard : this.#exact
        const key = name.startsWith('*.') ? name.slice(2) : name
        if (!table.has(key)) table.set(key, value)
      }
    }
  }

  get size(): number {
    return this.#exact.size + this.#wildcard.size
  }

  /** The entry for `serverName`, or undefined (serve the default). */
  find(serverName: string): T | undefined {
    const name = serverName.toLowerCase()
    const exact = this.#exact.get(name)
    if (exact !== undefined) return exact
    const dot = name.indexOf('.')
    return dot > 0 ? this.#wildcard.get(name.slice(dot + 1)) : undefined
  }
}
