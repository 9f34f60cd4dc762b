/** Config schema of the listeners and of the request limits every listener enforces. */
import { Type, type Static } from '@sinclair/typebox'
import { Duration, Port, Size } from '../config/fragments.js'

const Host = (description: string, def: string) =>
  Type.String({ minLength: 1, description, default: def })

/** A traffic listener's `proxy_protocol` switch (net/proxy-protocol.ts, front/proxy-protocol-server.ts). */
export const ProxyProtocol = () =>
  Type.Boolean({
    description:
      'Every connection must begin with a PROXY protocol header (v1 or v2; before the TLS ' +
      'handshake on TLS listeners) from a peer in trusted_proxies, whose source address is ' +
      'then the client’s. A peer not in trusted_proxies, a missing, malformed or oversized ' +
      'header, or none within limits.proxy_header_timeout: the connection is closed. Served by ' +
      'node:http on either front. Needs trusted_proxies. Default false: no header is read.',
    default: false,
  })

export const HttpListenerSchema = Type.Object(
  {
    host: Host('Address to bind. 0.0.0.0 for every IPv4 interface, :: for IPv6.', '0.0.0.0'),
    port: Port({ description: 'TCP port; every worker binds it (SO_REUSEPORT).', default: 8080 }),
    proxy_protocol: ProxyProtocol(),
  },
  {
    additionalProperties: false,
    description: 'Plain HTTP/1.1 listener on the uWebSockets.js front.',
  },
)

const PemFile = (description: string) => Type.String({ minLength: 1, description })

const Passphrase = Type.Optional(
  Type.String({ description: 'Passphrase of the key, if it is encrypted. Default: none.' }),
)

/** A certificate served to clients that ask for one of `hosts` (SNI, RFC 6066 §3). */
export const SniCertificateSchema = Type.Object(
  {
    hosts: Type.Array(
      Type.String({
        minLength: 1,
        pattern: '^(\\*\\.)?[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$',
        patternReason: 'must be a host name (api.example.com) or a wildcard (*.example.com)',
      }),
      {
        minItems: 1,
        description:
          'Server names this certificate answers: exact (api.example.com) or one wildcard ' +
          'label (*.example.com matches a.example.com, not a.b.example.com). An exact name ' +
          'wins over a wildcard; a name none matches gets the default cert.',
      },
    ),
    cert: PemFile('PEM certificate chain file (leaf first).'),
    key: PemFile('PEM private key file.'),
    passphrase: Passphrase,
  },
  { additionalProperties: false },
)

const Certificates = Type.Array(SniCertificateSchema, {
  description:
    'More certificates, chosen by the server name the client sends (SNI). Default: none, the ' +
    'cert/key pair serves every name.',
  default: [],
})

export const TlsListenerSchema = Type.Object(
  {
    host: Host('Address to bind.', '0.0.0.0'),
    port: Port({ description: 'TCP port.', default: 8443 }),
    cert: PemFile(
      'PEM certificate chain file (leaf first): served to clients that send no server name ' +
        'or one no entry of certificates matches.',
    ),
    key: PemFile('PEM private key file of cert.'),
    passphrase: Passphrase,
    certificates: Certificates,
    proxy_protocol: ProxyProtocol(),
  },
  {
    additionalProperties: false,
    description:
      'HTTPS listener: TLS 1.2 and 1.3 with the Mozilla "intermediate" ciphers, terminated by ' +
      'BoringSSL (uWS SSLApp) or OpenSSL (node:https with --front node). Certificates and keys ' +
      'are read again on every reload (SIGHUP).',
  },
)

export const MtlsListenerSchema = Type.Object(
  {
    host: Host('Address to bind.', '0.0.0.0'),
    port: Port({ description: 'TCP port.', default: 8444 }),
    cert: PemFile('PEM certificate chain file (leaf first) of the server.'),
    key: PemFile('PEM private key file of cert.'),
    passphrase: Passphrase,
    certificates: Certificates,
    client_ca: PemFile(
      'PEM bundle of the CAs whose client certificates are accepted; a connection without ' +
        'a certificate that chains to one of them is refused in the handshake.',
    ),
    crl: Type.Array(PemFile('PEM CRL file.'), {
      description:
        'Certificate revocation lists (PEM files), read again on every reload. Once set, ' +
        'every CA of a client chain needs its CRL here, and an expired CRL refuses every ' +
        'certificate of its CA (OpenSSL checks CRLs of the whole chain). Default: none.',
      default: [],
    }),
    verify_depth: Type.Integer({
      minimum: 0,
      maximum: 16,
      description:
        'Most intermediate CA certificates allowed between a client certificate and the CA ' +
        'of client_ca it chains to (the meaning of OpenSSL and nginx verify depth). 1: a ' +
        'client certificate from an issuing CA under a root; 0: only from a CA of client_ca.',
      default: 1,
    }),
    proxy_protocol: ProxyProtocol(),
  },
  {
    additionalProperties: false,
    description:
      'Mutual-TLS listener: every client presents a certificate, verified in the handshake. ' +
      'Served by node:tls (OpenSSL) on both fronts, since uWS 20.30 can neither require a ' +
      'client certificate nor expose it.',
  },
)

