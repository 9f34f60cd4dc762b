/**
 * The api_key method: a key where the route allows it (credentials.ts), checked by
 * {@link ApiKeyAuthenticator} without the network. Every refusal answers with one body, so a
 * caller cannot probe which keys exist; the reason goes to the audit line.
 */
import type { Logger } from 'pino'
import { REJECT } from '../../errors.js'
import type { StageExchange, Verdict } from '../../pipeline/stage.js'
import { keyIdentity, type ApiKeyAuthenticator, type KeyRefusal } from './api-key.js'
import type { Challenges } from './challenge.js'
import { findApiKey, type CredentialProblem, type KeySources } from './credentials.js'
import type { CredentialMethod } from './method.js'

export class ApiKeyMethod implements CredentialMethod {
  readonly name = 'api_key'
  readonly ambient = false
  readonly sources: KeySources
  readonly #route: string
  readonly #keys: ApiKeyAuthenticator
  readonly #challenges: Challenges
  readonly #audit: Logger | null

  constructor(
    route: string,
    sources: KeySources,
    keys: ApiKeyAuthenticator,
    challenges: Challenges,
    audit: Logger | null,
  ) {
    this.#route = route
    this.sources = sources
    this.#keys = keys
    this.#challenges = challenges
    this.#audit = audit
  }

  find(exchange: StageExchange): string | CredentialProblem {
    return findApiKey(exchange, this.sources)
  }

  check(exchange: StageExchange, key: string): Verdict {
    const keys = this.#keys
    const refusal = keys.check(key, exchange.clientAddress, Date.now())
    if (this.#audit !== null) this.#auditKey(exchange, refusal, key)
    if (refusal !== null) exchange.authRefusal = refusal
    // A valid key from an address its rules refuse (issue 17): 403, as the route's own IP rules
    // answer. Only a caller holding the key learns that it is valid; every other refusal keeps
    // issue 16's one 401, so keys cannot be probed.
    if (refusal === 'address_not_allowed') return REJECT.addressRefused
    if (refusal !== null) return this.#challenges.invalidKey
    exchange.identity = keyIdentity(keys.entry!)
    exchange.consumer = keys.consumer
    return undefined
  }

  #auditKey(exchange: StageExchange, refusal: KeyRefusal | null, key: string): void {
    const entry = this.#keys.entry
    this.#audit!.info(
      {
        audit: 'authenticate',
        route: this.#route,
        request_id: exchange.requestId,
        method: 'api_key',
        key_id: entry?.id ?? null,
        consumer: entry?.consumer ?? null,
        client: exchange.clientAddress,
        outcome: refusal === null ? 'allow' : 'deny',
        reason: refusal,
        // Never the key: its first 8 characters at most, the prefix of a well-formed one.
        key: key.slice(0, 8),
      },
      'auth decision',
    )
  }
}
