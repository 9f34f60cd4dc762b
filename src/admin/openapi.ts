/**
 * The admin API as an OpenAPI 3.1 document, generated from the route table and its TypeBox
 * schemas: the server dispatches on the same table, so the document cannot name a route the
 * server does not answer, or miss one. docs/admin-openapi.json is this output, kept in step by
 * test/unit/admin/openapi.test.ts.
 *
 * @see https://spec.openapis.org/oas/v3.1.0
 */
import type { TSchema } from '@sinclair/typebox'
import { ErrorView } from './api-schemas.js'
import type { AdminRoute } from './route.js'

/** Version of the API's contract, not of the gateway. */
export const ADMIN_API_VERSION = '1.0.0'

/** Annotations validate.ts reads (the rule of a pattern in words); not JSON Schema's. */
const PRIVATE_KEYWORDS = new Set(['patternReason', 'keyReason'])

const FAILURES: Readonly<Record<number, string>> = {
  400: 'invalid_request: the body or query is invalid (every problem with its path).',
  401: 'admin_unauthorized: no admin token, or not one of admin.tokens.',
  404: 'not_found: no such consumer, key or HMAC credential.',
  409: 'config_owned: the consumer or HMAC key id is declared in the config file; conflict: it exists already, or the key or credential is not active.',
  413: 'payload_too_large: the body is larger than the admin API takes.',
  503: 'store_unavailable: no redis configured, or Redis does not answer; encryption_not_configured: an HMAC secret to store and no redis.encryption_keys.',
}

export function adminOpenApi(routes: readonly AdminRoute[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of routes) {
    const operations = (paths[route.path] ??= {})
    const parameters = [
      ...[...route.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => ({
        name: m[1],
        in: 'path',
        required: true,
        schema: { type: 'string' },
      })),
      ...(route.query ?? []).map((q) => ({
        name: q.name,
        in: 'query',
        required: false,
        description: q.description,
        schema:
          q.kind === 'limit' ? { type: 'integer', minimum: 1, maximum: 500 } : { type: 'string' },
      })),
    ]
    const failures = new Set([401, ...route.failures])
    if (route.body !== undefined || route.query !== undefined) failures.add(400)
    if (route.body !== undefined) failures.add(413)
    const responses: Record<string, unknown> = {
      [route.ok.status]: {
        description: route.ok.description,
        ...(route.ok.schema === null
          ? {}
          : { content: { 'application/json': { schema: plainSchema(route.ok.schema) } } }),
      },
    }
    for (const status of [...failures].sort((a, b) => a - b)) {
      responses[status] = {
        description: FAILURES[status] ?? 'An error.',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      }
    }
    operations[route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(parameters.length === 0 ? {} : { parameters }),
      ...(route.body === undefined
        ? {}
        : {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: plainSchema(route.body) } },
            },
          }),
      responses,
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'portcullis admin API',
      version: ADMIN_API_VERSION,
      description:
        'Consumers, API keys, HMAC credentials, JWT revocations and status of a portcullis gateway, on its ' +
        'listeners.admin listener. Every call needs Authorization: Bearer <token>, the token ' +
        'one whose SHA-256 is in admin.tokens.',
    },
    security: [{ adminToken: [] }],
    paths,
    components: {
      securitySchemes: { adminToken: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: plainSchema(ErrorView) },
    },
  }
}

/** The schema as JSON Schema 2020-12 sees it: without TypeBox's symbols or our annotations. */
function plainSchema(schema: TSchema): unknown {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) =>
    PRIVATE_KEYWORDS.has(key) ? undefined : value,
  )
}
