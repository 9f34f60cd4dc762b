import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadServerTls } from '../../../src/tls/server-tls.js'
import { createPki, type Authority, type Pki } from '../../../scripts/pki.js'

const DAY_MS = 86_400_000

let pki: Pki
let ca: Authority

beforeAll(() => {
  pki = createPki()
  ca = pki.ca()
})
afterAll(() => pki.cleanup())

function https(cert: string, key: string, more: Record<string, unknown> = {}) {
  return { host: '127.0.0.1', port: 0, cert, key, certificates: [], proxy_protocol: false, ...more }
}

describe('loadServerTls', () => {
  it('loads a matching pair with its SNI certificates', () => {
    const main = pki.issue(ca, { cn: 'a.test' })
    const other = pki.issue(ca, { cn: 'b.test', keyType: 'rsa', passphrase: 'secret' })
    const loaded = loadServerTls(
      https(main.chainFile, main.keyFile, {
        certificates: [
          { hosts: ['b.test'], cert: other.certFile, key: other.keyFile, passphrase: 'secret' },
        ],
      }),
      'listeners.https',
      14 * DAY_MS,
    )
    expect(loaded.problems).toEqual([])
    expect(loaded.tls?.sni[0]?.hosts).toEqual(['b.test'])
  })

  it('names the file of a missing certificate, a foreign key and a wrong passphrase', () => {
    const main = pki.issue(ca, { cn: 'a.test' })
    const other = pki.issue(ca, { cn: 'b.test', passphrase: 'secret' })
    const missing = loadServerTls(https('/nonexistent.pem', main.keyFile), 'listeners.https', 0)
    expect(missing.problems).toEqual([
      { path: 'listeners.https.cert', reason: 'cannot read "/nonexistent.pem" (ENOENT)' },
    ])
    const foreign = loadServerTls(
      https(main.certFile, other.keyFile, { passphrase: 'secret' }),
      'listeners.https',
      0,
    )
    expect(foreign.problems[0]?.path).toBe('listeners.https.key')
    expect(foreign.problems[0]?.reason).toContain(other.keyFile)
    const wrong = loadServerTls(
      https(other.certFile, other.keyFile, { passphrase: 'nope' }),
      'listeners.https',
      0,
    )
    expect(wrong.problems[0]?.reason).toContain(other.keyFile)
  })

  it('refuses an expired certificate and returns one that expires within warn_expiry', () => {
    const expired = pki.issue(ca, { cn: 'old', notBeforeSeconds: -864_000, notAfterSeconds: -60 })
    const soon = pki.issue(ca, { cn: 'soon', notAfterSeconds: 3 * 86_400 })
    const refused = loadServerTls(https(expired.certFile, expired.keyFile), 'listeners.https', 0)
    expect(refused.problems[0]?.reason).toMatch(/expired on/)
    expect(refused.tls).toBeNull()
    const warned = loadServerTls(https(soon.certFile, soon.keyFile), 'listeners.https', 14 * DAY_MS)
    expect(warned.problems).toEqual([])
    expect(warned.expiring.map((e) => e.file)).toEqual([soon.certFile])
    const quiet = loadServerTls(https(soon.certFile, soon.keyFile), 'listeners.https', DAY_MS)
    expect(quiet.expiring).toEqual([])
  })

  it('checks the client CA bundle and the CRLs of an mTLS listener', () => {
    const main = pki.issue(ca, { cn: 'a.test' })
    const mtls = (client_ca: string, crl: string[]) => ({
      ...https(main.certFile, main.keyFile),
      client_ca,
      crl,
      verify_depth: 1,
    })
    const ok = loadServerTls(mtls(ca.certFile, [pki.crl(ca)]), 'listeners.mtls', 0)
    expect(ok.problems).toEqual([])
    expect(ok.tls?.clients?.crl).toHaveLength(1)
    const junk = pki.file('junk.pem', 'not a pem\n')
    const bad = loadServerTls(mtls(junk, [junk]), 'listeners.mtls', 0)
    expect(bad.problems.map((p) => p.path)).toEqual([
      'listeners.mtls.client_ca',
      'listeners.mtls.crl[0]',
    ])
  })
})
