/** A scenario's ratio targets (bench/checks.ts) and the loaders each TLS target can use. */
import { describe, expect, it } from 'vitest'
import { evaluateChecks } from '../../../bench/checks.js'
import { parseSTime } from '../../../bench/handshakes.js'
import { phaseGap } from '../../../bench/loader-fit.js'
import { parseCli } from '../../../bench/options.js'
import type { Phase, RunRecord, TargetReport } from '../../../bench/report.js'
import type { ScenarioTarget } from '../../../bench/scenarios/types.js'

function run(phase: Phase, rep: number, us: number, flags: string[] = []): RunRecord {
  return {
    target: '',
    phase,
    rep,
    loader: '',
    elapsedSeconds: 1,
    completed: 1000,
    rps: 1000,
    errors: 0,
    unexpectedStatus: 0,
    statusCounts: {},
    cpu: {
      gatewayUsPerReq: us,
      upstreamUsPerReq: 1,
      upstreamCores: 0,
      loaderCores: 0,
      otherCores: 0,
    },
    rss: { upstream: { peakMiB: 1, hwmMiB: 1 } },
    flags,
    notes: [],
  }
}

function target(peer: string, variant: string, runs: RunRecord[]): TargetReport {
  return { name: `${peer}/${variant}`, via: 'gateway', status: 'ok', peer, variant, runs }
}

describe('evaluateChecks', () => {
  const reports = [
    target('portcullis', 'passthrough', [run('saturation', 1, 50), run('saturation', 2, 60)]),
    target('portcullis', 'tls', [run('saturation', 1, 60), run('saturation', 2, 80, ['NOISY'])]),
    target('haproxy', 'handshake', [run('handshakes', 1, 600)]),
    target('portcullis', 'handshake', [run('handshakes', 1, 800)]),
  ]

  it('bounds the CPU ratio from above, by medians, with per-round pairs and CPU flags', () => {
    const [result] = evaluateChecks(
      [
        {
          label: 'TLS',
          subject: { target: 'tls' },
          baseline: { target: 'passthrough' },
          figure: 'cpu',
          max: 1.25,
        },
      ],
      reports,
    )
    expect(result!.phase).toBe('saturation')
    expect(result!.ratio).toBeCloseTo(70 / 55)
    expect(result!.met).toBe(false)
    expect(result!.paired).toMatchObject({ min: 1.2, max: 80 / 60 })
    expect(result!.flags).toEqual(['NOISY'])
  })

  it('bounds handshakes per core from below against another peer', () => {
    const [result] = evaluateChecks(
      [
        {
          label: 'handshakes',
          subject: { target: 'handshake' },
          baseline: { target: 'handshake', peer: 'haproxy' },
          figure: 'per-core',
          min: 0.8,
        },
      ],
      reports,
    )
    expect(result!.ratio).toBeCloseTo(0.75)
    expect(result!.bound).toBe('≥ 0.8')
    expect(result!.met).toBe(false)
  })

  it('leaves out a check whose subject was not measured, and marks one without bound as reference', () => {
    const results = evaluateChecks(
      [
        {
          label: 'a',
          subject: { target: 'mtls' },
          baseline: { target: 'passthrough' },
          figure: 'cpu',
        },
        {
          label: 'b',
          subject: { target: 'tls' },
          baseline: { target: 'passthrough' },
          figure: 'cpu',
        },
      ],
      reports,
    )
    expect(results.map((result) => [result.label, result.met, result.bound])).toEqual([
      ['b', undefined, undefined],
    ])
  })
})

describe('parseSTime', () => {
  it('reads the handshakes of the new-connection summary', () => {
    const out =
      'Collecting connection statistics for 3 seconds\n***\n\n' +
      '1234 connections in 0.91s; 1356.04 connections/user sec, bytes read 0\n' +
      '1234 connections in 3 real seconds, 0 bytes read per connection\n'
    expect(parseSTime(out)).toBe(1234)
  })

  it('refuses output without a summary (no connection could be made)', () => {
    expect(() => parseSTime('Collecting connection statistics for 3 seconds\n')).toThrow(
      /no summary/,
    )
  })
})

describe('phaseGap', () => {
  const options = parseCli([])
  const tls = { caFile: 'ca.pem', servername: 'localhost' }
  const get = [{ method: 'GET', path: '/' }]
  const https: ScenarioTarget = { name: 'tls', via: 'gateway', requests: get, tls }
  const mtls: ScenarioTarget = {
    ...https,
    tls: { ...tls, client: { certFile: 'c.pem', keyFile: 'c.key' } },
  }
  const handshakes: ScenarioTarget = { ...https, load: 'handshakes' }

  it('measures https with autocannon and wrk, mutual TLS with autocannon only', () => {
    expect(phaseGap(https, 'saturation', options)).toBeUndefined()
    expect(phaseGap(https, 'saturation-wrk', options)).toBeUndefined()
    expect(phaseGap(mtls, 'saturation', options)).toBeUndefined()
    expect(phaseGap(mtls, 'saturation-wrk', options)).toMatch(/client certificate/)
  })

  it('leaves TLS out of the paced fixed rate, and handshake targets out of request phases', () => {
    expect(phaseGap(https, 'fixed-rate', options)).toMatch(/plain HTTP/)
    expect(phaseGap(handshakes, 'saturation', options)).toBeDefined()
    expect(phaseGap(handshakes, 'handshakes', options)).toBeUndefined()
    expect(phaseGap(https, 'handshakes', options)).toBeDefined()
  })
})
