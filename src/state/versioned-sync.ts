/**
 * Keeps a worker's copy of a Redis-held set in step, without any Redis call on the request path:
 * a channel pushes each change so workers apply it at once, and a version key (INCR on every
 * change) is polled each second so a change whose message was lost still arrives. The revocation
 * list (jwt/revocation.ts) and the credential directory (credential-sync.ts) both run on it.
 *
 * While Redis is down the last known set keeps serving: one warning per outage, one line when it
 * is back. Clients reconnect on their own (redis-client.ts); a resubscription rereads everything,
 * since messages sent while the subscription was down are gone.
 */
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { createBackgroundRedis } from './redis-client.js'
import type { RedisConfig } from './schema.js'

/** A change whose message was lost reaches every worker within about this long. */
const POLL_MS = 1000

/** The set a {@link VersionedSync} keeps: how to read it whole and how to apply one message. */
export interface SyncedSet {
  /**
   * Reads the whole set and installs it. The version was read just before, so a change made
   * meanwhile shows as a new version at the next poll. Returns the sizes for the recovery line.
   */
  readAll(redis: Redis): Promise<Record<string, number>>
  /** After a full read at `version`: apply the messages that arrived meanwhile. */
  caughtUp?(version: number): void
  /** One message from the channel. */
  receive(message: string): void
}

export interface VersionedSyncOptions {
  /** Names the sync in its log lines: `revocation sync`. */
  readonly name: string
  /** What serves while Redis is down, for the warning: `keeping the last known list`. */
  readonly whileDown: string
  readonly versionKey: string
  readonly channel: string
  /**
   * Messages carry the version they produced and the set advances with them
   * ({@link VersionedSync.advance}): a poll that sees a newer version then waits one more poll
   * for its message before reading everything. Otherwise any new version is read at once.
   */
  readonly ordered: boolean
}

/** Where a sync stands, for /readyz detail. */
export type SyncStatus = 'starting' | 'ok' | 'redis_down'

export class VersionedSync {
  readonly #set: SyncedSet
  readonly #options: VersionedSyncOptions
  readonly #logger: Logger
  readonly #commands: Redis
  readonly #subscriber: Redis
  /** Version of the set held; null: nothing read yet, or reread wanted. */
  #version: number | null = null
  /** Version a poll saw ahead of the set (ordered sets give its message one poll to arrive). */
  #behind: number | null = null
  #reading = false
  #readAgain = false
  #loaded = false
  #timer: NodeJS.Timeout | null = null
  #failing = false
  #closed = false

  /** The settings it runs with, so a reload can tell whether to keep it. */
  readonly config: RedisConfig

  constructor(set: SyncedSet, config: RedisConfig, logger: Logger, options: VersionedSyncOptions) {
    this.#set = set
    this.#options = options
    this.#logger = logger
    this.config = config
    // The subscriber queues its SUBSCRIBE until connected; commands fail at once while Redis is
    // down and the poll tries again.
    this.#commands = createBackgroundRedis(config.url)
    this.#subscriber = createBackgroundRedis(config.url, { offlineQueue: true })
    for (const client of [this.#commands, this.#subscriber]) {
      client.on('error', (error: Error) => this.#fail(error))
    }
    this.#subscriber.on('message', (_channel: string, message: string) => set.receive(message))
    this.#subscriber.on('ready', () => {
      // Whatever changed while the subscription was down is read again.
      this.#version = null
    })
  }

  /** True when the set follows Redis: read at least once and Redis reachable now. */
  get healthy(): boolean {
    return this.#loaded && !this.#failing
  }

  get status(): SyncStatus {
    if (this.#failing) return 'redis_down'
    return this.#loaded ? 'ok' : 'starting'
  }

  /** Version of the set held; null before the first read and while a reread is due. */
  get version(): number | null {
    return this.#version
  }

  /** True while a full read runs: an ordered set buffers its messages meanwhile. */
  get reading(): boolean {
    return this.#reading
  }

  start(): void {
    void this.#subscriber.connect().then(
      () => this.#subscriber.subscribe(this.#options.channel),
      (error: Error) => this.#fail(error),
    )
    void this.#commands.connect().then(
      () => this.#poll(),
      (error: Error) => this.#fail(error),
    )
    this.#timer = setInterval(() => void this.#poll(), POLL_MS)
    this.#timer.unref()
  }

  close(): void {
    this.#closed = true
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.#commands.disconnect()
    this.#subscriber.disconnect()
  }

  /** An ordered set applied the message of `version`. */
  advance(version: number): void {
    this.#version = version
  }

  /** Reads everything now (an ordered set saw a gap); the set keeps serving meanwhile. */
  resync(): void {
    this.#version = null
    void this.#read()
  }

  async #poll(): Promise<void> {
    if (this.#commands.status !== 'ready' || this.#reading) return
    try {
      const remote = Number((await this.#commands.get(this.#options.versionKey)) ?? 0)
      const local = this.#version
      if (local === remote) {
        this.#behind = null
        this.#recovered(null)
        return
      }
      if (local !== null && this.#options.ordered && remote > local) {
        // Its message is likely on its way; read everything only if it has not come by the next poll.
        if (this.#behind === null || local >= this.#behind) {
          this.#behind = remote
          return
        }
      }
      await this.#read()
    } catch (error) {
      this.#fail(error as Error)
    }
  }

  async #read(): Promise<void> {
    if (this.#closed || this.#commands.status !== 'ready') return
    if (this.#reading) {
      this.#readAgain = true
      return
    }
    this.#reading = true
    try {
      do {
        this.#readAgain = false
        const version = Number((await this.#commands.get(this.#options.versionKey)) ?? 0)
        const sizes = await this.#set.readAll(this.#commands)
        if (this.#closed) return
        this.#version = version
        this.#behind = null
        this.#loaded = true
        // Still reading: a gap found here asks for another pass instead of a second read.
        this.#set.caughtUp?.(version)
        this.#recovered(sizes)
      } while (this.#readAgain && !this.#closed)
    } catch (error) {
      this.#fail(error as Error)
    } finally {
      this.#reading = false
    }
  }

  #recovered(sizes: Record<string, number> | null): void {
    if (!this.#failing || this.#version === null) return
    this.#failing = false
    this.#logger.info(sizes ?? {}, `${this.#options.name} recovered`)
  }

  #fail(error: Error): void {
    if (this.#closed) return
    // One warning per outage, not one per retry.
    if (this.#failing) return
    this.#failing = true
    this.#logger.warn(
      { err: error.message },
      `${this.#options.name}: redis unavailable; ${this.#options.whileDown}`,
    )
  }
}
