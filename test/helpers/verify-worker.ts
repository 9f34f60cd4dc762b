/**
 * The verify pool's worker built from this tree's sources, for the suites that run a real
 * VerifyPool: threads cannot run TypeScript, and dist/ may be older than the sources.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const WORKER_SOURCE = join(ROOT, 'workers/verify.ts')

/**
 * Compiles the worker and what it imports into `outDir` with the same layout, and returns the
 * worker's filename for `new VerifyPool(n, { filename })`.
 */
export function buildWorker(outDir: string): string {
  writeFileSync(join(outDir, 'package.json'), '{"type":"module"}')
  const pending = [WORKER_SOURCE]
  const done = new Set<string>()
  while (pending.length > 0) {
    const source = pending.pop()!
    if (done.has(source)) continue
    done.add(source)
    const { outputText } = ts.transpileModule(readFileSync(source, 'utf8'), {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    })
    const target = join(outDir, relative(ROOT, source)).replace(/\.ts$/, '.js')
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, outputText)
    for (const [, specifier] of outputText.matchAll(/from '(\.[^']+)'/g)) {
      pending.push(resolve(dirname(source), specifier!).replace(/\.js$/, '.ts'))
    }
  }
  return join(outDir, 'workers/verify.js')
}
