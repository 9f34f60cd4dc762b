/**
 * Every error code portcullis emits, in one place.
 *
 * The control plane (config, CLI, startup, reload) throws {@link PortcullisError}; the data plane
 * never throws for a client's mistake and returns a frozen {@link Rejection} instead, with the
 * wire codes of docs/architecture.md ("Errors on the wire"). Codes are never reused.
 */
import { STATUS_CODES } from 'node:http'

/** Control-plane error codes: config, CLI, startup, reload. */
export type PortcullisErrorCode =
  | 'PCL_ERR_CONFIG_READ'
  | 'PCL_ERR_CONFIG_PARSE'
  | 'PCL_ERR_CONFIG_INVALID'
  | 'PCL_ERR_CONFIG_ENV'
  | 'PCL_ERR_CLI_USAGE'
  | 'PCL_ERR_TOKEN_KEY'
  | 'PCL_ERR_FRONT_UNAVAILABLE'
  | 'PCL_ERR_VERIFIER_UNAVAILABLE'
  | 'PCL_ERR_UPSTREAM_SOCKETS_UNAVAILABLE'
  | 'PCL_ERR_LISTEN'
  | 'PCL_ERR_TLS'
  | 'PCL_ERR_ADMIN'

/** One problem found in a config file: where (`routes[2].match.paths[0]`) and why. */
export interface ConfigProblem {
  readonly path: string
  readonly reason: string
}

export class PortcullisError extends Error {
  readonly code: PortcullisErrorCode
  readonly problems: readonly ConfigProblem[]

  constructor(code: PortcullisErrorCode, message: string, problems: readonly ConfigProblem[] = []) {
    super(problems.length === 0 ? message : `${message}\n${formatProblems(problems)}`)
    this.name = 'PortcullisError'
    this.code = code
    this.problems = problems
  }
}

export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map((p) => `  - ${p.path || '(root)'}: ${p.reason}`).join('\n')
}

/** Wire error codes: the `error` member of every JSON rejection body. */
export type WireErrorCode =
  | 'bad_request'
  | 'invalid_path'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'headers_too_large'
  | 'request_timeout'
  | 'upgrade_not_allowed'
  | 'internal_error'
  | 'bad_gateway'
  | 'gateway_timeout'
  | 'service_unavailable'
  | 'expectation_failed'
  | 'upgrade_required'
  | 'invalid_request'
  | 'unauthorized'
  | 'invalid_token'
  | 'invalid_signature'
  | 'insufficient_scope'
  | 'forbidden'
  | 'auth_unavailable'
  | 'introspection_unavailable'
  | 'rate_limited'
  | 'upstream_busy'
  | 'too_many_concurrent_requests'
  | 'admin_unauthorized'
  | 'config_owned'
  | 'conflict'
  | 'store_unavailable'
  | 'encryption_not_configured'
  | 'unsupported_media_type'

/**
 * A verdict that stops a request: built once (at module load or route compile), frozen, and
 * returned by stages. `headers` is a flat [name, value, name, value…] list of lowercase names.
 */
export interface Rejection {
  readonly status: number
  readonly code: WireErrorCode | (string & {})
  readonly message: string
  readonly headers: readonly string[]
  /**
   * The problems of this one request (a failed JSON Schema): the body becomes RFC 9457 problem
   * details listing them. null on every rejection built in advance.
   */
  readonly problems: readonly RequestProblem[] | null
}

/** One broken rule of a request: where (an RFC 6901 JSON Pointer) and which rule; never a value. */
export interface RequestProblem {
  /** `/body/items/0/name`, `/query/limit`, `/headers/x-tenant`, `/path_params/id`. */
  readonly pointer: string
  /** The rule's JSON Schema keyword (`type`, `required`…), or the body's own (`json`, `max_depth`). */
  readonly rule: string
  /** What the value must be, in the words of the rule (`must be integer`). */
  readonly detail: string
}

export function createRejection(
  status: number,
  code: WireErrorCode | (string & {}),
  message: string,
  headers: readonly string[] = [],
): Rejection {
  return Object.freeze({
    status,
    code,
    message,
    headers: Object.freeze([...headers]),
    problems: null,
  })
}

/**
 * A rejection for one request that lists its problems (RFC 9457 problem details): the only kind
 * built on the request path, and only once a request has failed a check.
 */
export function createProblemRejection(
  base: Rejection,
  problems: readonly RequestProblem[],
): Rejection {
  return {
    status: base.status,
    code: base.code,
    message: base.message,
    headers: base.headers,
    problems,
  }
}

