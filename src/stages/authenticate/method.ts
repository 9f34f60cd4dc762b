/**
 * One way a route's caller proves who it is (jwt, api_key; mtls, introspection and hmac plug in
 * the same way). The authenticate stage (index.ts) finds each method's credential, chooses which
 * method decides (`any`) or runs them all (`all`), and lets the method check it. A method never
 * looks at another method's credential: the stage settles ambiguity before any check.
 */
import type { StageExchange, Verdict } from '../../pipeline/stage.js'
import type { CredentialProblem } from './credentials.js'
import type { AuthMethodName } from './schema.js'

export interface CredentialMethod {
  readonly name: AuthMethodName
  /**
   * A credential of the connection, not of the request (a client certificate): under `any` it
   * decides only when the request carries no credential of another method.
   */
  readonly ambient: boolean
  /** The credential the request carries, or why there is none to use; never verifies it. */
  find(exchange: StageExchange): string | CredentialProblem
  /**
   * Checks a credential `find` returned: on success sets `exchange.identity` and
   * `exchange.consumer` and returns undefined; else the rejection to answer with. Writes its own
   * audit line. Synchronous unless it must wait (a verification on the pool, a network call).
   */
  check(exchange: StageExchange, credential: string): Verdict | Promise<Verdict>
  /**
   * Checks the whole body of a request the stage admitted (hmac: the Content-Digest its
   * signature covered). Absent on methods that never read the body, so their routes stream it.
   */
  readonly onBody?: (exchange: StageExchange, body: Buffer) => Verdict
}

/** How a route's methods combine: one method, the one whose credential is present, or all. */
export type AuthMode = 'one' | 'any' | 'all'
