/**
 * Which phase can measure which target with the loaders at hand. Handshake targets have their own
 * phase (bench/handshakes.ts); request targets the saturation and fixed-rate phases, except where
 * a loader cannot speak the target's TLS: wrk presents no client certificate, and the paced
 * loaders (native and Node) speak plain HTTP only.
 */
import type { Options } from './options.js'
import type { Phase } from './report.js'
import type { ScenarioTarget } from './scenarios/types.js'

/** Why `phase` leaves `target` out, or undefined when it measures it. */
export function phaseGap(
  target: ScenarioTarget,
  phase: Phase,
  options: Options,
): string | undefined {
  const handshakes = target.load === 'handshakes'
  if (phase === 'handshakes') return handshakes ? undefined : 'a request target'
  if (handshakes) return 'a handshake target'
  if (phase === 'saturation-wrk' && target.tls?.client !== undefined) {
    return 'wrk cannot present a client certificate'
  }
  if (phase === 'fixed-rate' && target.tls !== undefined && options.rateEngine === 'paced') {
    return 'the paced loaders speak plain HTTP only (--rate-engine autocannon measures it, in bursts)'
  }
  return undefined
}

/** The gaps worth a line in the report: a target of the phase's kind that the loader cannot do. */
export function isLoaderGap(target: ScenarioTarget, phase: Phase, options: Options): boolean {
  const reason = phaseGap(target, phase, options)
  return reason !== undefined && (target.load === 'handshakes') === (phase === 'handshakes')
}

/** What a reader must know about a figure `phase` measures for `target`, or undefined. */
export function loaderCaveat(target: ScenarioTarget, phase: Phase): string | undefined {
  if (phase === 'saturation-wrk' && target.tls !== undefined) {
    // autocannon keeps its warm-up's connections (bench/load.ts); a wrk run cannot.
    return 'wrk opens its connections inside the window, so its figures include one full handshake per connection'
  }
  return undefined
}
