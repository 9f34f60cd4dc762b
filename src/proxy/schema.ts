/** Config schema of upstreams (targets, timeouts, retries, passive health) and of `headers:`. */
import { Type, type Static } from '@sinclair/typebox'
import { ConsumerHeadersSchema } from '../consumers/headers-schema.js'
import { CertificateHeadersSchema } from '../tls/certificate-headers-schema.js'
import {
  Duration,
  HEADER_NAME_PATTERN,
  HEADER_NAME_REASON,
  NamedRecord,
  Pattern,
} from '../config/fragments.js'

export const UpstreamSchema = Type.Object(
  {
    targets: Type.Array(
      Pattern(
        '^https?://[^/?#]+(/[^?#]*)?$',
        'must be an http:// or https:// URL of a host, with an optional base path and no query ' +
          'or fragment, such as http://10.0.0.5:3000 or https://api.internal/v2',
        { description: 'http(s)://host:port[/base-path]' },
      ),
      {
        minItems: 1,
        description: 'Servers tried round-robin; a base path is prepended to every request path.',
      },
    ),
    connect_timeout: Duration({
      description: 'TCP (and TLS) connect timeout. Over it: 504.',
      default: '5s',
    }),
    timeout: Duration({
      description: 'Time to the upstream response headers. Over it: 504.',
      default: '30s',
    }),
    body_timeout: Duration({
      description: 'Longest silence between two chunks of the upstream response body.',
      default: '30s',
    }),
    retries: Type.Integer({
      minimum: 0,
      maximum: 10,
      description:
        'Retries on another target when the connection failed before any response (refused, ' +
        'reset, connect timeout), for idempotent methods (RFC 9110 §9.2.2) whose body can be ' +
        'replayed: the keep-alive race where an upstream closes an idle connection as it is ' +
        'reused. A non-idempotent request is never sent twice.',
      default: 2,
    }),
    connections: Type.Integer({
      minimum: 1,
      maximum: 65536,
      description: 'Keep-alive connections per target per worker.',
      default: 128,
    }),
    queue_timeout: Duration({
      description:
        'Longest time a request waits for a free connection when all `connections` of its ' +
        'target are busy. Over it: 503 upstream_busy with Retry-After, and the upstream never ' +
        "sees the request. As HAProxy timeout queue, the default is connect_timeout's.",
      default: '5s',
    }),
    keepalive_timeout: Duration({
      description:
        'Idle time after which a pooled connection is closed. 4s stays under the 5s that ' +
        'node:http servers use, so the gateway never reuses a socket the upstream is closing.',
      default: '4s',
    }),
    eject_after: Type.Integer({
      minimum: 1,
      description: 'Consecutive connection failures or 5xx-free timeouts that eject a target.',
      default: 5,
    }),
    eject_for: Duration({
      description: 'How long an ejected target is skipped before it gets traffic again.',
      default: '30s',
    }),
    transport: Type.Union([Type.Literal('native'), Type.Literal('undici')], {
      description:
        "Client for http:// targets. native: the gateway's own lean HTTP/1.1 keep-alive client " +
        "(undici's Dispatcher contract, no pipelining), which costs less CPU per request than " +
        "undici's Pool. undici: undici's Pool, for an upstream that needs what native does " +
        'not do. https:// targets and WebSocket handshakes always use undici.',
      default: 'native',
    }),
    preserve_host: Type.Boolean({
      description: "Send the client's Host header instead of the target's host.",
      default: false,
    }),
  },
  { additionalProperties: false },
)

export const UpstreamsSchema = NamedRecord(UpstreamSchema, {
  description: 'Named sets of targets, referenced by routes.',
  default: {},
})

/**
 * Method-override headers: a route's scopes and methods are checked for the method the gateway
 * saw, and an upstream that honours one of these (Express's method-override, Rack's
 * MethodOverride, OData services) would run a method the caller was never authorized for.
 */
export const METHOD_OVERRIDE_HEADERS = [
  'X-HTTP-Method-Override',
  'X-HTTP-Method',
  'X-Method-Override',
]

export const HeadersSchema = Type.Object(
  {
    consumer: ConsumerHeadersSchema,
    client_certificate: CertificateHeadersSchema,
    drop: Type.Array(Pattern(HEADER_NAME_PATTERN, HEADER_NAME_REASON), {
      uniqueItems: true,
      description:
        "Request headers removed from the client's request before forwarding, on every route, " +
        'in any letter case and with _ for -. The default lists the method-override headers: ' +
        'scopes are checked for the method the gateway saw, and an upstream that honours an ' +
        'override would run another one. [] forwards them.',
      default: METHOD_OVERRIDE_HEADERS,
    }),
  },
  { additionalProperties: false, default: {} },
)

export type UpstreamConfig = Static<typeof UpstreamSchema>
export type HeadersConfig = Static<typeof HeadersSchema>
