/**
 * The import graph of src and workers: no cycles, type-only imports included, and the layers
 * flowing one way (docs/architecture.md "Code layout"): cli → cluster → front → gateway →
 * pipeline registry → stages → domain (jwt, rate limits, http) → state. madge reads the sources
 * as they are, so this fails on the commit that adds a cycle or an upward import.
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'

interface MadgeResult {
  /** Each cycle as the modules along it. */
  circular(): string[][]
  /** Module → the modules it imports, as paths from the base directory. */
  obj(): Record<string, string[]>
}

type Madge = (paths: string[], config: Record<string, unknown>) => Promise<MadgeResult>

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const madge = createRequire(import.meta.url)('madge') as Madge

let graph: MadgeResult

beforeAll(async () => {
  graph = await madge(['src', 'workers'], {
    baseDir: ROOT,
    fileExtensions: ['ts'],
    tsConfig: `${ROOT}tsconfig.json`,
    // A type-only import ties two modules as much as any other: count it.
    detectiveOptions: { ts: { skipTypeImports: false }, es6: { skipTypeImports: false } },
  })
}, 60_000)

/** Every import from a module under `from` into a module under `to`, except the `allowed` ones. */
function importsBetween(from: string, to: readonly string[], allowed: readonly string[] = []) {
  const found: string[] = []
  for (const [module, imports] of Object.entries(graph.obj())) {
    if (!module.startsWith(from)) continue
    for (const target of imports) {
      if (allowed.includes(target)) continue
      if (to.some((prefix) => target.startsWith(prefix))) found.push(`${module} → ${target}`)
    }
  }
  return found
}

describe('the import graph', () => {
  it('reads the whole tree', () => {
    const modules = Object.keys(graph.obj())
    expect(modules).toContain('src/cli/main.ts')
    expect(modules).toContain('src/gateway/exchange.ts')
    expect(modules).toContain('workers/verify.ts')
  })

  it('has no import cycle, type-only imports included', () => {
    expect(graph.circular().map((cycle) => cycle.join(' → '))).toEqual([])
  })

  describe('flows one way', () => {
    it('stages see the gateway only through the stage contract', () => {
      expect(
        importsBetween('src/stages/', [
          'src/cli/',
          'src/cluster/',
          'src/config/schema.ts',
          'src/front/',
          'src/gateway/',
          'src/proxy/',
          'src/router/compile.ts',
          'src/router/match.ts',
          'src/pipeline/run.ts',
        ]),
      ).toEqual([])
    })

    it('the stage contract and the router import no stage, gateway or front', () => {
      const above = ['src/stages/', 'src/gateway/', 'src/front/', 'src/cluster/', 'src/cli/']
      expect(importsBetween('src/pipeline/', above)).toEqual([])
      expect(importsBetween('src/router/', above)).toEqual([])
    })

    it('the gateway core imports no front, cluster or cli', () => {
      expect(importsBetween('src/gateway/', ['src/front/', 'src/cluster/', 'src/cli/'])).toEqual([])
    })

    it('the fronts and the upstream transport import no cluster or cli', () => {
      expect(importsBetween('src/front/', ['src/cluster/', 'src/cli/'])).toEqual([])
      // The proxy is the upstream adapter: it reads the exchange, nothing else of the core.
      expect(
        importsBetween(
          'src/proxy/',
          ['src/gateway/', 'src/front/', 'src/stages/', 'src/cluster/', 'src/cli/'],
          ['src/gateway/exchange.ts'],
        ),
      ).toEqual([])
    })

    it('domain modules and state import no stage or anything above', () => {
      const above = ['src/stages/', 'src/pipeline/', 'src/gateway/', 'src/front/', 'src/cluster/']
      expect(importsBetween('src/jwt/', above)).toEqual([])
      expect(importsBetween('src/http/', above)).toEqual([])
      expect(importsBetween('src/gossip/', above)).toEqual([])
      expect(importsBetween('src/rate-limit/', above)).toEqual([])
      expect(importsBetween('src/keys/', above)).toEqual([])
      expect(importsBetween('src/consumers/', above)).toEqual([])
      expect(importsBetween('src/net/', above)).toEqual([])
      expect(importsBetween('src/state/', above)).toEqual([])
    })
  })
})
