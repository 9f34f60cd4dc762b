/**
 * The introspectors of a worker, across config generations (like IssuerRegistry): one whose
 * config did not change is carried over with its cached answers and breaker; one no config names
 * any more is closed.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import { parseDuration } from '../config/units.js'
import type { ConfigProblem } from '../errors.js'
import { createClientAuthenticator } from './client-auth.js'
import { IntrospectionEndpoint } from './endpoint.js'
import { Introspector } from './introspector.js'
import type { IntrospectorConfig } from './schema.js'

export class IntrospectorRegistry {
  readonly #logger: Logger
  #introspectors = new Map<string, Introspector>()
  #used = new Set<string>()

  constructor(logger: Logger) {
    this.#logger = logger
  }

  /** Compiles `introspectors:`; problems are pushed with their config path. */
  compile(
    configs: readonly IntrospectorConfig[],
    problems: ConfigProblem[],
  ): Map<string, Introspector> {
    this.#used = new Set()
    const byName = new Map<string, Introspector>()
    configs.forEach((config, index) => {
      const path = `introspectors[${index}]`
      if (byName.has(config.name)) {
        problems.push({
          path: `${path}.name`,
          reason: `"${config.name}" is already an introspector name`,
        })
        return
      }
      const before = problems.length
      const authenticate = createClientAuthenticator(config, path, problems)
      if (authenticate === null || problems.length > before) return
      // A key file is part of the identity: a reload after the file changed signs with the new key.
      const key =
        JSON.stringify(config) +
        (config.private_key === undefined ? '' : fileDigest(config.private_key))
      this.#used.add(key)
      let introspector = this.#introspectors.get(key)
      if (introspector === undefined) {
        const endpoint = new IntrospectionEndpoint(
          config.endpoint,
          parseDuration(config.timeout),
          authenticate,
        )
        introspector = new Introspector(
          {
            policy: {
              name: config.name,
              issuer: config.issuer ?? null,
              audiences: new Set(config.audiences),
              scopeClaim: config.scope_claim,
              consumerClaim: config.consumer_claim ?? null,
            },
            cacheTtlMs: parseDuration(config.cache_ttl),
            negativeTtlMs: parseDuration(config.negative_ttl),
            staleForMs: parseDuration(config.stale_for),
            cacheSize: config.cache_size,
            breakerFailures: config.breaker.failures,
            breakerCooldownMs: parseDuration(config.breaker.cooldown),
          },
          endpoint,
          this.#logger,
        )
        this.#introspectors.set(key, introspector)
      }
      byName.set(config.name, introspector)
    })
    return byName
  }

  /** Closes introspectors the last compile did not use. */
  sweep(): void {
    for (const [key, introspector] of this.#introspectors) {
      if (this.#used.has(key)) continue
      this.#introspectors.delete(key)
      introspector.close()
    }
  }

  /** The introspectors of the last compile and those still carried over, for /metrics. */
  current(): IterableIterator<Introspector> {
    return this.#introspectors.values()
  }

  closeAll(): void {
    for (const introspector of this.#introspectors.values()) introspector.close()
    this.#introspectors.clear()
  }
}

/** A digest of a key file's bytes; '' when it cannot be read (the client auth reports why). */
function fileDigest(path: string): string {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('base64url')
  } catch {
    return ''
  }
}
