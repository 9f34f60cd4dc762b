import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeProtectedHeader, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import {
  createClientAuthenticator,
  type ClientCredentials,
} from '../../../src/introspection/client-auth.js'
import type { IntrospectorConfig } from '../../../src/introspection/schema.js'
import type { ConfigProblem } from '../../../src/errors.js'

const ENDPOINT = 'https://as.test/introspect'

function config(extra: Partial<IntrospectorConfig>): IntrospectorConfig {
  return {
    name: 'as',
    endpoint: ENDPOINT,
    client_id: 'gate way',
    client_auth: 'client_secret_basic',
    assertion_algorithm: 'RS256',
    timeout: '2s',
    audiences: [],
    scope_claim: 'scope',
    cache_ttl: '60s',
    negative_ttl: '10s',
    cache_size: 10,
    stale_for: '0s',
    breaker: { failures: 5, cooldown: '10s' },
    ...extra,
  }
}

async function credentials(extra: Partial<IntrospectorConfig>): Promise<ClientCredentials> {
  const problems: ConfigProblem[] = []
  const authenticate = createClientAuthenticator(config(extra), 'introspectors[0]', problems)
  expect(problems).toEqual([])
  return authenticate!()
}

describe('client authentication to the introspection endpoint', () => {
  it('client_secret_basic: form-encoded id and secret in HTTP Basic (RFC 6749 §2.3.1)', async () => {
    const { authorization, form } = await credentials({ client_secret: 'p@ss:word!' })
    expect(form).toBe('')
    const decoded = Buffer.from(authorization!.slice('Basic '.length), 'base64').toString()
    expect(decoded).toBe('gate+way:p%40ss%3Aword%21')
  })

  it('client_secret_post: id and secret in the form body', async () => {
    const { authorization, form } = await credentials({
      client_auth: 'client_secret_post',
      client_secret: 's&t',
    })
    expect(authorization).toBeNull()
    expect(form).toBe('&client_id=gate+way&client_secret=s%26t')
  })

  describe('private_key_jwt (RFC 7523)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const dir = mkdtempSync(join(tmpdir(), 'pcl-assertion-'))
    const keyFile = join(dir, 'key.pem')
    writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }))
    const jwtConfig = {
      client_auth: 'private_key_jwt',
      private_key: keyFile,
      assertion_algorithm: 'ES256',
      key_id: 'k1',
    } as const

    it('sends a signed assertion of the client, for the endpoint, short-lived and unique', async () => {
      const { authorization, form } = await credentials(jwtConfig)
      expect(authorization).toBeNull()
      const fields = new URLSearchParams(form.slice(1))
      expect(fields.get('client_id')).toBe('gate way')
      expect(fields.get('client_assertion_type')).toBe(
        'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      )
      const assertion = fields.get('client_assertion')!
      expect(decodeProtectedHeader(assertion)).toMatchObject({ alg: 'ES256', kid: 'k1' })
      const { payload } = await jwtVerify(assertion, publicKey, {
        issuer: 'gate way',
        subject: 'gate way',
        audience: ENDPOINT,
      })
      expect(payload.exp! - payload.iat!).toBe(60)
      expect(typeof payload.jti).toBe('string')
      const second = new URLSearchParams((await credentials(jwtConfig)).form.slice(1))
      const again = await jwtVerify(second.get('client_assertion')!, publicKey)
      expect(again.payload.jti).not.toBe(payload.jti)
    })

    it('uses assertion_audience as aud when set', async () => {
      const { form } = await credentials({ ...jwtConfig, assertion_audience: 'https://as.test' })
      const assertion = new URLSearchParams(form.slice(1)).get('client_assertion')!
      await expect(
        jwtVerify(assertion, publicKey, { audience: 'https://as.test' }),
      ).resolves.toBeDefined()
    })
  })

  it.each([
    [{}, 'introspectors[0].client_secret', 'needs a client_secret'],
    [
      { client_auth: 'private_key_jwt' as const },
      'introspectors[0].private_key',
      'needs a private_key',
    ],
    [
      { client_auth: 'private_key_jwt' as const, private_key: '/no/such/key.pem' },
      'introspectors[0].private_key',
      'cannot read a private key',
    ],
  ])('refuses an incomplete setup (%o) at load with its path', (extra, path, reason) => {
    const problems: ConfigProblem[] = []
    expect(createClientAuthenticator(config(extra), 'introspectors[0]', problems)).toBeNull()
    expect(problems).toEqual([{ path, reason: expect.stringContaining(reason) }])
  })
})
