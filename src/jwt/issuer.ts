/**
 * An issuer compiled from config: the claim policy its tokens must meet and the source of its
 * keys. Compiled issuers outlive reloads while their config is unchanged (IssuerRegistry), so a
 * reload neither refetches a JWKS nor forgets the keys it holds.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import { parseDuration, parseSize } from '../config/units.js'
import type { ConfigProblem } from '../errors.js'
import type { ClaimPolicy } from './claims.js'
import { createKeySource } from './jwks.js'
import type { IssuerConfig } from './schema.js'
import type { JwsAlgorithm, KeySource } from './types.js'

export class CompiledIssuer {
  readonly name: string
  /** The exact `iss` of its tokens. */
  readonly iss: string
  readonly algorithms: ReadonlySet<string>
  readonly policy: ClaimPolicy
  /** Required `typ`, or null. */
  readonly typ: string | null
  readonly scopeClaim: string
  /** issuers[].consumer_claim, or null. */
  readonly consumerClaim: string | null
  readonly maxTokenBytes: number
  readonly cacheSize: number
  readonly keys: KeySource
  #started: Promise<void> | null = null

  constructor(config: IssuerConfig, keys: KeySource) {
    this.name = config.name
    this.iss = config.issuer
    this.algorithms = new Set<JwsAlgorithm>(config.algorithms)
    this.policy = {
      issuer: config.issuer,
      audiences: new Set(config.audiences),
      clockSkewS: parseDuration(config.clock_skew) / 1000,
      maxTokenAgeS:
        config.max_token_age === undefined ? null : parseDuration(config.max_token_age) / 1000,
      requiredClaims: config.required_claims,
    }
    this.typ = config.typ ?? null
    this.scopeClaim = config.scope_claim
    this.consumerClaim = config.consumer_claim ?? null
    this.maxTokenBytes = parseSize(config.max_token_size)
    this.cacheSize = config.cache_size
    this.keys = keys
  }

  /** Loads the keys once (a JWKS fetch); later calls share the first. */
  start(): Promise<void> {
    return (this.#started ??= this.keys.start())
  }
}

/**
 * The issuers of a worker, across config generations: an issuer whose config did not change is
 * carried over with its keys and background refresh; one no config names any more is closed.
 */
export class IssuerRegistry {
  readonly #logger: Logger
  #issuers = new Map<string, CompiledIssuer>()
  #used = new Set<string>()

  constructor(logger: Logger) {
    this.#logger = logger
  }

  /** Compiles `issuers:`; problems are pushed with their config path. */
  compile(
    configs: readonly IssuerConfig[],
    problems: ConfigProblem[],
  ): Map<string, CompiledIssuer> {
    this.#used = new Set()
    const byName = new Map<string, CompiledIssuer>()
    const byIss = new Map<string, number>()
    configs.forEach((config, index) => {
      const path = `issuers[${index}]`
      if (byName.has(config.name)) {
        problems.push({
          path: `${path}.name`,
          reason: `"${config.name}" is already an issuer name`,
        })
        return
      }
      const earlier = byIss.get(config.issuer)
      if (earlier !== undefined) {
        // Tokens are matched to their issuer by iss alone, so two entries with one iss would make
        // the choice of keys ambiguous.
        problems.push({
          path: `${path}.issuer`,
          reason: `issuers[${earlier}] already has issuer "${config.issuer}"`,
        })
        return
      }
      byIss.set(config.issuer, index)
      const before = problems.length
      checkIssuerRules(config, path, problems)
      if (problems.length > before) return
      // A key file is part of the identity: a reload after the file changed loads the new keys.
      const key =
        JSON.stringify(config) + (config.keys === undefined ? '' : fileDigest(config.keys))
      this.#used.add(key)
      let issuer = this.#issuers.get(key)
      if (issuer === undefined) {
        const { source, problems: keyProblems } = createKeySource(config, this.#logger)
        if (keyProblems.length > 0) {
          const field =
            config.keys !== undefined ? 'keys' : config.secret !== undefined ? 'secret' : 'jwks_uri'
          for (const reason of keyProblems) problems.push({ path: `${path}.${field}`, reason })
          source.close()
          return
        }
        issuer = new CompiledIssuer(config, source)
        this.#issuers.set(key, issuer)
      }
      byName.set(config.name, issuer)
    })
    return byName
  }

  /** Closes issuers the last compile did not use. */
  sweep(): void {
    for (const [key, issuer] of this.#issuers) {
      if (this.#used.has(key)) continue
      this.#issuers.delete(key)
      issuer.keys.close()
    }
  }

  /** Loads the keys of every current issuer (JWKS fetches run in parallel, each with its timeout). */
  async startAll(): Promise<void> {
    await Promise.all([...this.#issuers.values()].map((issuer) => issuer.start()))
  }

  /** The issuers of the last compile and those still carried over, for /metrics. */
  current(): IterableIterator<CompiledIssuer> {
    return this.#issuers.values()
  }

  closeAll(): void {
    for (const issuer of this.#issuers.values()) issuer.keys.close()
    this.#issuers.clear()
  }
}

const HMAC = /^HS/

/** A digest of a key file's bytes; '' when it cannot be read (the key source reports why). */
function fileDigest(path: string): string {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('base64url')
  } catch {
    return ''
  }
}

/** The cross-field rules of RFC 8725 §3.1–3.2 that the schema cannot say. */
function checkIssuerRules(config: IssuerConfig, path: string, problems: ConfigProblem[]): void {
  const sources = [config.jwks_uri, config.keys, config.secret].filter((s) => s !== undefined)
  if (sources.length !== 1) {
    problems.push({
      path,
      reason: 'needs exactly one key source: jwks_uri, keys (a file) or secret',
    })
    return
  }
  if (
    config.jwks_uri !== undefined &&
    parseDuration(config.jwks.stale_for) < parseDuration(config.jwks.max_refresh)
  ) {
    // Keys are refetched at most max_refresh apart; a shorter stale bound would expire healthy keys.
    problems.push({
      path: `${path}.jwks.stale_for`,
      reason: `must be at least jwks.max_refresh (${config.jwks.max_refresh})`,
    })
  }
  const hmac = config.algorithms.filter((a) => HMAC.test(a))
  if (config.secret !== undefined) {
    if (hmac.length !== config.algorithms.length) {
      problems.push({
        path: `${path}.algorithms`,
        reason:
          'a secret verifies only HS256/HS384/HS512; public-key algorithms need jwks_uri or keys',
      })
    }
  } else if (hmac.length > 0) {
    // An HS algorithm next to public keys is the algorithm-confusion attack (RFC 8725 §2.1).
    problems.push({
      path: `${path}.algorithms`,
      reason: `${hmac.join(', ')} need a secret configured on the issuer; they never verify with public keys`,
    })
  }
}
