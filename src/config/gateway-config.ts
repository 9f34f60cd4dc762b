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
import { checkAdminConfig } from '../admin/config-rules.js'
import { PortcullisError, type ConfigProblem } from '../errors.js'
import { IntrospectorRegistry } from '../introspection/registry.js'
import { IssuerRegistry } from '../jwt/issuer.js'
import { RevocationList } from '../jwt/revocation.js'
import { createUpstreamSockets } from '../proxy/h1/socket-choice.js'
import { PoolCache } from '../proxy/upstream.js'
import { Runtime } from '../gateway/runtime.js'
import { JwtContext } from '../stages/authenticate/jwt-context.js'
import { RateLimitRegistry } from '../rate-limit/registry.js'
import { expandConfigSync } from './expand-sync.js'
import { readConfigFile, validateConfig } from './load.js'
import { interpolateEnv } from './interpolate.js'
import { checkReferences } from './references.js'
import { GatewayConfigSchema, type GatewayConfig } from './schema.js'
import type { Logger } from 'pino'
import { BodyRateWatch } from '../gateway/body-rate.js'
import { CredentialDirectory } from '../consumers/directory.js'
import { KeyUsage } from '../keys/usage.js'
import { SignatureMemory } from '../hmac/replay.js'
import { WorkerMeter } from '../observability/metrics/meter.js'
import { ClientSlots } from '../gateway/client-slots.js'
import { loadListenersTls } from '../tls/listeners.js'
import { checkEncryptionKeys } from '../state/secret-box.js'

export interface CheckedConfig {
  /** Self-contained: the routes of openapi: documents and the schemas' file $refs read into it. */
  readonly config: GatewayConfig
  readonly runtime: Runtime
  /** What an openapi: import could not enforce; the config is valid nevertheless. */
  readonly warnings: readonly ConfigProblem[]
}

/** Throws PortcullisError naming every problem; returns the config and a compiled runtime. */
export function loadGatewayConfig(file: string, logger: Logger, env = process.env): CheckedConfig {
  const data = interpolateEnv(readConfigFile(file), env)
  let written: GatewayConfig
  try {
    written = validateConfig(data, GatewayConfigSchema)
  } catch (error) {
    if (!isInvalidConfig(error)) throw error
    throw invalidConfig([...error.problems, ...checkReferences(data)])
  }
  const expanded = expandConfigSync(written, file)
  const config = expanded.config
  // Certificates and keys are read now, so a bad file or a mismatched pair is a config error
  // naming the file, not a failed listen (or, on a reload, a worker that refuses it).
  const problems = [
    ...expanded.problems,
    ...loadListenersTls(config).problems,
    ...checkAdminConfig(config),
    ...checkEncryptionKeys(config.redis?.encryption_keys ?? []),
  ]
  // No request goes through these pools: node's sockets, which load nothing and open none here.
  const pools = new PoolCache(createUpstreamSockets('node'))
  const issuers = new IssuerRegistry(logger)
  const introspectors = new IntrospectorRegistry(logger)
  const revocations = new RevocationList()
  let runtime: Runtime | null = null
  try {
    runtime = new Runtime(config, {
      logger,
      pools,
      issuers,
      introspectors,
      jwt: new JwtContext(null, revocations),
      revocations,
      credentials: new CredentialDirectory(),
      keyUsage: new KeyUsage(),
      signatures: new SignatureMemory(),
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
    introspectors.closeAll()
  }
  if (runtime === null || problems.length > 0) throw invalidConfig(problems)
  return { config, runtime, warnings: expanded.warnings }
}

function isInvalidConfig(error: unknown): error is PortcullisError {
  return error instanceof PortcullisError && error.code === 'PCL_ERR_CONFIG_INVALID'
}

function invalidConfig(problems: readonly ConfigProblem[]): PortcullisError {
  return new PortcullisError('PCL_ERR_CONFIG_INVALID', 'invalid configuration', problems)
}
