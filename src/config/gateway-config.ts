/**
 * Loads a gateway config file completely: schema (with defaults), then the cross-field rules that
 * only compiling can check (route names, upstream references, overlapping routes). The primary
 * runs this before any worker sees a config, so an invalid file never replaces a running one.
 */
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import { PortcullisError, type ConfigProblem } from '../errors.js'
import { IssuerRegistry } from '../jwt/issuer.js'
import { RevocationList } from '../jwt/revocation.js'
import { PoolCache } from '../proxy/upstream.js'
import { Runtime } from '../runtime.js'
import { JwtContext } from '../stages/authenticate/jwt-context.js'
import { RateLimitRegistry } from '../stages/rate-limit/index.js'
import { loadConfig } from './load.js'
import { GatewayConfigSchema, type GatewayConfig } from './schema.js'
import type { Logger } from 'pino'
import { BodyRateWatch } from '../front/body-rate.js'
import { ClientSlots } from '../front/client-slots.js'

export interface CheckedConfig {
  readonly config: GatewayConfig
  readonly runtime: Runtime
}

/** Throws PortcullisError naming every problem; returns the config and a compiled runtime. */
export function loadGatewayConfig(file: string, logger: Logger, env = process.env): CheckedConfig {
  const config = loadConfig(file, GatewayConfigSchema, env)
  checkTlsFiles(config)
  const pools = new PoolCache()
  const issuers = new IssuerRegistry(logger)
  const revocations = new RevocationList()
  let runtime: Runtime
  try {
    runtime = new Runtime(config, {
      logger,
      pools,
      issuers,
      jwt: new JwtContext(null, revocations),
      revocations,
      rateLimits: new RateLimitRegistry(),
      bodyRates: new BodyRateWatch(),
      clientSlots: new ClientSlots(),
      inFlight: 0,
      draining: false,
      onIdle: null,
    })
  } finally {
    // Pools and key sources were only built to compile: no request goes through this runtime,
    // and no JWKS is fetched (sources fetch on start, which only serving processes call).
    void pools.closeAll()
    issuers.closeAll()
  }
  return { config, runtime }
}

/** Reads certificate and key now, so a bad path or a mismatched pair is a config error, not a failed listen. */
function checkTlsFiles(config: GatewayConfig): void {
  const https = config.listeners.https
  if (https === undefined) return
  const problems: ConfigProblem[] = []
  const read = (key: 'cert' | 'key'): Buffer | null => {
    try {
      return readFileSync(https[key])
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error'
      problems.push({
        path: `listeners.https.${key}`,
        reason: `cannot read "${https[key]}" (${code})`,
      })
      return null
    }
  }
  const cert = read('cert')
  const key = read('key')
  if (cert !== null && key !== null) {
    try {
      createSecureContext({
        cert,
        key,
        ...(https.passphrase === undefined ? {} : { passphrase: https.passphrase }),
      })
    } catch (error) {
      problems.push({
        path: 'listeners.https',
        reason: `certificate and key are not a usable pair: ${(error as Error).message}`,
      })
    }
  }
  if (problems.length > 0)
    throw new PortcullisError('PCL_ERR_CONFIG_INVALID', 'invalid configuration', problems)
}
