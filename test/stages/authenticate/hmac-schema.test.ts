/**
 * The config rules of signed requests: `hmac_credentials` on consumers and `hmac:` on routes,
 * every refusal naming its path and reason.
 */
import { describe, expect, it } from 'vitest'
import { configProblems, loadTestConfig } from '../../helpers/config.js'

const SECRET = 's'.repeat(32)

function consumer(credentials: Record<string, unknown>[], name = 'acme'): Record<string, unknown> {
  return { name, hmac_credentials: credentials }
}

function route(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'hooks', match: { paths: ['/hooks/*'] }, upstream: 'u', auth: 'hmac', ...extra }
}

describe('hmac config', () => {
  it('accepts credentials in every encoding and a route with the defaults', () => {
    const { runtime } = loadTestConfig({
      consumers: [
        consumer([
          { key_id: 'a', secret: SECRET },
          {
            key_id: 'b',
            secret: Buffer.alloc(32, 7).toString('base64'),
            secret_encoding: 'base64',
          },
          { key_id: 'c', secret: 'ab'.repeat(32), secret_encoding: 'hex' },
        ]),
      ],
      routes: [route()],
    })
    expect(runtime.table.routeCount).toBe(1)
    expect(runtime.state.credentials.hmacKey('b')).toMatchObject({ consumer: 'acme' })
  })

  describe('refuses, naming the path', () => {
    it('a secret shorter than 32 bytes once decoded', () => {
      const short = Buffer.alloc(31).toString('base64')
      expect(
        configProblems({
          consumers: [consumer([{ key_id: 'a', secret: short, secret_encoding: 'base64' }])],
          routes: [],
        }),
      ).toContainEqual({
        path: 'consumers[0].hmac_credentials[0].secret',
        reason: expect.stringContaining('at least 32 bytes') as unknown as string,
      })
    })

    it('a secret that is not of its encoding', () => {
      expect(
        configProblems({
          consumers: [consumer([{ key_id: 'a', secret: 'zz'.repeat(32), secret_encoding: 'hex' }])],
          routes: [],
        }),
      ).toContainEqual(expect.objectContaining({ path: 'consumers[0].hmac_credentials[0].secret' }))
    })

    it('a key id used twice, across consumers', () => {
      expect(
        configProblems({
          consumers: [
            consumer([{ key_id: 'k', secret: SECRET }]),
            consumer([{ key_id: 'k', secret: SECRET }], 'globex'),
          ],
          routes: [],
        }),
      ).toContainEqual(expect.objectContaining({ path: 'consumers[1].hmac_credentials[0].key_id' }))
    })

    it('a key id that cannot be an sf-string as it is', () => {
      expect(
        configProblems({ consumers: [consumer([{ key_id: 'a b', secret: SECRET }])], routes: [] }),
      ).toContainEqual(expect.objectContaining({ path: 'consumers[0].hmac_credentials[0].key_id' }))
    })

    it('a component the gateway does not derive', () => {
      expect(
        configProblems({ routes: [route({ hmac: { components: ['@status'] } })] }),
      ).toContainEqual(expect.objectContaining({ path: 'routes[0].hmac.components[0]' }))
    })

    it('content-digest required while content_digest is off', () => {
      expect(
        configProblems({
          routes: [route({ hmac: { components: ['content-digest'], content_digest: false } })],
        }),
      ).toContainEqual(expect.objectContaining({ path: 'routes[0].hmac.components' }))
    })

    it('a max_age under a second', () => {
      expect(configProblems({ routes: [route({ hmac: { max_age: '500ms' } })] })).toContainEqual(
        expect.objectContaining({ path: 'routes[0].hmac.max_age' }),
      )
    })

    it('hmac: on a route whose auth does not name hmac', () => {
      expect(
        configProblems({ routes: [route({ auth: 'none', hmac: { max_age: '60s' } })] }),
      ).toContainEqual(expect.objectContaining({ path: 'routes[0].hmac' }))
    })
  })
})
