/**
 * The mtls method: the client certificate of the connection (a credential of the connection, not
 * of the request: `ambient`), already verified against the listener's client CA in the TLS
 * handshake. It maps to a consumer by `consumers[].certificates` (a SHA-256 fingerprint, a SAN
 * URI such as a SPIFFE ID, a SAN DNS name, the subject CN: consumers/certificate-map.ts). A
 * certificate that maps to no consumer is refused unless the route says `mtls.allow_unmapped`;
 * one that maps to a disabled consumer is always refused. Every refusal answers with one body;
 * the reason goes to the audit line.
 *
 * The identity is built once per certificate object (one per connection) and consumer, and
 * reused by every request on the connection; the consumer is looked up on every request (map
 * probes), so a consumer disabled by a reload is seen at once.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8705#section-2 mutual-TLS client authentication
 */
import type { Logger } from 'pino'
import type { Consumer } from '../../consumers/consumer.js'
import type { CredentialDirectory } from '../../consumers/directory.js'
import type { Identity } from '../../identity.js'
import type { StageExchange, Verdict } from '../../pipeline/stage.js'
import type { ClientCertificate } from '../../tls/client-certificate.js'
import type { Challenges } from './challenge.js'
import { CredentialProblem } from './credentials.js'
import type { CredentialMethod } from './method.js'

/** Why a certificate was refused: the audit line's reason. */
export type CertificateRefusal = 'unmapped_certificate' | 'unknown_consumer' | 'consumer_disabled'

const NO_SCOPES: ReadonlySet<string> = new Set()
const NO_CLAIMS: Readonly<Record<string, unknown>> = Object.freeze({})

export class MtlsMethod implements CredentialMethod {
  readonly name = 'mtls'
  readonly ambient = true
  readonly #route: string
  readonly #credentials: CredentialDirectory
  /** mtls.allow_unmapped. */
  readonly #allowUnmapped: boolean
  readonly #challenges: Challenges
  readonly #audit: Logger | null
  /** The identity last built for each certificate: a connection's requests share it. */
  readonly #identities = new WeakMap<ClientCertificate, Identity>()

  constructor(
    route: string,
    credentials: CredentialDirectory,
    allowUnmapped: boolean,
    challenges: Challenges,
    audit: Logger | null,
  ) {
    this.#route = route
    this.#credentials = credentials
    this.#allowUnmapped = allowUnmapped
    this.#challenges = challenges
    this.#audit = audit
  }

  /** The certificate's fingerprint; Missing on a connection without one (a non-mTLS listener). */
  find(exchange: StageExchange): string | CredentialProblem {
    const certificate = exchange.clientCertificate
    return certificate === null ? CredentialProblem.Missing : certificate.sha256
  }

  check(exchange: StageExchange): Verdict {
    const certificate = exchange.clientCertificate!
    const credentials = this.#credentials
    const name = credentials.consumerNameOf(certificate)
    let consumer: Consumer | null = null
    let refusal: CertificateRefusal | null = null
    if (name !== undefined) {
      const found = credentials.consumer(name)
      if (found === undefined) refusal = 'unknown_consumer'
      else if (found.disabled) refusal = 'consumer_disabled'
      else consumer = found
    } else if (!this.#allowUnmapped) refusal = 'unmapped_certificate'
    if (this.#audit !== null) this.#auditCertificate(exchange, certificate, name, refusal)
    if (refusal !== null) {
      exchange.authRefusal = refusal
      return this.#challenges.invalidCertificate
    }
    const consumerName = consumer === null ? null : consumer.name
    let identity = this.#identities.get(certificate)
    if (identity === undefined || identity.consumer !== consumerName) {
      identity = certificateIdentity(certificate, consumerName)
      this.#identities.set(certificate, identity)
    }
    exchange.identity = identity
    exchange.consumer = consumer
    return undefined
  }

  #auditCertificate(
    exchange: StageExchange,
    certificate: ClientCertificate,
    consumer: string | undefined,
    refusal: CertificateRefusal | null,
  ): void {
    this.#audit!.info(
      {
        audit: 'authenticate',
        route: this.#route,
        request_id: exchange.requestId,
        method: 'mtls',
        sub: subjectOf(certificate),
        consumer: consumer ?? null,
        // The fingerprint is public (it identifies, it does not authenticate): logged whole.
        sha256: certificate.sha256,
        outcome: refusal === null ? 'allow' : 'deny',
        reason: refusal,
      },
      'auth decision',
    )
  }
}

/** The identity a certificate proves: its SAN URI (SPIFFE ID) or CN as subject, no scopes. */
export function certificateIdentity(
  certificate: ClientCertificate,
  consumer: string | null,
): Identity {
  const subject = subjectOf(certificate)
  return {
    method: 'mtls',
    issuer: 'mtls',
    subject,
    consumer,
    credentialId: certificate.sha256,
    scopes: NO_SCOPES,
    // `sub`, so forward.claims can send it like a token's subject.
    claims: subject === null ? NO_CLAIMS : Object.freeze({ sub: subject }),
    forwarded: null,
  }
}

function subjectOf(certificate: ClientCertificate): string | null {
  return certificate.sanUris[0] ?? certificate.commonName
}
