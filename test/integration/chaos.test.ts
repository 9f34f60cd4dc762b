import { beforeAll, describe, expect, it } from 'vitest'
import {
  runChaos,
  type ChaosReport,
  type Phase,
  type PhaseFigures,
} from '../../bench/chaos/scenario.js'
import { assertBuilt, NATIVE_OFF, REPO_ROOT } from '../helpers/gateway.js'
import { consecutivePorts, freePort } from '../helpers/ports.js'

/** Requests per second of the paced client, and the rate-limited route's limit (burst the same). */
const RATE = 200
const LIMIT = 20
const REDIS_DOWN =
  'rate-limit sync: redis unavailable; limiting on gossip and local counters until it returns'

function phase(report: ChaosReport, name: Phase): PhaseFigures {
  const found = report.phases.find((p) => p.phase === name)
  expect(found, name).toBeDefined()
  return found!
}

/** Outcomes of one kind of request in one phase: status (or error code) → count. */
function outcomes(p: PhaseFigures, kind: string): Record<string, number> {
  return p.outcomes[kind] ?? {}
}

function statusesOf(o: Record<string, number>): string[] {
  return Object.keys(o).sort()
}

/** The HTTP statuses only: in 'worker killed', requests on the victim's connections fail. */
function answeredOf(p: PhaseFigures, kind: string): string[] {
  const statuses = statusesOf(outcomes(p, kind))
  return p.phase === 'worker killed' ? statuses.filter((s) => /^\d+$/.test(s)) : statuses
}

// The scenario is bench/chaos/scenario.ts; `node dist/bench/chaos/run.js` runs it with long
// phases and prints the figures bench/RESULTS.md records.
describe('chaos: a gateway of two workers under steady load', () => {
  let report: ChaosReport

  beforeAll(async () => {
    assertBuilt()
    report = await runChaos({
      root: REPO_ROOT,
      front: 'uws',
      native: NATIVE_OFF ? 'off' : 'auto',
      rate: RATE,
      phaseMs: 2000,
      limitPerSecond: LIMIT,
      freePort,
      freeUdpBase: consecutivePorts,
    })
  }, 90_000)

  // A request counts in the phase it ended in: one in flight at the kill fails in 'worker killed'.
  it('loses only requests that were on the killed worker’s connections, at most one each', () => {
    const k = report.kill
    expect(k.failedElsewhere).toBe(0)
    // A connection carries one request at a time: each of the victim's loses at most that one.
    expect(k.failedOnVictim).toBeLessThanOrEqual(k.victimConnections)
    // Connections opened between reading /proc and the death, accepted by the dying worker.
    expect(k.failedUnmapped).toBeLessThanOrEqual(4)
    expect(k.failed).toBe(k.failedOnVictim + k.failedUnmapped)
    for (const p of report.phases) {
      if (p.phase === 'worker killed') continue
      for (const [kind, o] of Object.entries(p.outcomes)) {
        expect(
          statusesOf(o).filter((s) => !/^\d+$/.test(s)),
          `${p.phase} ${kind}`,
        ).toEqual([])
      }
    }
  })

  it('never answers 5xx, whatever fails', () => {
    for (const p of report.phases) {
      for (const [kind, o] of Object.entries(p.outcomes)) {
        expect(
          statusesOf(o).filter((s) => s.startsWith('5')),
          `${p.phase} ${kind}`,
        ).toEqual([])
      }
    }
  })

  it('respawns the killed worker', () => {
    expect(phase(report, 'worker killed').logs).toMatchObject({
      'worker died; respawning': 1,
      'worker respawned and listening': 1,
    })
  })

  it('reloads twice on SIGHUP without failing a request', () => {
    const p = phase(report, 'two reloads')
    expect(p.logs['config reloaded']).toBe(2)
    expect(statusesOf(outcomes(p, 'jwt'))).toEqual(['200'])
  })

  it('keeps limiting with Redis down: one warning per worker, 429s, at most members × the limit', () => {
    const down = phase(report, 'redis down')
    expect(down.logs[REDIS_DOWN]).toBe(2)
    expect(down.logs['revocation sync: redis unavailable; keeping the last known list']).toBe(2)
    for (const p of report.phases) {
      const limited = outcomes(p, 'limited')
      expect(limited['429'] ?? 0, p.phase).toBeGreaterThan(0)
      // Documented worst case when members cannot agree: each admits the whole limit.
      const bound = 2 * (LIMIT * Math.ceil(p.ms / 1000) + LIMIT)
      expect(limited['200'] ?? 0, p.phase).toBeLessThanOrEqual(bound)
    }
    expect(
      phase(report, 'redis back').logs['rate-limit sync: redis is back; backlog published'],
    ).toBe(2)
  })

  it('keeps refusing a token revoked through Redis while Redis is down', () => {
    for (const name of ['steady', 'two reloads', 'redis down'] as const) {
      expect(statusesOf(outcomes(phase(report, name), 'revoked')), name).toEqual(['401'])
    }
  })

  it('serves new tokens on the last good keys while the JWKS endpoint fails', () => {
    const failing = phase(report, 'jwks failing')
    expect(failing.logs['jwks refresh failed']).toBeGreaterThanOrEqual(2)
    expect(report.jwksHitsWhileFailing).toBeGreaterThanOrEqual(2)
    expect(statusesOf(outcomes(failing, 'jwt'))).toEqual(['200'])
    expect(outcomes(failing, 'jwt')['200']).toBeGreaterThan(0)
    // A kid the keys never had stays a 401, refresh or not (failures on the killed worker's
    // connections are the first test's).
    for (const p of report.phases) expect(answeredOf(p, 'unknown kid'), p.phase).toEqual(['401'])
    expect(statusesOf(outcomes(phase(report, 'jwks back'), 'jwt'))).toEqual(['200'])
  })
})
