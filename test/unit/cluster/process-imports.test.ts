import { readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

/**
 * Declarations that load a module when the importer loads: `import … from`, `export … from` and
 * bare `import '…'`, but not `import type` / `export type` (erased). An import of inline types
 * only (`import { type A } from`) stays, as verbatimModuleSyntax emits it.
 */
const STATIC_IMPORT = /^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\s+from\s+)?'([^']+)'/gm

/** The packages the static import graph of `entry` loads, with the first importer of each. */
function packagesLoadedBy(entry: string): Map<string, string> {
  const packages = new Map<string, string>()
  const seen = new Set<string>()
  const visit = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(STATIC_IMPORT)) {
      if (specifier!.startsWith('.')) {
        visit(resolve(dirname(file), specifier!).replace(/\.js$/, '.ts'))
      } else if (!specifier!.startsWith('node:') && !builtinModules.includes(specifier!)) {
        if (!packages.has(specifier!)) packages.set(specifier!, relative(ROOT, file))
      }
    }
  }
  visit(join(ROOT, entry))
  return packages
}

describe('what the processes of `start` load', () => {
  // The primary forks, relays signals and configs; the schema compiler, the fronts, the upstream
  // and Redis clients belong to workers and to the config check's thread (config/checker.ts).
  it('imports no package but the logger at start, from the command and the primary', () => {
    for (const entry of ['src/cli/main.ts', 'src/cluster/primary.ts']) {
      expect(Object.fromEntries(packagesLoadedBy(entry)), entry).toEqual({
        pino: 'src/observability/logger.ts',
      })
    }
  })

  // A worker receives a validated config: it compiles, never validates. Redis clients and the
  // verify pool's threads are loaded by the first client or pool, when the config asks for one.
  // TypeBox itself is loaded: each stage's definition carries its schema slice (pipeline/stage.ts),
  // plain objects that nothing in a worker compiles.
  it('loads in a worker neither the config validator nor the optional clients', () => {
    const worker = [...packagesLoadedBy('src/cluster/worker-main.ts').keys()]
    for (const optional of ['ajv/dist/2019.js', 'yaml', 'ioredis', 'piscina']) {
      expect(worker).not.toContain(optional)
    }
  })

  it('still checks a config completely on its thread', () => {
    const thread = packagesLoadedBy('src/config/checker-thread.ts')
    expect([...thread.keys()]).toEqual(
      expect.arrayContaining(['@sinclair/typebox', 'ajv/dist/2019.js', 'yaml']),
    )
  })
})
