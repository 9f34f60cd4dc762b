/**
 * Which of the client's request headers never reach the upstream, compiled once per config:
 * hop-by-hop fields (RFC 9110 §7.6.1), the fields the gateway sets itself (X-Forwarded-*, Via,
 * X-Request-Id, Host), the identity names every route may set and the identity prefixes, and the
 * configured `headers.drop` list (method overrides by default). One set and a few prefixes, so a
 * header costs one lookup; a name is compared in lower case and, since CGI-style upstreams read
 * `X_User_Id` as `X-User-Id`, with `_` folded to `-`.
 */

/** Never forwarded in either direction (RFC 9110 §7.6.1, RFC 9112 §6.1, RFC 7230 legacy names). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Expect is answered by the gateway itself; undici refuses to send it anyway.
  'expect',
])

/** Set by the gateway on every forwarded request; the client's values never pass. */
const GATEWAY_OWNED: ReadonlySet<string> = new Set([
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-real-ip',
  'forwarded',
  'x-request-id',
  'via',
])

/**
 * The spelling an upstream may fold a header name into: lower case with `_` read as `-` (CGI and
 * WSGI turn both into HTTP_X_USER_ID; nginx and others can be set to accept either). A client's
 * `X_User_Id` must be removed wherever `X-User-Id` is.
 */
export function foldHeaderName(lowercaseName: string): string {
  return lowercaseName.indexOf('_') < 0 ? lowercaseName : lowercaseName.replace(/_/g, '-')
}

/** A name the gateway sets or removes itself, in any spelling: not available to forward claims into. */
export function isGatewayOwned(lowercaseName: string): boolean {
  const name = foldHeaderName(lowercaseName)
  return GATEWAY_OWNED.has(name) || HOP_BY_HOP.has(name)
}

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
