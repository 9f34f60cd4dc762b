/**
 * What authentication proved about the caller (docs/architecture.md "identity"): filled by the
 * authenticate stage, read by authorize, rate-limit and forward. One object per verified
 * credential, shared by every request that presents it while it stays cached.
 */
export type AuthMethod = 'jwt' | 'api_key' | 'mtls'

export interface Identity {
  readonly method: AuthMethod
  /** Name of the issuer that vouched for the caller; `api_key` for a key, `mtls` for a certificate. */
  readonly issuer: string
  /**
   * `sub`, or null when the token has none; the consumer's name for a key; a certificate's first
   * SAN URI, else its CN (null when it has neither).
   */
  readonly subject: string | null
  /**
   * The consumer (consumers/consumer.ts) the credential resolves to, by name: always for a key,
   * by `issuers[].consumer_claim` for a JWT, by `consumers[].certificates` for a client
   * certificate; null when none is known.
   */
  readonly consumer: string | null
  /** The key's id for an API key; the SHA-256 fingerprint (hex) of a certificate; null for a JWT. */
  readonly credentialId: string | null
  readonly scopes: ReadonlySet<string>
  /** The verified claims, for forwarding and keyed policies. Never modified. */
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
