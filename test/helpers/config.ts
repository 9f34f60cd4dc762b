/**
 * Loading gateway configs the way the CLI does (file → schema → compile), for the suites that
 * check what a config may say: every refusal comes back as its path and reason.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadGatewayConfig, type CheckedConfig } from '../../src/config/gateway-config.js'
import { PortcullisError, type ConfigProblem } from '../../src/errors.js'
import { createLogger } from '../../src/observability/logger.js'

let dir: string | null = null
let counter = 0

/** An upstream every test config can route to (nothing listens there; nothing connects). */
export const BASE_CONFIG = { upstreams: { u: { targets: ['http://127.0.0.1:1'] } } }

/** Writes `config` (over {@link BASE_CONFIG}) to a fresh JSON file and loads it. */
export function loadTestConfig(config: Record<string, unknown>): CheckedConfig {
  dir ??= mkdtempSync(join(tmpdir(), 'pcl-config-'))
  const file = join(dir, `config-${++counter}.json`)
  writeFileSync(file, JSON.stringify({ ...BASE_CONFIG, ...config }))
  return loadGatewayConfig(file, createLogger('silent', {}))
}

/** The problems a refused config names; throws if the config is accepted. */
export function configProblems(config: Record<string, unknown>): ConfigProblem[] {
  try {
    loadTestConfig(config)
  } catch (error) {
    if (error instanceof PortcullisError) return [...error.problems]
    throw error
  }
  throw new Error('expected the config to be refused')
}
