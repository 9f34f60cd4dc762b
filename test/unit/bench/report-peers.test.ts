/** README's short comparison table (bench/report-peers.ts), rendered from a stored comparison. */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { renderShortTable, type PeersReport } from '../../../bench/report-peers.js'

const stored = JSON.parse(readFileSync('bench/results/peers.json', 'utf8')) as PeersReport

describe('renderShortTable', () => {
  const table = renderShortTable(stored).trimEnd().split('\n')
  const gateways = stored.meta.peers.map((peer) => peer.name)

  it('has a column per gateway and a row per scenario stream, without the upstream alone', () => {
    expect(table[0]).toBe(`| CPU µs per request (lower is better) | ${gateways.join(' | ')} |`)
    const streams = stored.scenarios.flatMap((scenario) =>
      [...new Set(scenario.rows.map((row) => row.variant))].filter((v) => v !== 'direct'),
    )
    expect(table).toHaveLength(2 + streams.length)
  })

  it("shows each gateway's median CPU per request, portcullis in bold, — where it did not run", () => {
    const passthrough = stored.scenarios.find((scenario) => scenario.name === 'passthrough')!
    const cells = table[2]!.split(' | ').slice(1)
    for (const [i, gateway] of gateways.entries()) {
      const row = passthrough.rows.find((r) => r.gateway === gateway && r.variant === 'passthrough')
      const value = row!.cpuUsPerReq!.median.toFixed(1)
      expect(cells[i]!.replace(/ \|$/, '')).toBe(gateway === 'portcullis' ? `**${value}**` : value)
    }
    const eddsa = table.find((line) => line.startsWith('| jwt-eddsa, 1 token'))!
    expect(eddsa.split(' | ')[1]).toBe('—') // open-source nginx has no JWT verification
  })
})
