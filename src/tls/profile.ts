/**
 * The TLS profile of every listener: Mozilla's "intermediate" configuration (TLS 1.2 and 1.3,
 * AEAD ciphers with forward secrecy only), which every client of the last decade negotiates.
 *
 * @see https://wiki.mozilla.org/Security/Server_Side_TLS#Intermediate_compatibility_.28recommended.29
 */
import { constants } from 'node:crypto'

/** TLS 1.2 cipher list of the intermediate profile (OpenSSL names). */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
].join(':')

/** TLS 1.3 suites of the profile: OpenSSL's defaults, named so node:tls keeps TLS 1.3 on. */
export const TLS13_SUITES = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
].join(':')

/** The options of a node:tls server context: versions, ciphers and ALPN of the profile. */
export const NODE_TLS_PROFILE = {
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  // node:tls takes both lists in one string; without TLS_* names it would turn TLS 1.3 off.
  ciphers: `${TLS13_SUITES}:${TLS12_CIPHERS}`,
  // The profile lets the client choose among these (a client without AES hardware puts ChaCha20
  // first), as the uWS listener does; node:tls servers default to their own order.
  honorCipherOrder: false,
  // The fronts speak HTTP/1.1 only; a client offering h2 alone is refused in the handshake.
  ALPNProtocols: ['http/1.1'],
  // No session tickets, as the profile says (a ticket key that outlives its sessions undoes
  // forward secrecy); it also spares every full handshake encrypting a session into a ticket,
  // the client's certificate included on mtls (bench/RESULTS.md, issue 17).
  secureOptions: constants.SSL_OP_NO_TICKET,
} as const
