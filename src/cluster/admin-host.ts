/**
 * The admin API inside a serving process: starts its listener when `listeners.admin` is set,
 * hands it the services of the current generation (config, consumers, the credential store),
 * replaces them on reload, and stops with the process. A port change waits for a restart like
 * every listener's (restart-required.ts).
 *
 * The admin modules (Ajv for request bodies, the store's Redis client) are imported only when the
 * listener is configured: a worker without it never loads them (process-imports.test.ts).
 */
import { isDeepStrictEqual } from 'node:util'
import type { Logger } from 'pino'
import type { AdminServer } from '../admin/server.js'
import type { AdminServices } from '../admin/services.js'
import type { StatusViewOf } from '../admin/api-schemas.js'
import type { GatewayConfig } from '../config/schema.js'
import type { Consumer } from '../consumers/consumer.js'
import { KeyHasher } from '../keys/hash.js'
import type { CredentialStore } from '../state/credential-store.js'
import type { SyncStatus } from '../state/versioned-sync.js'

/** Every worker slot as the primary sees it (messages.ts `status`). */
export interface WorkerSlotView {
  readonly index: number
  readonly pid: number | null
  readonly listening: boolean
}

/** What the serving process knows that the admin API reports or consults. */
export interface AdminHostContext {
  readonly logger: Logger
  readonly auditLog: Logger
  readonly workerIndex: number
  readonly workerCount: number
  consumer(name: string): Consumer | undefined
  isConfigHmacKey(keyId: string): boolean
  configConsumers(config: GatewayConfig): readonly Consumer[]
  credentialSizes(): { consumers: number; keys: number }
  syncs(): {
    revocations: SyncStatus | null
    credentials: SyncStatus | null
    rateLimits: SyncStatus | null
  }
  gossip(): { enabled: boolean; expectedMembers: number }
  /** The primary's view of the workers; null alone (--workers 0) or when it did not answer. */
  askPrimary(): Promise<readonly WorkerSlotView[] | null>
}

type StoreClass = typeof CredentialStore

export class AdminHost {
  #server: AdminServer | null = null
  readonly #context: AdminHostContext
  readonly #Store: StoreClass
  #store: CredentialStore | null = null
  #storeSettings: unknown = null

  private constructor(context: AdminHostContext, Store: StoreClass) {
    this.#context = context
    this.#Store = Store
  }

  /** The host, listening; null when the config has no listeners.admin. */
  static async start(config: GatewayConfig, context: AdminHostContext): Promise<AdminHost | null> {
    const listener = config.listeners.admin
    if (listener === undefined) return null
    const [{ AdminServer }, { CredentialStore }] = await Promise.all([
      import('../admin/server.js'),
      import('../state/credential-store.js'),
    ])
    const host = new AdminHost(context, CredentialStore)
    try {
      host.#server = await AdminServer.start(listener, host.#services(config, 0))
    } catch (error) {
      await host.close()
      throw error
    }
    return host
  }

  /** `admin://host:port`, for the startup line. */
  get listener(): string {
    const { host, port } = this.#server!.address
    return `admin://${host}:${port}`
  }

  reload(config: GatewayConfig, generation: number): void {
    this.#server!.replace(this.#services(config, generation))
  }

  async close(): Promise<void> {
    await this.#server?.close()
    await this.#store?.close()
    this.#store = null
  }

  #services(config: GatewayConfig, generation: number): AdminServices {
    const context = this.#context
    const store = this.#storeFor(config)
    return {
      config,
      logger: context.logger,
      auditLog: context.auditLog,
      keyPrefixes: keyPrefixesOf(config),
      consumer: (name) => context.consumer(name),
      isConfigHmacKey: (keyId) => context.isConfigHmacKey(keyId),
      configConsumers: () => context.configConsumers(config),
      store: () => store,
      status: () => this.#status(config, generation),
    }
  }

  /** The store of `config`: kept while its Redis and pepper are the same, else replaced. */
  #storeFor(config: GatewayConfig): CredentialStore | null {
    const redis = config.redis
    const settings = redis === undefined ? null : { redis, pepper: pepperOf(config) }
    if (this.#store !== null && isDeepStrictEqual(settings, this.#storeSettings)) return this.#store
    void this.#store?.close()
    this.#store =
      settings === null ? null : new this.#Store(settings.redis, new KeyHasher(settings.pepper))
    this.#storeSettings = settings
    return this.#store
  }

  async #status(config: GatewayConfig, generation: number): Promise<StatusViewOf> {
    const context = this.#context
    const syncs = context.syncs()
    const gossip = context.gossip()
    const workers = await context.askPrimary()
    return {
      generation,
      worker: { index: context.workerIndex, count: context.workerCount, pid: process.pid },
      workers: workers === null ? null : workers.map((slot) => ({ ...slot })),
      redis: {
        configured: config.redis !== undefined,
        revocations: syncs.revocations,
        credentials: syncs.credentials,
        rate_limits: syncs.rateLimits,
      },
      gossip: { enabled: gossip.enabled, expected_members: gossip.expectedMembers },
      credentials: context.credentialSizes(),
    }
  }
}

function keyPrefixesOf(config: GatewayConfig): readonly string[] {
  return config.api_keys.prefixes
}

function pepperOf(config: GatewayConfig): string | null {
  return config.api_keys.pepper ?? null
}