export const StatusListenerSchema = Type.Object(
  {
    host: Host('Address to bind; loopback by default since probes run on the host.', '127.0.0.1'),
    port: Port({ description: 'TCP port of /healthz and /readyz.', default: 8081 }),
  },
  { additionalProperties: false, description: 'Liveness and readiness probes.' },
)

export const AdminListenerSchema = Type.Object(
  {
    host: Host(
      'Address to bind; loopback by default: the admin API manages credentials and is for ' +
        'operators on the host (or behind a tunnel), never for traffic.',
      '127.0.0.1',
    ),
    port: Port({
      description:
        'TCP port of the admin API; never one of a traffic or status listener (a config error).',
      default: 8082,
    }),
  },
  {
    additionalProperties: false,
    description:
      'The admin API (consumers, keys, revocations, status), served by node:http in each ' +
      'worker. Off unless set; every call needs a token of admin.tokens.',
  },
)

export const ListenersSchema = Type.Object(
  {
    http: Type.Optional(HttpListenerSchema),
    https: Type.Optional(TlsListenerSchema),
    mtls: Type.Optional(MtlsListenerSchema),
    status: Type.Optional(StatusListenerSchema),
    admin: Type.Optional(AdminListenerSchema),
  },
  {
    additionalProperties: false,
    description: 'Where traffic enters. At least one of http, https or mtls.',
    default: { http: { host: '0.0.0.0', port: 8080 } },
  },
)

export const LimitsSchema = Type.Object(
  {
    max_header_bytes: Size({
      description:
        'Largest request head (request line and headers). 16KiB: larger than any browser sends, ' +
        'small enough that a header flood costs little memory. Over it: 431.',
      default: '16KiB',
    }),
    max_body: Size({
      description: 'Default body limit of every route (a route may set its own). Over it: 413.',
      default: '1MiB',
    }),
    request_timeout: Duration({
      description:
        'Time allowed to receive the whole request body from the client. Over it: 408. ' +
        '60s lets a slow mobile upload of the default max_body finish.',
      default: '60s',
    }),
    buffer_body: Size({
      description:
        'Request bodies up to this size (never more than the route max_body) are received ' +
        'whole before an upstream connection is taken, then sent in one write; of a larger ' +
        'or chunked body this much is received first, and the rest streams. A client that ' +
        'sends slowly then holds a socket of the gateway, not a pooled upstream connection ' +
        '(as nginx proxy_request_buffering). 0 streams every body from its first byte.',
      default: '64KiB',
    }),
    min_body_rate: Size({
      description:
        'Bytes per second a body larger than buffer_body (or chunked) must keep arriving at, ' +
        'averaged over min_body_rate_window; time the gateway itself holds the client back ' +
        '(upstream backpressure) does not count. Below it: 408 and the connection closed, the ' +
        'upstream request aborted if it had started. 500 is the MinRate of Apache ' +
        'mod_reqtimeout: far below any real uplink. 0 turns the check off.',
      default: 500,
    }),
    min_body_rate_window: Duration({
      description:
        'Window over which min_body_rate is averaged; the first one starts when the body is ' +
        'read, so it is also the grace a body gets before it is checked.',
      default: '10s',
    }),
    proxy_header_timeout: Duration({
      description:
        'Time a connection to a listener with proxy_protocol has to send its whole PROXY ' +
        'header; then it is closed. A proxy sends it as it connects, so this only bounds ' +
        'connections that send nothing or trickle.',
      default: '5s',
    }),
    max_concurrent_per_client: Type.Integer({
      minimum: 0,
      description:
        'Requests one client address may have in flight in each worker (WebSocket tunnels ' +
        'are not counted). Over it: 429 with Retry-After. 0 (default): no cap, since many ' +
        'clients can share one address behind a NAT or a proxy.',
      default: 0,
    }),
  },
  { additionalProperties: false, default: {} },
)

export type ListenersConfig = Static<typeof ListenersSchema>
export type TlsListenerConfig = Static<typeof TlsListenerSchema>
export type MtlsListenerConfig = Static<typeof MtlsListenerSchema>
export type LimitsConfig = Static<typeof LimitsSchema>
