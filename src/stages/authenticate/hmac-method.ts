/**
 * The hmac method: a request signed per RFC 9421 with a consumer's shared secret. Its
 * credential is the Signature-Input field; the signature is checked at head time by
 * {@link SignatureVerifier} (the identity must exist before authorize and rate-limit run), and
 * the body against its Content-Digest (RFC 9530) once it is in, by {@link HmacMethod.onBody}.
 * Every refusal answers with one body; the reason goes to the audit line.
 */
import type { Logger } from 'pino'
import { createRejection, type Rejection } from '../../errors.js'
import { checkContentDigest, type DigestProblem } from '../../hmac/content-digest.js'
import type { StageExchange, Verdict } from '../../pipeline/stage.js'
import type { Challenges } from './challenge.js'
import { CredentialProblem } from './credentials.js'
import { hmacIdentity, type SignatureRefusal, type SignatureVerifier } from './hmac.js'
import type { CredentialMethod } from './method.js'

/** The replay memory is full: refusing keeps the guarantee; the client may retry later. */
const REPLAY_MEMORY_FULL: Rejection = createRejection(
  503,
  'service_unavailable',
  'The gateway cannot check more signed requests right now; try again later.',
  ['retry-after', '10'],
)

export class HmacMethod implements CredentialMethod {
  readonly name = 'hmac'
  readonly ambient = false
  readonly #route: string
  readonly #verifier: SignatureVerifier
  readonly #contentDigest: boolean
  readonly #challenges: Challenges
  readonly #audit: Logger | null

  constructor(
    route: string,
    verifier: SignatureVerifier,
    contentDigest: boolean,
    challenges: Challenges,
    audit: Logger | null,
  ) {
    this.#route = route
    this.#verifier = verifier
    this.#contentDigest = contentDigest
    this.#challenges = challenges
    this.#audit = audit
  }

  /** Signature-Input, its field lines joined (RFC 8941 §3.2: a Dictionary may span lines). */
  find(exchange: StageExchange): string | CredentialProblem {
    return joinedField(exchange.headers, 'signature-input') ?? CredentialProblem.Missing
  }

  check(exchange: StageExchange, signatureInput: string): Verdict {
    const verifier = this.#verifier
    const signature = joinedField(exchange.headers, 'signature')
    const now = Math.floor(Date.now() / 1000)
    const refusal = verifier.check(exchange, signatureInput, signature, now)
    if (this.#audit !== null) this.#auditSignature(exchange, refusal)
    if (refusal !== null) {
      exchange.authRefusal = refusal
      return refusal === 'replay_memory_full'
        ? REPLAY_MEMORY_FULL
        : this.#challenges.invalidSignature
    }
    exchange.identity = hmacIdentity(verifier.key!)
    exchange.consumer = verifier.consumer
    return undefined
  }

  /**
   * The body against the Content-Digest the signature covered (RFC 9530). Runs on every request
   * of the route that passed the head checks; a request with a Signature-Input is one this method
   * admitted (under `any` a second credential beside it was refused, under `all` every method
   * admitted), one without is another method's.
   */
  onBody(exchange: StageExchange, body: Buffer): Verdict {
    if (joinedField(exchange.headers, 'signature-input') === null) return undefined
    const field = joinedField(exchange.headers, 'content-digest')
    let problem: DigestProblem | 'digest_missing' | null
    if (field !== null) problem = checkContentDigest(field, body)
    else problem = this.#contentDigest && body.length > 0 ? 'digest_missing' : null
    if (problem === null) return undefined
    if (this.#audit !== null) this.#auditDigest(exchange, problem)
    return this.#challenges.invalidSignature
  }

  #auditSignature(exchange: StageExchange, refusal: SignatureRefusal | null): void {
    const verifier = this.#verifier
    this.#audit!.info(
      {
        audit: 'authenticate',
        route: this.#route,
        request_id: exchange.requestId,
        method: 'hmac',
        key_id: verifier.keyId,
        consumer: verifier.key?.consumer ?? null,
        label: verifier.label,
        client: exchange.clientAddress,
        outcome: refusal === null ? 'allow' : 'deny',
        reason: refusal,
      },
      'auth decision',
    )
  }

  #auditDigest(exchange: StageExchange, problem: DigestProblem | 'digest_missing'): void {
    const identity = exchange.identity?.method === 'hmac' ? exchange.identity : null
    this.#audit!.info(
      {
        audit: 'authenticate',
        route: this.#route,
        request_id: exchange.requestId,
        method: 'hmac',
        key_id: identity?.credentialId ?? null,
        consumer: exchange.consumer?.name ?? null,
        client: exchange.clientAddress,
        outcome: 'deny',
        reason: problem,
      },
      'auth decision',
    )
  }
}

/** Every field line of `name` joined by ", " (RFC 9110 §5.3), or null when there is none. */
function joinedField(headers: readonly string[], name: string): string | null {
  let value: string | null = null
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== name) continue
    value = value === null ? headers[i + 1]! : value + ', ' + headers[i + 1]!
  }
  return value
}
