/**
 * What authentication proved about the caller (docs/architecture.md "identity"): filled by the
 * authenticate stage, read by authorize, rate-limit and forward. One object per verified
 * credential, shared by every request that presents it while it stays cached.
 */
export type AuthMethod = 'jwt'

export interface Identity {
  readonly method: AuthMethod
  /** Name of the issuer (or, later, the consumer) that vouched for the caller. */
  readonly issuer: string
  /** `sub`, or null when the token has none. */
  readonly subject: string | null
  readonly scopes: ReadonlySet<string>
  /** The verified claims, for forwarding and keyed policies. Never modified. */
  readonly claims: Readonly<Record<string, unknown>>
  /** Header list last built for a forward policy: memo for the warm path (forward stage). */
  forwarded: { readonly policy: object; readonly headers: readonly string[] | null } | null
}
