/**
 * Consumers and API keys for in-memory stage tests: a worker's credential directory filled from a
 * `consumers:` list as the config declares it (keys by hash), and the services the stages ask for.
 */
import { pino, type Logger } from 'pino'
import type { StoredKey } from '../../src/keys/records.js'
import { CredentialDirectory } from '../../src/consumers/directory.js'
import type {
  ConsumerConfig,
  ConsumerKeyConfig,
  HmacCredentialConfig,
} from '../../src/consumers/schema.js'
import { SignatureMemory } from '../../src/hmac/replay.js'
import { generateApiKey } from '../../src/keys/format.js'
import { KeyHasher } from '../../src/keys/hash.js'
import { KeyUsage } from '../../src/keys/usage.js'

export const TEST_PREFIX = 'pc_test'

export interface KeyServicesForTest {
  readonly credentials: CredentialDirectory
  readonly keyHasher: KeyHasher
  readonly keyUsage: KeyUsage
  readonly apiKeyPrefixes: readonly string[]
  readonly signatures: SignatureMemory
}

export function keyServices(consumers: readonly ConsumerInput[] = []): KeyServicesForTest {
  const services = {
    credentials: new CredentialDirectory(),
    keyHasher: new KeyHasher(null),
    keyUsage: new KeyUsage(),
    apiKeyPrefixes: [TEST_PREFIX],
    signatures: new SignatureMemory(),
  }
  configure(services, consumers)
  return services
}

/** A key as a test writes it: the schema's defaults apply. */
export type KeyInput = Partial<ConsumerKeyConfig> & Pick<ConsumerKeyConfig, 'hash'>

/** An HMAC credential as a test writes it: the schema's defaults apply. */
export type HmacInput = Partial<HmacCredentialConfig> &
  Pick<HmacCredentialConfig, 'key_id' | 'secret'>

/** A consumer as a test writes it: the schema's defaults apply. */
export type ConsumerInput = Partial<Omit<ConsumerConfig, 'keys' | 'hmac_credentials'>> &
  Pick<ConsumerConfig, 'name'> & { keys?: KeyInput[]; hmac_credentials?: HmacInput[] }

/** Replaces the config part of the directory, as a reload does; throws on a problem. */
export function configure(services: KeyServicesForTest, consumers: readonly ConsumerInput[]): void {
  const problems: { path: string; reason: string }[] = []
  services.credentials.setConfigured(
    consumers.map((c) => ({
      groups: [],
      metadata: {},
      disabled: false,
      ...c,
      keys: (c.keys ?? []).map((k) => ({ scopes: [], allow_ips: [], ...k })),
      hmac_credentials: (c.hmac_credentials ?? []).map((h) => ({
        secret_encoding: 'utf8' as const,
        algorithm: 'hmac-sha256' as const,
        scopes: [],
        ...h,
      })),
    })),
    problems,
  )
  if (problems.length > 0) throw new Error(JSON.stringify(problems))
}

/** A fresh key and its hash (no pepper). */
export function newKey(prefix = TEST_PREFIX): { key: string; hash: string } {
  const key = generateApiKey(prefix)
  return { key, hash: new KeyHasher(null).hash(key) }
}

/** A store record of a key, as the credential store keeps it. */
export function storedKey(
  fields: Partial<StoredKey> & Pick<StoredKey, 'id' | 'hash' | 'consumer'>,
): StoredKey {
  return {
    prefix: TEST_PREFIX,
    last4: 'abcd',
    label: null,
    scopes: [],
    not_before: null,
    expires_at: null,
    allow_ips: [],
    state: 'active',
    created_at: '2026-01-01T00:00:00Z',
    revoked_at: null,
    rotated_from: null,
    rotated_to: null,
    ...fields,
  }
}

/** A pino logger whose lines (parsed) go to `lines`: audit lines for assertions. */
export function captureLogger(lines: Record<string, unknown>[]): Logger {
  return pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  )
}
