import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { GatewayConfigSchema } from '../../../src/config/schema.js'
import { METHODS } from '../../../src/router/methods.js'

const REFERENCE = 'docs/configuration.md'

/** Keys that name a request method are one family, documented once as `<METHOD>`. */
const METHOD_KEYS = new Set<string>([...METHODS, '*'])

/**
 * Every key path of the config schema as docs/configuration.md spells it: `routes[].match.paths`
 * (`[]` an entry of a list), `upstreams.<name>.timeout` (`<name>` a key the user chooses).
 */
function keyPaths(node: unknown, at: string, into: Set<string>): Set<string> {
  if (node === null || typeof node !== 'object') return into
  const schema = node as Record<string, unknown>
  for (const variants of [schema['anyOf'], schema['oneOf'], schema['allOf']]) {
    if (Array.isArray(variants)) for (const variant of variants) keyPaths(variant, at, into)
  }
  if (schema['type'] === 'array') keyPaths(schema['items'], `${at}[]`, into)
  const properties = schema['properties']
  if (properties !== null && typeof properties === 'object') {
    for (const [key, child] of Object.entries(properties)) {
      const name = METHOD_KEYS.has(key) ? '<METHOD>' : key
      const path = at === '' ? name : `${at}.${name}`
      into.add(path)
      keyPaths(child, path, into)
    }
  }
  const patterned = schema['patternProperties']
  if (patterned !== null && typeof patterned === 'object') {
    for (const child of Object.values(patterned)) keyPaths(child, `${at}.<name>`, into)
  }
  return into
}

describe('docs/configuration.md', () => {
  const doc = readFileSync(REFERENCE, 'utf8')
  const paths = keyPaths(GatewayConfigSchema, '', new Set())

  it('names every key of the config schema', () => {
    expect(paths.size).toBeGreaterThan(100)
    const missing = [...paths].filter((path) => !doc.includes(`\`${path}\``))
    expect(missing).toEqual([])
  })

  it('documents no key the schema does not have', () => {
    const sections = new Set([...paths].map((path) => path.split(/[.[]/)[0]!))
    const rows = [...doc.matchAll(/^\| `([^`]+)` +\|/gm)].map((match) => match[1]!)
    const keys = rows.filter((key) => sections.has(key.split(/[.[]/)[0]!))
    expect(keys.length).toBeGreaterThan(100)
    expect(keys.filter((key) => !paths.has(key))).toEqual([])
  })
})
