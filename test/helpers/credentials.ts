/**
 * Consumers and API keys for in-memory stage tests: a worker's credential directory filled from a
 * `consumers:` list as the config declares it (keys by hash), and the services the stages ask for.
 */
import { CredentialDirectory } from '../../src/consumers/directory.js'
import type { ConsumerConfig } from '../../src/consumers/schema.js'
import { generateApiKey } from '../../src/keys/format.js'
import { KeyHasher } from '../../src/keys/hash.js'
import { KeyUsage } from '../../src/keys/usage.js'

export const TEST_PREFIX = 'pc_test'

export interface KeyServicesForTest {
  readonly credentials: CredentialDirectory
  readonly keyHasher: KeyHasher
  readonly keyUsage: KeyUsage
  readonly apiKeyPrefixes: readonly string[]
}

export function keyServices(consumers: readonly ConsumerInput[] = []): KeyServicesForTest {
  const services = {
    credentials: new CredentialDirectory(),
    keyHasher: new KeyHasher(null),
    keyUsage: new KeyUsage(),
    apiKeyPrefixes: [TEST_PREFIX],
  }
  configure(services, consumers)
  return services
}

/** A consumer as a test writes it: the schema's defaults apply. */
export type ConsumerInput = Partial<ConsumerConfig> & Pick<ConsumerConfig, 'name'>

/** Replaces the config part of the directory, as a reload does; throws on a problem. */
export function configure(services: KeyServicesForTest, consumers: readonly ConsumerInput[]): void {
  const problems: { path: string; reason: string }[] = []
  services.credentials.setConfigured(
    consumers.map((c) => ({ groups: [], metadata: {}, disabled: false, keys: [], ...c })),
    problems,
  )
  if (problems.length > 0) throw new Error(JSON.stringify(problems))
}

/** A fresh key and its hash (no pepper). */
export function newKey(prefix = TEST_PREFIX): { key: string; hash: string } {
  const key = generateApiKey(prefix)
  return { key, hash: new KeyHasher(null).hash(key) }
}
