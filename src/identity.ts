/**
 * What authentication proved about the caller (docs/architecture.md "identity"): filled by the
 * authenticate stage, read by authorize, rate-limit and forward. One object per verified
 * credential, shared by every request that presents it while it stays cached.
 */
export type AuthMethod = 'jwt' | 'api_key' | 'hmac' | 'introspection' | 'mtls'

export interface Identity {
  readonly method: AuthMethod
  /**
   * Name of the issuer that vouched for the caller: the JWT issuer's, the introspector's;
   * `api_key` for a key, `mtls` for a certificate.
   */
  readonly issuer: string
  /**
   * `sub`, or null when the token has none; the consumer's name for a key; a certificate's first
   * SAN URI, else its CN (null when it has neither).
   */
  readonly subject: string | null
  /**
   * The consumer (consumers/consumer.ts) the credential resolves to, by name: always for a key,
   * by `issuers[].consumer_claim` for a JWT, `introspectors[].consumer_claim` for an
   * introspected token, by `consumers[].certificates` for a client certificate; null when none
   * is known.
   */
  readonly consumer: string | null
  /**
   * The key's id for an API key or an HMAC credential; the SHA-256 fingerprint (hex) of a
   * certificate; null for a JWT.
   */
  readonly credentialId: string | null
  readonly scopes: ReadonlySet<string>
  /** The verified claims (an introspection answer's members), for forwarding and keyed policies. Never modified. */
  readonly claims: Readonly<Record<string, unknown>>
  /**
   * Header list last built for a forward policy and consumer object (a changed consumer is a new
   * object): memo for the warm path (forward stage).
   */
  forwarded: {
    readonly policy: object
    readonly consumer: object | null
    readonly headers: readonly string[] | null
  } | null
}

/**
 * The scopes of a claim or introspection member: RFC 8693 §4.2 / RFC 9068 §2.2.3 / RFC 7662 §2.2
 * `scope` is space-delimited; `scp` (Azure, Okta) is an array.
 */
export function readScopes(value: unknown): ReadonlySet<string> {
  const scopes = new Set<string>()
  if (typeof value === 'string') {
    for (const scope of value.split(' ')) if (scope !== '') scopes.add(scope)
  } else if (Array.isArray(value)) {
    for (const scope of value) if (typeof scope === 'string' && scope !== '') scopes.add(scope)
  }
  return scopes
}
