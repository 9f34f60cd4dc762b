import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const DOC = readFileSync('docs/errors.md', 'utf8')
const ERRORS = readFileSync('src/errors.ts', 'utf8')

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : []
  })
}

describe('docs/errors.md', () => {
  it('documents every control-plane code of src/errors.ts', () => {
    const codes = [...new Set(ERRORS.match(/'PCL_ERR_[A-Z_]+'/g)!.map((c) => c.slice(1, -1)))]
    expect(codes.length).toBeGreaterThan(0)
    for (const code of codes) expect(DOC, code).toContain(`\`${code}\``)
  })

  it('documents every wire code of the WireErrorCode union', () => {
    const union = ERRORS.slice(ERRORS.indexOf('export type WireErrorCode'))
    const codes = union
      .slice(0, union.indexOf('\n\n'))
      .match(/'[a-z_]+'/g)!
      .map((c) => c.slice(1, -1))
    for (const code of codes) expect(DOC, code).toContain(`\`${code}\``)
  })

  it('documents every rejection built anywhere in src/', () => {
    for (const file of sources('src')) {
      const text = readFileSync(file, 'utf8')
      for (const match of text.matchAll(/createRejection\(\s*(\d{3}),\s*'([a-z_]+)'/g)) {
        const [, status, code] = match
        expect(DOC, `${file}: ${status} ${code}`).toMatch(
          new RegExp(`\\| ${status} \\| \`${code}\``),
        )
      }
    }
  })
})
