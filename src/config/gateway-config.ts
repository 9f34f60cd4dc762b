/**
 * Loads a gateway config file completely: schema (with defaults), then the cross-field rules that
 * only compiling can check (route names, references, overlapping routes, TLS files). The primary
 * runs this before any worker sees a config, so an invalid file never replaces a running one.
 *
 * Every problem is listed at once: a config the schema refuses is still checked for its
 * references and overlaps (references.ts reads it as written), so a user fixes one list, not one
 * tier after another. The rules that need a valid config (an issuer's keys, a policy's tiers)
 * follow once the schema passes.
 */
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import { checkAdminConfig } from '../admin/config-rules.js'
import { PortcullisError, type ConfigProblem } from '../errors.js'
import { IssuerRegistry } from '../jwt/issuer.js'
import { RevocationList } from '../jwt/revocation.js'
import { createUpstreamSockets } from '../proxy/h1/socket-choice.js'
import { PoolCache } from '../proxy/upstream.js'
import { Runtime } from '../gateway/runtime.js'
import { JwtContext } from '../stages/authenticate/jwt-context.js'
import { RateLimitRegistry } from '../rate-limit/registry.js'
import { readConfigFile, validateConfig } from './load.js'
import { interpolateEnv } from './interpolate.js'
import { checkReferences } from './references.js'
import { GatewayConfigSchema, type GatewayConfig } from './schema.js'
import type { Logger } from 'pino'
import { BodyRateWatch } from '../gateway/body-rate.js'
import { CredentialDirectory } from '../consumers/directory.js'
import { KeyUsage } from '../keys/usage.js'
import { WorkerMeter } from '../observability/metrics/meter.js'
import { ClientSlots } from '../gateway/client-slots.js'

export interface CheckedConfig {
  readonly config: GatewayConfig
  readonly runtime: Runtime
}

/** Throws PortcullisError naming every problem; returns the config and a compiled runtime. */
export function loadGatewayConfig(file: string, logger: Logger, env = process.env): CheckedConfig {
  const data = interpolateEnv(readConfigFile(file), env)
  let config: GatewayConfig
  try {
    config = validateConfig(data, GatewayConfigSchema)
  } catch (error) {
    if (!isInvalidConfig(error)) throw error
    throw invalidConfig([...error.problems, ...checkReferences(data)])
  }
  const problems = [...checkTlsFiles(config), ...checkAdminConfig(config)]
  // No request goes through these pools: node's sockets, which load nothing and open none here.
  const pools = new PoolCache(createUpstreamSockets('node'))
  const issuers = new IssuerRegistry(logger)
  const revocations = new RevocationList()
  let runtime: Runtime | null = null
  try {
    runtime = new Runtime(config, {
      logger,
      pools,
      issuers,
      jwt: new JwtContext(null, revocations),
      revocations,
      credentials: new CredentialDirectory(),
      keyUsage: new KeyUsage(),
      rateLimits: new RateLimitRegistry(),
      bodyRates: new BodyRateWatch(),
      clientSlots: new ClientSlots(),
      meter: new WorkerMeter(),
      inFlight: 0,
      draining: false,
      onIdle: null,
    })
  } catch (error) {
    if (!isInvalidConfig(error)) throw error
    problems.push(...error.problems)
  } finally {
    // Pools and key sources were only built to compile: no request goes through this runtime,
    // and no JWKS is fetched (sources fetch on start, which only serving processes call).
    void pools.closeAll()
    issuers.closeAll()
  }
  if (runtime === null || problems.length > 0) throw invalidConfig(problems)
  return { config, runtime }
}

function isInvalidConfig(error: unknown): error is PortcullisError {
  return error instanceof PortcullisError && error.code === 'PCL_ERR_CONFIG_INVALID'
}

function invalidConfig(problems: readonly ConfigProblem[]): PortcullisError {
  return new PortcullisError('PCL_ERR_CONFIG_INVALID', 'invalid configuration', problems)
}

/** Reads certificate and key now, so a bad path or a mismatched pair is a config error, not a failed listen. */
function checkTlsFiles(config: GatewayConfig): ConfigProblem[] {
  const https = config.listeners.https
  if (https === undefined) return []
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
  return problems
}
