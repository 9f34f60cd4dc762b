import { format } from 'prettier'
import { describe, expect, it } from 'vitest'
import { adminOpenApi } from '../../../src/admin/openapi.js'
import { ADMIN_ROUTES } from '../../../src/admin/routes.js'

describe('the admin OpenAPI document', () => {
  const doc = adminOpenApi(ADMIN_ROUTES) as {
    paths: Record<string, Record<string, { operationId: string; responses: object }>>
  }

  // The copy kept in the repo for readers and client generators; `vitest -u` rewrites it, in the
  // repo's format, so `npm run format` leaves it alone.
  it('is the one kept in docs/admin-openapi.json', async () => {
    const text = await format(JSON.stringify(doc), { parser: 'json', printWidth: 100 })
    await expect(text).toMatchFileSnapshot('../../../docs/admin-openapi.json')
  })

  it('has one operation per route, each with a unique operationId and a 401', () => {
    const operations = Object.values(doc.paths).flatMap((ops) => Object.values(ops))
    expect(operations).toHaveLength(ADMIN_ROUTES.length)
    const ids = operations.map((op) => op.operationId)
    expect(new Set(ids).size).toBe(ids.length)
    for (const op of operations) expect(op.responses, op.operationId).toHaveProperty('401')
  })

  it('shows no annotation of the config validator', () => {
    expect(JSON.stringify(doc)).not.toMatch(/patternReason|keyReason/)
  })
})
