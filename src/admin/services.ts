/**
 * What the admin API's handlers use of the worker that serves them: the current config, its
 * consumers (to tell config-owned ones), the credential store, revocation and status. Built by
 * the serving process (cluster/gateway-process.ts) and replaced on reload.
 */
import type { Logger } from 'pino'
import type { GatewayConfig } from '../config/schema.js'
import type { Consumer } from '../consumers/consumer.js'
import type { CredentialStore } from '../state/credential-store.js'
import type { StatusViewOf } from './api-schemas.js'

export interface AdminServices {
  readonly config: GatewayConfig
  readonly logger: Logger
  /** Where audit lines go (observability/audit-log.ts); `logger` when absent. */
  readonly auditLog?: Logger
  /** The worker's consumer of that name (config wins over store), as the gateway resolves it. */
  consumer(name: string): Consumer | undefined
  /** Whether the config declares this HMAC key id (it wins over the store's). */
  isConfigHmacKey(keyId: string): boolean
  /** Consumers of the config file, in config order. */
  configConsumers(): readonly Consumer[]
  /** The credential store; null without `redis:`. */
  store(): CredentialStore | null
  /** Accepted key prefixes; the first is the default of new keys. */
  readonly keyPrefixes: readonly string[]
  status(): Promise<StatusViewOf>
}
