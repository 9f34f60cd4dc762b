/**
 * Config schema of `headers.client_certificate`: how the client certificate of an mTLS
 * connection is told to the upstream. Read by tls/certificate-headers.ts; part of the `headers:`
 * section (proxy/schema.ts), whose names the proxy removes from client requests.
 */
import { Type, type Static } from '@sinclair/typebox'
import { HEADER_NAME_PATTERN, HEADER_NAME_REASON, Pattern } from '../config/fragments.js'

export const CERTIFICATE_HEADER_FORMATS = ['headers', 'xfcc', 'none'] as const

export const CertificateHeadersSchema = Type.Object(
  {
    format: Type.Union(
      CERTIFICATE_HEADER_FORMATS.map((f) => Type.Literal(f)),
      {
        description:
          'headers: the subject, SANs and fingerprint in one header each (the names below); ' +
          "xfcc: Envoy's X-Forwarded-Client-Cert (Hash, Subject, URI, DNS); none: nothing.",
        // The separate headers need no parser upstream; xfcc suits a mesh that already reads it.
        default: 'headers',
      },
    ),
    subject: Pattern(HEADER_NAME_PATTERN, HEADER_NAME_REASON, {
      description: 'Header carrying the subject as an RFC 4514 string (CN=api,O=Example).',
      default: 'X-Client-Cert-Subject',
    }),
    san: Pattern(HEADER_NAME_PATTERN, HEADER_NAME_REASON, {
      description:
        'Header carrying the SAN URIs and DNS names (URI=spiffe://…, DNS=api.example.org); ' +
        'omitted when the certificate has none.',
      default: 'X-Client-Cert-SAN',
    }),
    sha256: Pattern(HEADER_NAME_PATTERN, HEADER_NAME_REASON, {
      description: 'Header carrying the SHA-256 fingerprint of the certificate (lower-case hex).',
      default: 'X-Client-Cert-SHA256',
    }),
    xfcc: Pattern(HEADER_NAME_PATTERN, HEADER_NAME_REASON, {
      description: 'Header carrying the certificate in the xfcc format.',
      default: 'X-Forwarded-Client-Cert',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'Headers telling the upstream the client certificate of an mTLS connection, on every ' +
      'route. Every name here, whichever format is chosen, and the default names even when ' +
      'renamed, are removed from every client request in any letter case and with _ for -, so ' +
      'an upstream can trust them.',
  },
)

export type CertificateHeadersConfig = Static<typeof CertificateHeadersSchema>
