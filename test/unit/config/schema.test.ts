import { describe, expect, it } from 'vitest'
import { GatewayConfigSchema } from '../../../src/config/schema.js'
import { KEY_REASON, PATTERN_REASON } from '../../../src/config/validate.js'

/** TypeBox's key pattern for a record keyed by any string: no key can break it. */
const ANY_KEY = '^(.*)$'

/** Every node of a JSON schema, with its JSON pointer. */
function* nodes(node: unknown, at = ''): Generator<[string, Record<string, unknown>]> {
  if (Array.isArray(node)) {
    for (const [i, child] of node.entries()) yield* nodes(child, `${at}/${i}`)
    return
  }
  if (node === null || typeof node !== 'object') return
  const record = node as Record<string, unknown>
  yield [at, record]
  for (const [key, child] of Object.entries(record)) yield* nodes(child, `${at}/${key}`)
}

describe('the gateway config schema', () => {
  it('says the rule of every pattern in words, so no config error shows a regular expression', () => {
    const missing: string[] = []
    for (const [at, node] of nodes(GatewayConfigSchema)) {
      if (typeof node['pattern'] === 'string' && typeof node[PATTERN_REASON] !== 'string') {
        missing.push(`${at}: pattern ${node['pattern']} has no ${PATTERN_REASON}`)
      }
      const keyPatterns = node['patternProperties']
      if (keyPatterns !== null && typeof keyPatterns === 'object') {
        const constrained = Object.keys(keyPatterns).filter((p) => p !== ANY_KEY)
        if (constrained.length > 0 && typeof node[KEY_REASON] !== 'string') {
          missing.push(`${at}: keys ${constrained.join(', ')} have no ${KEY_REASON}`)
        }
      }
    }
    expect(missing).toEqual([])
  })
})
