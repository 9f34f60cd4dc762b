/**
 * TLS listeners on real sockets: certificates chosen by SNI, the TLS profile, certificate checks
 * at load and reload, certificates replaced on SIGHUP without dropping connections (under traffic:
 * tls-reload-netns.test.ts), mutual TLS refused in the handshake, and HSTS. Every certificate is
 * made at run time (scripts/pki.ts).
 */
import { copyFileSync, writeFileSync } from 'node:fs'
import { Agent } from 'node:https'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createPki, type Authority, type Issued, type Pki } from '../../scripts/pki.js'
import {
  FRONTS,
  runCli,
  startGateway,
  stopAllGateways,
  type ConfigInput,
} from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { freePort } from '../helpers/ports.js'
import { tlsRequest } from '../helpers/tls-client.js'
import { closeAllUpstreams, startUpstream, type TestUpstream } from '../helpers/upstream.js'

const DAY = 86_400

let pki: Pki
let ca: Authority
let upstream: TestUpstream

beforeAll(async () => {
  pki = createPki()
  ca = pki.ca('tls test CA')
  upstream = await startUpstream()
})

afterEach(stopAllGateways)

afterAll(async () => {
  await closeAllUpstreams()
  pki.cleanup()
})

interface Ports {
  readonly http: number
  readonly status: number
  readonly https: number
  readonly mtls: number
}

async function ports(): Promise<Ports> {
  return {
    http: await freePort(),
    status: await freePort(),
    https: await freePort(),
    mtls: await freePort(),
  }
}

function config(
  at: Ports,
  listeners: Record<string, unknown>,
  extra: Partial<ConfigInput> = {},
): ConfigInput {
  return {
    listeners: {
      http: { host: '127.0.0.1', port: at.http },
      status: { host: '127.0.0.1', port: at.status },
      ...listeners,
    },
    upstreams: { up: { targets: [upstream.url] } },
    routes: [{ name: 'all', match: { paths: ['/*'] }, upstream: 'up', auth: 'none' }],
    ...extra,
  }
}

function https(at: Ports, server: Issued, more: Record<string, unknown> = {}) {
  return {
    https: {
      host: '127.0.0.1',
      port: at.https,
      cert: server.chainFile,
      key: server.keyFile,
      ...more,
    },
  }
}

