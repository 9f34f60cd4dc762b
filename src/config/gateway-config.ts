/**
 * Loads a gateway config file completely: schema (with defaults), then the cross-field rules that
 * only compiling can check (route names, upstream references, overlapping routes). The primary
 * runs this before any worker sees a config, so an invalid file never replaces a running one.
 */
import { PoolCache } from '../proxy/upstream.js'
import { Runtime } from '../runtime.js'
import { loadConfig } from './load.js'
import { GatewayConfigSchema, type GatewayConfig } from './schema.js'
import type { Logger } from 'pino'

export interface CheckedConfig {
  readonly config: GatewayConfig
  readonly runtime: Runtime
}

/** Throws PortcullisError naming every problem; returns the config and a compiled runtime. */
export function loadGatewayConfig(file: string, logger: Logger, env = process.env): CheckedConfig {
  const config = loadConfig(file, GatewayConfigSchema, env)
  const pools = new PoolCache()
  const runtime = new Runtime(config, { logger, pools, inFlight: 0, draining: false, onIdle: null })
  // The pools were only built to compile; no request goes through this runtime.
  void pools.closeAll()
  return { config, runtime }
}
