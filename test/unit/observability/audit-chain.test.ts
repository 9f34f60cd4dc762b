import { describe, expect, it } from 'vitest'
import { AuditChain, verifyChain } from '../../../src/observability/audit-chain.js'

const KEY = 'a-chain-key-of-some-length'

/** Two writers' lines interleaved, as two workers append to one file. */
function file(): string[] {
  const a = new AuditChain(KEY, '0.100')
  const b = new AuditChain(KEY, '1.200')
  return [
    a.seal('{"audit":"authenticate","outcome":"allow"}\n'),
    b.seal('{"audit":"authenticate","outcome":"deny"}\n'),
    a.seal('{"audit":"admin","action":"consumer.create"}\n'),
    b.seal('{"audit":"authenticate","outcome":"allow"}\n'),
    a.seal('{"audit":"authenticate","outcome":"deny"}\n'),
  ]
}

describe('audit chain', () => {
  it('holds for the untouched lines of several writers', () => {
    const report = verifyChain(file().join(''), KEY)
    expect(report).toEqual({ lines: 5, chains: 2, problem: null })
  })

  it('keeps each line valid JSON with its chain fields', () => {
    const line = JSON.parse(file()[0]!) as Record<string, unknown>
    expect(line).toMatchObject({ audit: 'authenticate', chain: '0.100', seq: 0 })
    expect(line['mac']).toMatch(/^[0-9a-f]{64}$/)
  })

  it('names a changed line', () => {
    const lines = file()
    lines[2] = lines[2]!.replace('consumer.create', 'consumer.delete')
    expect(verifyChain(lines.join(''), KEY).problem?.line).toBe(3)
  })

  it('names the line after a removed one', () => {
    const lines = file()
    lines.splice(2, 1)
    expect(verifyChain(lines.join(''), KEY).problem).toMatchObject({ line: 4 })
  })

  it('names swapped lines of one writer', () => {
    const lines = file()
    ;[lines[0], lines[2]] = [lines[2]!, lines[0]!]
    expect(verifyChain(lines.join(''), KEY).problem?.line).toBe(1)
  })

  it('names a chain whose first lines were cut', () => {
    const lines = file().slice(1)
    expect(verifyChain(lines.join(''), KEY).problem?.line).toBe(2)
  })

  it('names a line rewritten with its MAC recomputed by someone without the key', () => {
    const forger = new AuditChain('another-key-entirely!!', '0.100')
    const lines = file()
    lines[0] = forger.seal('{"audit":"authenticate","outcome":"allow"}\n')
    expect(verifyChain(lines.join(''), KEY).problem?.line).toBe(1)
  })

  it('refuses a line without chain fields', () => {
    const lines = file()
    lines.splice(1, 0, '{"audit":"authenticate"}\n')
    expect(verifyChain(lines.join(''), KEY).problem).toMatchObject({ line: 2 })
  })
})
