/** /revocations (the jti deny-list of jwt/revocation.ts), /status and /openapi.json. */
import { Type } from '@sinclair/typebox'
import { parseDuration } from '../config/units.js'
import { revokeInRedis } from '../jwt/revocation.js'
import { invalidRequest, storeUnavailable } from './admin-error.js'
import { RevocationBody, RevocationView, StatusView, type RevocationInput } from './api-schemas.js'
import { adminOpenApi } from './openapi.js'
import type { AdminRoute } from './route.js'

export const SYSTEM_ROUTES: readonly AdminRoute[] = [
  {
    method: 'POST',
    path: '/revocations',
    operationId: 'revokeToken',
    summary:
      'Refuse a JWT by its jti until its exp (or for ttl): every worker of every gateway ' +
      'sharing the Redis refuses it within a second.',
    body: RevocationBody,
    ok: { status: 201, description: 'Revoked.', schema: RevocationView },
    failures: [503],
    change: 'token.revoke',
    async handle({ body, services }) {
      const input = body as RevocationInput
      if ((input.exp === undefined) === (input.ttl === undefined)) {
        throw invalidRequest('exp', 'give exactly one of exp (unix seconds) and ttl (a duration)')
      }
      const redis = services.config.redis
      if (redis === undefined) {
        throw storeUnavailable(
          'This gateway has no redis: configured: add the jti to revocation.jtis and reload (SIGHUP).',
        )
      }
      const exp = input.exp ?? Math.ceil((Date.now() + parseDuration(input.ttl!)) / 1000)
      try {
        await revokeInRedis(redis, input.jti, exp)
      } catch (error) {
        throw storeUnavailable(`Redis did not take the revocation: ${(error as Error).message}`)
      }
      const expires_at = new Date(exp * 1000).toISOString()
      return { status: 201, body: { jti: input.jti, exp, expires_at }, target: input.jti }
    },
  },
  {
    method: 'GET',
    path: '/status',
    operationId: 'getStatus',
    summary: "The answering worker's view: config generation, workers, Redis and gossip.",
    ok: { status: 200, description: 'The status.', schema: StatusView },
    failures: [],
    change: null,
    async handle({ services }) {
      return { status: 200, body: await services.status() }
    },
  },
  {
    method: 'GET',
    path: '/openapi.json',
    operationId: 'getOpenApi',
    summary: 'This API as an OpenAPI 3.1 document.',
    ok: {
      status: 200,
      description: 'The document.',
      schema: Type.Object({}, { additionalProperties: true }),
    },
    failures: [],
    change: null,
    async handle({ routes }) {
      return { status: 200, body: adminOpenApi(routes) }
    },
  },
]
