/**
 * `portcullis token` against a real gateway: tokens the command signs from a PEM key, a private
 * JWK and an HMAC secret file are accepted on JWT routes of the gateway's config.
 */
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, startGateway, stopAllGateways, type Gateway } from '../helpers/gateway.js'
import { send } from '../helpers/http.js'
import { closeAllUpstreams, startUpstream, type Echo } from '../helpers/upstream.js'

const AUD = 'https://api.test'
const ISS = {
  es: 'https://es.issuer.test',
  rs: 'https://rs.issuer.test',
  hs: 'https://hs.issuer.test',
}
const HS_SECRET = 'an-hmac-secret-of-at-least-32-bytes!'

let dir: string
let gateway: Gateway
const files = { esKey: '', rsJwk: '', hsSecret: '' }

async function token(args: readonly string[]): Promise<string> {
  const result = await runCli(['token', ...args])
  expect(result.stderr).toBe('')
  expect(result.code).toBe(0)
  return result.stdout.trim()
}

function get(path: string, bearer: string) {
  return send(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${bearer}` } })
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pcl-token-'))
  const es = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  files.esKey = join(dir, 'es-private.pem')
  writeFileSync(files.esKey, es.privateKey.export({ format: 'pem', type: 'pkcs8' }))
  writeFileSync(join(dir, 'es-public.pem'), es.publicKey.export({ format: 'pem', type: 'spki' }))
  // A private JWK with its kid, and the JWKS that publishes its public half under that kid.
  const rs = generateKeyPairSync('rsa', { modulusLength: 2048 })
  files.rsJwk = join(dir, 'rs-private.jwk')
  writeFileSync(
    files.rsJwk,
    JSON.stringify({ ...rs.privateKey.export({ format: 'jwk' }), kid: 'rs-1' }),
  )
  const published = {
    ...rs.publicKey.export({ format: 'jwk' }),
    kid: 'rs-1',
    alg: 'RS256',
    use: 'sig',
  }
  writeFileSync(join(dir, 'rs-jwks.json'), JSON.stringify({ keys: [published] }))
  files.hsSecret = join(dir, 'hs.secret')
  writeFileSync(files.hsSecret, `${HS_SECRET}\n`)

  const upstream = await startUpstream('echo')
  const route = (name: string, issuer: string, extra: Record<string, unknown> = {}) => ({
    name,
    match: { paths: [`/${name}`] },
    upstream: 'echo',
    auth: 'jwt',
    jwt: { issuers: [issuer] },
    forward: { claims: { sub: 'X-User-Id' } },
    ...extra,
  })
  gateway = await startGateway({
    config: {
      issuers: [
        {
          name: 'es',
          issuer: ISS.es,
          keys: join(dir, 'es-public.pem'),
          audiences: [AUD],
          algorithms: ['ES256'],
        },
        {
          name: 'rs',
          issuer: ISS.rs,
          keys: join(dir, 'rs-jwks.json'),
          audiences: [AUD],
          algorithms: ['RS256'],
        },
        { name: 'hs', issuer: ISS.hs, secret: HS_SECRET, audiences: [AUD], algorithms: ['HS256'] },
      ],
      upstreams: { echo: { targets: [upstream.url] } },
      routes: [
        route('es', 'es', { scopes: { GET: ['orders:read'] } }),
        route('rs', 'rs'),
        route('hs', 'hs'),
      ],
    },
  })
})

afterAll(async () => {
  await stopAllGateways()
  await closeAllUpstreams()
  rmSync(dir, { recursive: true, force: true })
})

describe('portcullis token', () => {
  describe('with a PEM private key', () => {
    it('signs a token with the scopes asked for that the gateway accepts', async () => {
      const signed = await token(
        ['--key', files.esKey, '--issuer', ISS.es, '--audience', AUD, '--subject', 'alice'].concat([
          '--scope',
          'orders:read orders:write',
          '--ttl',
          '5m',
        ]),
      )
      const res = await get('/es', signed)
      expect(res.status).toBe(200)
      expect(res.json<Echo>().headers['x-user-id']).toBe('alice')
    })

    it('signs what was asked, so a token without the scope is refused with 403', async () => {
      const signed = await token(['--key', files.esKey, '--issuer', ISS.es, '--audience', AUD])
      expect((await get('/es', signed)).status).toBe(403)
    })
  })

  describe('with a private JWK', () => {
    it('takes its algorithm and kid from the JWK', async () => {
      const signed = await token([
        '--key',
        files.rsJwk,
        '--issuer',
        ISS.rs,
        '--audience',
        AUD,
        '--subject',
        'bob',
      ])
      const header = JSON.parse(Buffer.from(signed.split('.')[0]!, 'base64url').toString()) as {
        alg: string
        kid: string
      }
      expect(header).toMatchObject({ alg: 'RS256', kid: 'rs-1' })
      const res = await get('/rs', signed)
      expect(res.status).toBe(200)
      expect(res.json<Echo>().headers['x-user-id']).toBe('bob')
    })
  })

  describe('with an HMAC secret file', () => {
    it('signs with the secret (without the file’s final newline) when --alg names HS256', async () => {
      const signed = await token(
        ['--key', files.hsSecret, '--alg', 'HS256', '--issuer', ISS.hs, '--audience', AUD].concat([
          '--subject',
          'carol',
          '--claim',
          'tid=acme',
        ]),
      )
      const res = await get('/hs', signed)
      expect(res.status).toBe(200)
      expect(res.json<Echo>().headers['x-user-id']).toBe('carol')
    })
  })

  describe('with a public key instead of a private one', () => {
    it('refuses with exit 1 and says signing needs the private key', async () => {
      const result = await runCli([
        'token',
        '--key',
        join(dir, 'es-public.pem'),
        '--issuer',
        ISS.es,
        '--audience',
        AUD,
      ])
      expect(result.code).toBe(1)
      expect(result.stderr).toContain('signing needs the private key')
      expect(result.stdout).toBe('')
    })
  })
})
