/**
 * The signature base of a request (RFC 9421 §2.5): one line per covered component, then the
 * `@signature-params` line, built from what the client sent, never from what the gateway made
 * of it. The path is the raw path of the request target (before percent-decoding and before the
 * gateway normalizes it for routing), the query its raw text, the authority the Host the client
 * named, the scheme that of the listener the request arrived on: the client signed the request
 * it wrote.
 *
 * Supported components: the request's derived components (§2.2: @method, @target-uri,
 * @authority, @scheme, @request-target, @path, @query) and header fields (§2.1), all without
 * component parameters. Any other (`@query-param`, `;sf`, `;req`…) makes the signature
 * unverifiable here, and it is refused rather than guessed.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9421#section-2 Components
 */
import type { CommonSignatureInput } from './signature-input.js'
import { serializeInnerList, serializeString, type InnerList } from './structured-fields.js'

/** What the base reads of a request: the slots of the gateway's exchange of the same names. */
export interface SignedMessage {
  /** As on the wire (RFC 9421 §2.2.1: case-sensitive). */
  readonly method: string
  /** The path of the request target exactly as received, without the query. */
  readonly rawPath: string
  /** The raw query without '?'. */
  readonly query: string
  /** Flat [name, value…], names lowercased, repeated fields kept apart. */
  readonly headers: readonly string[]
  /** The Host field as received; '' when absent. */
  readonly hostHeader: string
  /** The host the request is for, lowercased, without port (used when Host is absent). */
  readonly host: string
  /** The listener's kind: https and mtls listeners are TLS. */
  readonly listener: string
}

/** Why a base cannot be built. */
export const BaseProblem = {
  /** A component twice, a non-string component, or @signature-params covered. */
  Malformed: 0,
  /** A component this gateway does not derive (§2.2.8 @query-param, parameters…). */
  Unsupported: 1,
  /** A covered header field the request does not carry (§2.5: "MUST produce an error"). */
  Absent: 2,
} as const
export type BaseProblem = (typeof BaseProblem)[keyof typeof BaseProblem]

/** The derived components a request has (§2.2), for config checks. */
export const DERIVED_COMPONENTS = [
  '@method',
  '@target-uri',
  '@authority',
  '@scheme',
  '@request-target',
  '@path',
  '@query',
] as const

/** The signature base of `list` (a Signature-Input member) over `message`. */
export function signatureBase(list: InnerList, message: SignedMessage): string | BaseProblem {
  const items = list.items
  let base = ''
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!
    const name = item.value
    if (typeof name !== 'string') return BaseProblem.Malformed
    // §2.5: a component identifier MUST NOT appear twice in the covered components.
    for (let j = 0; j < i; j++) if (items[j]!.value === name) return BaseProblem.Malformed
    if (item.params.size !== 0) return BaseProblem.Unsupported
    const value = componentValue(name, message)
    if (typeof value !== 'string') return value
    base += serializeString(name) + ': ' + value + '\n'
  }
  return base + '"@signature-params": ' + serializeInnerList(list)
}

/**
 * The same base for a Signature-Input read by signature-input.ts: its components need no
 * escaping (they hold no `"` or `\`) and its Inner List's text is already serialized.
 */
export function commonSignatureBase(
  input: CommonSignatureInput,
  message: SignedMessage,
): string | BaseProblem {
  const text = input.text
  let base = ''
  for (let i = 0; i < input.count; i++) {
    if (input.repeats(i)) return BaseProblem.Malformed
    const name = text.slice(input.starts[i]!, input.ends[i]!)
    const value = componentValue(name, message)
    if (typeof value !== 'string') return value
    base += '"' + name + '": ' + value + '\n'
  }
  return base + '"@signature-params": ' + text.slice(input.listStart)
}

/** The value of one covered component (no parameters), or why there is none. */
export function componentValue(name: string, message: SignedMessage): string | BaseProblem {
  if (name.charCodeAt(0) !== 64 /* @ */) return fieldValue(name, message.headers)
  switch (name) {
    case '@method':
      return message.method
    case '@scheme':
      return schemeOf(message)
    case '@authority':
      return authorityOf(message)
    case '@path':
      return pathOf(message)
    case '@query':
      // §2.2.7: the leading '?' always; an absent query is '?' alone.
      return '?' + message.query
    case '@request-target':
      return requestTarget(message)
    case '@target-uri':
      return schemeOf(message) + '://' + authorityOf(message) + requestTarget(message)
    case '@signature-params':
      return BaseProblem.Malformed
    default:
      return BaseProblem.Unsupported
  }
}

/**
 * §2.1: every field line of `name`, each value trimmed, joined by ", ". A name that is not
 * lower case cannot match (the RFC requires lower-case identifiers).
 */
function fieldValue(name: string, headers: readonly string[]): string | BaseProblem {
  let value: string | null = null
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== name) continue
    const line = headers[i + 1]!.trim()
    value = value === null ? line : value + ', ' + line
  }
  return value ?? BaseProblem.Absent
}

function schemeOf(message: SignedMessage): string {
  return message.listener === 'http' ? 'http' : 'https'
}

/**
 * §2.2.3: the target URI's authority, normalized by RFC 9110 §4.2.3: lower case, without the
 * scheme's default port.
 */
function authorityOf(message: SignedMessage): string {
  const host = message.hostHeader
  if (host === '') return message.host
  const authority = host.trim().toLowerCase()
  const defaultPort = message.listener === 'http' ? ':80' : ':443'
  return authority.endsWith(defaultPort) ? authority.slice(0, -defaultPort.length) : authority
}

/** §2.2.6: the raw path, '/' when empty (RFC 9110 §4.2.3). */
function pathOf(message: SignedMessage): string {
  return message.rawPath === '' ? '/' : message.rawPath
}

/** §2.2.5: origin-form path and query as sent. */
function requestTarget(message: SignedMessage): string {
  const path = pathOf(message)
  return message.query === '' ? path : path + '?' + message.query
}
