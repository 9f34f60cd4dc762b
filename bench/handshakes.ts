/**
 * The handshake loader: `openssl s_time -new` processes, each opening TLS connections one after
 * the other for a fixed time, every one a full handshake (s_time keeps no session to resume), then
 * closing it without a request. The client is OpenSSL's own C code, as light per handshake as a
 * client gets, and it presents a client certificate for mutual TLS (`-cert`/`-key`).
 *
 * One s_time process has one handshake in flight; several keep the server's accept queue full
 * while each waits for its round trips (longer on a shared machine, where every wake-up queues).
 */
import { HOST } from './options.js'
import type { TargetTls } from './scenarios/types.js'

/** s_time processes per run. */
export const HANDSHAKE_CLIENTS = 16

/** s_time's arguments for `seconds` of new connections to `port` on the bench host. */
export function sTimeArgs(port: number, tls: TargetTls, seconds: number): string[] {
  return [
    's_time',
    '-connect',
    `${HOST}:${port}`,
    '-new',
    '-time',
    String(Math.max(1, Math.round(seconds))),
    ...(tls.client === undefined ? [] : ['-cert', tls.client.certFile, '-key', tls.client.keyFile]),
  ]
}

/**
 * The handshakes one s_time run completed, from its summary line
 * (`1234 connections in 5.67s; 217.64 connections/user sec, bytes read 0`).
 */
export function parseSTime(stdout: string): number {
  const match = /^(\d+) connections in [\d.]+s;/m.exec(stdout)
  if (match === null) throw new Error(`s_time printed no summary:\n${stdout.slice(-1000)}`)
  return Number(match[1])
}