/** Polls `check` until it holds (a reload reaches the workers after the primary's log line). */
async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check().catch(() => false))) {
    if (Date.now() > end) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe.each(FRONTS)('TLS listeners (--front %s)', (front) => {
  describe('listeners.https', () => {
    it('chooses the certificate by SNI: exact, wildcard, and the default', async () => {
      const at = await ports()
      const main = pki.issue(ca, { cn: 'default.test', dns: ['default.test'] })
      const exact = pki.issue(ca, { cn: 'api.test', dns: ['api.test'] })
      const wild = pki.issue(ca, { cn: 'wild.test', dns: ['*.wild.test'] })
      const special = pki.issue(ca, { cn: 'special.wild.test', dns: ['special.wild.test'] })
      await startGateway({
        front,
        config: config(
          at,
          https(at, main, {
            certificates: [
              { hosts: ['api.test'], cert: exact.chainFile, key: exact.keyFile },
              { hosts: ['*.wild.test'], cert: wild.chainFile, key: wild.keyFile },
              { hosts: ['special.wild.test'], cert: special.chainFile, key: special.keyFile },
            ],
          }),
        ),
      })
      const cn = async (servername?: string) => {
        const result = await tlsRequest({
          port: at.https,
          ca: ca.cert,
          ...(servername === undefined ? {} : { servername }),
        })
        expect(result.status).toBe(200)
        return result.serverCn
      }
      expect(await cn('api.test')).toBe('api.test')
      // Server names are case-insensitive (RFC 6066 §3); uSockets matches them as sent
      // (docs/architecture.md, fronts table), and clients send them in lowercase.
      if (front === 'node') expect(await cn('API.Test')).toBe('api.test')
      expect(await cn('a.wild.test')).toBe('wild.test')
      expect(await cn('special.wild.test')).toBe('special.wild.test')
      // One wildcard label only, as RFC 6125 §6.4.3 matches certificates.
      expect(await cn('a.b.wild.test')).toBe('default.test')
      expect(await cn('other.test')).toBe('default.test')
      expect(await cn(undefined)).toBe('default.test')
    })

    it('speaks TLS 1.2 and 1.3 only, with forward-secret AEAD ciphers', async () => {
      const at = await ports()
      const main = pki.issue(ca, { cn: 'default.test' })
      await startGateway({ front, config: config(at, https(at, main)) })
      const v13 = await tlsRequest({ port: at.https })
      expect(v13.protocol).toBe('TLSv1.3')
      const v12 = await tlsRequest({ port: at.https, maxVersion: 'TLSv1.2' })
      expect(v12.protocol).toBe('TLSv1.2')
      for (const version of ['TLSv1', 'TLSv1.1'] as const) {
        await expect(
          tlsRequest({
            port: at.https,
            minVersion: version,
            maxVersion: version,
            ciphers: 'DEFAULT@SECLEVEL=0',
          }),
        ).rejects.toThrow()
      }
      // CBC and non-forward-secret suites are outside the profile.
      await expect(
        tlsRequest({
          port: at.https,
          maxVersion: 'TLSv1.2',
          ciphers: 'ECDHE-ECDSA-AES128-SHA256:AES128-GCM-SHA256',
        }),
      ).rejects.toThrow()
    })

    it("refuses a key that is not the certificate's at load, naming the file", async () => {
      const at = await ports()
      const main = pki.issue(ca, { cn: 'default.test' })
      const other = pki.issue(ca, { cn: 'other.test' })
      const file = pki.file(
        `mismatch-${front}.json`,
        JSON.stringify(config(at, https(at, main, { key: other.keyFile }))),
      )
      const result = await runCli(['start', '--config', file, '--front', front])
      expect(result.code).not.toBe(0)
      const output = result.stdout + result.stderr
      expect(output).toContain('listeners.https.key')
      expect(output).toContain(other.keyFile)
    })

    it('refuses an expired certificate at load, and warns of one that expires soon', async () => {
      const at = await ports()
      const expired = pki.issue(ca, {
        cn: 'old.test',
        notBeforeSeconds: -10 * DAY,
        notAfterSeconds: -DAY,
      })
      const file = pki.file(`expired-${front}.json`, JSON.stringify(config(at, https(at, expired))))
      const result = await runCli(['start', '--config', file, '--front', front])
      expect(result.code).not.toBe(0)
      expect(result.stdout + result.stderr).toMatch(/listeners\.https\.cert.*expired/)

      const soon = pki.issue(ca, { cn: 'soon.test', notAfterSeconds: 3 * DAY })
      const gw = await startGateway({ front, config: config(at, https(at, soon)) })
      const warning = await gw.waitForLog((l) => l.level === 'warn' && l['file'] === soon.chainFile)
      expect(warning['path']).toBe('listeners.https.cert')
      expect(String(warning.msg)).toContain(soon.chainFile)
    })

    it('serves new certificates after SIGHUP, keeps open connections, and keeps the old ones when the new are bad', async () => {
      const at = await ports()
      const first = pki.issue(ca, { cn: 'first.test' })
      const second = pki.issue(ca, { cn: 'second.test' })
      const live = pki.file(`live-${front}.pem`, first.chain)
      const liveKey = pki.file(`live-${front}.key`, first.key)
      const gw = await startGateway({
        front,
        config: config(at, {
          https: { host: '127.0.0.1', port: at.https, cert: live, key: liveKey },
        }),
      })
      const agent = new Agent({ keepAlive: true, maxSockets: 1 })
      const kept = await tlsRequest({ port: at.https, agent })
      expect(kept.serverCn).toBe('first.test')

      // A new pair in the same files, as a certificate renewal writes it.
      writeFileSync(live, second.chain)
      writeFileSync(liveKey, second.key)
      const text = JSON.stringify(
        config(at, { https: { host: '127.0.0.1', port: at.https, cert: live, key: liveKey } }),
      )
      expect((await gw.reload(JSON.parse(text) as ConfigInput)).msg).toBe('config reloaded')
      // Each poll also uses the kept connection, so that however long the reload takes it never
      // idles long enough for the front to close it (5 s on the node front).
      const keptCns = new Set<string | undefined>()
      await eventually(async () => {
        keptCns.add((await tlsRequest({ port: at.https, agent })).serverCn)
        return (await tlsRequest({ port: at.https })).serverCn === 'second.test'
      })
      // The connection opened before the reload goes on, on its certificate.
      const again = await tlsRequest({ port: at.https, agent })
      expect(again.status).toBe(200)
      expect(again.serverCn).toBe('first.test')
      expect([...keptCns]).toEqual(['first.test'])
      agent.destroy()

      // A certificate without its key: refused, the running pair serves on.
      writeFileSync(live, first.chain)
      const refused = await gw.reload(JSON.parse(text) as ConfigInput)
      expect(refused.msg).toMatch(/^reload refused/)
      expect(JSON.stringify(refused)).toContain(liveKey)
      for (let i = 0; i < 5; i++)
        expect((await tlsRequest({ port: at.https })).serverCn).toBe('second.test')
    })
  })

  describe('listeners.mtls', () => {
    let clientCa: Authority
    let good: Issued
    let revoked: Issued

    beforeAll(() => {
      clientCa = pki.ca('client CA')
      good = pki.issue(clientCa, { cn: 'payments', uris: ['spiffe://test/payments'], client: true })
      revoked = pki.issue(clientCa, { cn: 'revoked', client: true })
    })

    function mtls(at: Ports, server: Issued, more: Record<string, unknown> = {}) {
      return {
        mtls: {
          host: '127.0.0.1',
          port: at.mtls,
          cert: server.chainFile,
          key: server.keyFile,
          client_ca: clientCa.certFile,
          ...more,
        },
      }
    }

    it('admits a valid client certificate and refuses none, an untrusted, an expired or a revoked one in the handshake', async () => {
      const at = await ports()
      const server = pki.issue(ca, { cn: 'mtls.test' })
      const crl = pki.file(`crl-${front}.pem`, '')
      copyFileSync(pki.crl(clientCa, []), crl)
      const gw = await startGateway({ front, config: config(at, mtls(at, server, { crl: [crl] })) })
      expect(gw.logs.find((l) => l.msg === 'portcullis started')?.['front']).toMatch(
        /mtls listener on node:tls/,
      )
      const as = (client: Issued | null) =>
        tlsRequest({
          port: at.mtls,
          ca: ca.cert,
          ...(client === null ? {} : { cert: client.chain, key: client.key }),
        })
      expect((await as(good)).status).toBe(200)
      expect((await as(revoked)).status).toBe(200)
      upstream.reset()
      await expect(as(null)).rejects.toThrow()
      const stranger = pki.ca('stranger CA')
      await expect(as(pki.issue(stranger, { cn: 'payments', client: true }))).rejects.toThrow()
      const expired = pki.issue(clientCa, {
        cn: 'old',
        client: true,
        notBeforeSeconds: -10 * DAY,
        notAfterSeconds: -DAY,
      })
      await expect(as(expired)).rejects.toThrow()
      expect(upstream.requests).toHaveLength(0)

      // The CRL is read again on SIGHUP.
      copyFileSync(pki.crl(clientCa, [revoked]), crl)
      expect((await gw.reload(config(at, mtls(at, server, { crl: [crl] })))).msg).toBe(
        'config reloaded',
      )
      await eventually(async () => {
        try {
          await as(revoked)
          return false
        } catch {
          return true
        }
      })
      expect((await as(good)).status).toBe(200)
    })

    it('enforces verify_depth on client chains', async () => {
      const at = await ports()
      const server = pki.issue(ca, { cn: 'mtls.test' })
      const issuing = pki.intermediate(clientCa, 'issuing CA')
      const deep = pki.issue(issuing, { cn: 'deep', client: true })
      const gw = await startGateway({
        front,
        config: config(at, mtls(at, server, { verify_depth: 0 })),
      })
      const as = (client: Issued) =>
        tlsRequest({ port: at.mtls, ca: ca.cert, cert: client.chain, key: client.key })
      expect((await as(good)).status).toBe(200)
      await expect(as(deep)).rejects.toThrow()
      await gw.reload(config(at, mtls(at, server, { verify_depth: 1 })))
      await eventually(async () => (await as(deep)).status === 200)
    })
  })

  describe('routes[].hsts', () => {
    it('sends Strict-Transport-Security on TLS listeners only, on the route that asks for it', async () => {
      const at = await ports()
      const main = pki.issue(ca, { cn: 'default.test' })
      await startGateway({
        front,
        config: config(at, https(at, main), {
          routes: [
            {
              name: 'strict',
              match: { paths: ['/strict/*'] },
              upstream: 'up',
              auth: 'none',
              max_body: 4,
              hsts: { max_age: '365d', include_subdomains: true, preload: true },
            },
            { name: 'lax', match: { paths: ['/*'] }, upstream: 'up', auth: 'none' },
          ],
        }),
      })
      const value = 'max-age=31536000; includeSubDomains; preload'
      const strict = await tlsRequest({ port: at.https, path: '/strict/x' })
      expect(strict.status).toBe(200)
      expect(strict.headers['strict-transport-security']).toBe(value)
      // The gateway's own answers of the route carry it too.
      const tooLarge = await tlsRequest({
        port: at.https,
        path: '/strict/x',
        method: 'POST',
        body: 'too large',
      })
      expect(tooLarge.status).toBe(413)
      expect(tooLarge.headers['strict-transport-security']).toBe(value)
      const lax = await tlsRequest({ port: at.https, path: '/other' })
      expect(lax.headers['strict-transport-security']).toBeUndefined()
      // RFC 6797 §7.2: never over plain HTTP.
      const plain = await send(`http://127.0.0.1:${at.http}/strict/x`)
      expect(plain.status).toBe(200)
      expect(plain.headers['strict-transport-security']).toBeUndefined()
    })
  })
})