/**
 * An answer without content that stops a request the way a rejection does: a CORS preflight's
 * 204. The fronts write its status and headers and no body (RFC 9110 §15.3.5); it carries no
 * error code.
 */
export function createEmptyAnswer(headers: readonly string[]): Rejection {
  return Object.freeze({
    status: 204,
    code: '',
    message: '',
    headers: Object.freeze([...headers]),
    problems: null,
  })
}

/** The rejections the core itself returns; stages define theirs beside their code. */
export const REJECT = Object.freeze({
  badRequest: createRejection(400, 'bad_request', 'The request is malformed.'),
  invalidPath: createRejection(
    400,
    'invalid_path',
    'The request path contains a sequence that upstream servers may decode differently.',
  ),
  conflictingLength: createRejection(
    400,
    'bad_request',
    'The request has conflicting Content-Length or Transfer-Encoding headers.',
  ),
  notFound: createRejection(404, 'not_found', 'No route matches this request.'),
  /** A valid credential used from an address its key's or consumer's IP rules refuse. */
  addressRefused: createRejection(
    403,
    'forbidden',
    'This credential may not be used from this client address.',
  ),
  payloadTooLarge: createRejection(
    413,
    'payload_too_large',
    'The request body exceeds the limit of this route.',
  ),
  headersTooLarge: createRejection(
    431,
    'headers_too_large',
    'The request headers exceed the limit of this gateway.',
  ),
  requestTimeout: createRejection(408, 'request_timeout', 'The request was not received in time.'),
  bodyTooSlow: createRejection(
    408,
    'request_timeout',
    'The request body arrived more slowly than this gateway accepts.',
  ),
  tooManyConcurrent: createRejection(
    429,
    'too_many_concurrent_requests',
    'This client has too many requests in flight; retry after Retry-After seconds.',
    ['retry-after', '1'],
  ),
  upgradeNotAllowed: createRejection(
    400,
    'upgrade_not_allowed',
    'This route does not accept protocol upgrades.',
  ),
  internalError: createRejection(
    500,
    'internal_error',
    'The gateway failed to process the request.',
  ),
  badGateway: createRejection(502, 'bad_gateway', 'The upstream service could not be reached.'),
  gatewayTimeout: createRejection(
    504,
    'gateway_timeout',
    'The upstream service did not answer in time.',
  ),
  upstreamBusy: createRejection(
    503,
    'upstream_busy',
    'Every connection to the upstream service stayed busy; retry after Retry-After seconds.',
    ['retry-after', '1'],
  ),
  shuttingDown: createRejection(503, 'service_unavailable', 'The gateway is shutting down.'),
})

/** Serializes a rejection body; request ids are generated by the gateway, so they need no escaping. */
export function rejectionBody(rejection: Rejection, requestId: string): string {
  if (rejection.problems !== null) return problemBody(rejection, rejection.problems, requestId)
  return `{"error":${JSON.stringify(rejection.code)},"message":${JSON.stringify(rejection.message)},"request_id":"${requestId}"}`
}

/** The Content-Type of {@link rejectionBody}'s answer. */
export function rejectionContentType(rejection: Rejection): string {
  return rejection.problems === null ? 'application/json' : 'application/problem+json'
}

/**
 * RFC 9457 problem details. `type` is `about:blank` (§4.2.1: the problem is the status code's own,
 * so `title` is its phrase); the gateway's code is the `error` extension member, as in every other
 * rejection body, with `detail`, the `errors` list (each a JSON Pointer and the rule it broke, as
 * §3's example lists them) and `request_id`.
 */
function problemBody(
  rejection: Rejection,
  problems: readonly RequestProblem[],
  requestId: string,
): string {
  const errors = problems.map((p) => ({ pointer: p.pointer, rule: p.rule, detail: p.detail }))
  return JSON.stringify({
    type: 'about:blank',
    title: STATUS_CODES[rejection.status] ?? 'Error',
    status: rejection.status,
    detail: rejection.message,
    errors,
    error: rejection.code,
    request_id: requestId,
  })
}

/** Rejections for the request head, kept apart so the framing rules read as a list. */
export const REJECT_HEAD = Object.freeze({
  duplicateHost: createRejection(400, 'bad_request', 'The request has more than one Host header.'),
  badHost: createRejection(400, 'bad_request', 'The Host header is not a valid host.'),
  missingHost: createRejection(400, 'bad_request', 'HTTP/1.1 requests must carry a Host header.'),
  unsupportedTransferEncoding: createRejection(
    400,
    'bad_request',
    'Only the chunked transfer coding is accepted on requests.',
  ),
  expectationFailed: createRejection(
    417,
    'expectation_failed',
    'The only expectation this gateway meets is 100-continue.',
  ),
})
