/**
 * Memory and load time of a worker's API keys (issue 16): builds StoredKey records as the
 * credential store holds them (JSON, most keys without allow_ips, scopes drawn from a few dozen
 * sets, some with dates, a few revoked), and loads them with CredentialDirectory.replaceStored in
 * a fresh process started with --expose-gc, as a worker's full read does. Prints one JSON object:
 * heap and RSS growth after a full GC, and the load time.
 *
 * `node dist/bench/keys-memory.js [--keys 1000000] [--consumers 50000] [--redis]`
 *
 * With `--redis`, the records are first written to a redis-server of the bench's own (loopback,
 * no persistence) and loaded as a worker's credential sync does its full read: HSCAN in chunks,
 * parse, compile. `load_ms` then is that whole read.
 *
 * `load_ms` counts making each record's JSON text, parsing it and compiling it; `records_ms` the
 * first two alone (one more pass), so `load_ms - records_ms` is the directory's own share.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { CredentialDirectory } from '../src/consumers/directory.js'
import type { StoredConsumer, StoredKey } from '../src/keys/records.js'
import type { Redis } from 'ioredis'
import { pino } from 'pino'
import { credentialKeys } from '../src/state/credential-layout.js'
import { RedisCredentialSync } from '../src/state/credential-sync.js'
import { createRedis } from '../src/state/redis-client.js'

const PREFIX = 'bench:'

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const MIB = 1024 * 1024
const SCOPES = ['orders', 'users', 'billing', 'reports', 'inventory', 'payments']
const CREATED = '2026-03-01T12:00:00Z'

interface Sizes {
  readonly keys: number
  readonly consumers: number
  /** Load through Redis as a worker's full read does. */
  readonly redis: boolean
}

function parseSizes(argv: string[]): Sizes {
  const { values } = parseArgs({
    args: argv,
    options: {
      keys: { type: 'string', default: '1000000' },
      consumers: { type: 'string', default: '50000' },
      child: { type: 'boolean', default: false },
      redis: { type: 'boolean', default: false },
    },
  })
  return { keys: Number(values.keys), consumers: Number(values.consumers), redis: values.redis }
}

/** A few dozen scope lists, as a deployment's roles would give: read/write per area. */
function scopeSets(): string[][] {
  const sets: string[][] = [[]]
  for (const area of SCOPES) {
    sets.push([`${area}:read`], [`${area}:read`, `${area}:write`])
  }
  for (let i = 0; i < SCOPES.length; i++) {
    for (let j = i + 1; j < SCOPES.length; j++)
      sets.push([`${SCOPES[i]}:read`, `${SCOPES[j]}:read`])
  }
  return sets
}

const ALLOW_LISTS: string[][] = Array.from({ length: 20 }, (_, i) =>
  i % 3 === 0
    ? [`10.${i}.0.0/16`, `2001:db8:${i.toString(16)}::/48`]
    : [`192.0.2.${i}`, `10.${i}.0.0/16`],
)

/** Random bytes drawn in large blocks: 1,000,000 records need 48 MB of them. */
class RandomSource {
  #block = Buffer.alloc(0)
  #at = 0

  next(): number {
    if (this.#at === this.#block.length) {
      this.#block = randomBytes(1 << 20)
      this.#at = 0
    }
    return this.#block[this.#at++]!
  }

  base62(length: number): string {
    let text = ''
    while (text.length < length) {
      const byte = this.next()
      if (byte < 248) text += BASE62[byte % 62]
    }
    return text
  }

  hash(): string {
    const bytes = Buffer.allocUnsafe(32)
    for (let i = 0; i < 32; i++) bytes[i] = this.next()
    return bytes.toString('base64url')
  }
}

/** The records' JSON texts, one at a time, as HSCAN hands them over. */
function* keyRecords(sizes: Sizes): Generator<string> {
  const random = new RandomSource()
  const sets = scopeSets()
  for (let i = 0; i < sizes.keys; i++) {
    const roll = i % 100
    const record: StoredKey = {
      id: `key_${random.base62(16)}`,
      hash: random.hash(),
      consumer: `consumer-${i % sizes.consumers}`,
      prefix: 'pc_live',
      last4: random.base62(4),
      label: roll < 30 ? `ci runner ${i % 7}` : null,
      scopes: sets[random.next() % sets.length]!,
      not_before: roll >= 95 ? '2026-04-01T00:00:00Z' : null,
      expires_at: roll < 10 ? '2027-04-01T00:00:00Z' : null,
      allow_ips: roll >= 95 ? ALLOW_LISTS[random.next() % ALLOW_LISTS.length]! : [],
      state: roll === 50 || roll === 51 ? 'revoked' : 'active',
      created_at: CREATED,
      revoked_at: roll === 50 || roll === 51 ? CREATED : null,
      rotated_from: null,
      rotated_to: null,
    }
    yield JSON.stringify(record)
  }
}

function* consumerRecords(sizes: Sizes): Generator<string> {
  for (let i = 0; i < sizes.consumers; i++) {
    const record: StoredConsumer = {
      name: `consumer-${i}`,
      groups: i % 4 === 0 ? ['partners'] : [],
      tier: i % 10 === 0 ? 'pro' : null,
      metadata: { tenant: `tenant-${i}` },
      disabled: false,
      created_at: CREATED,
      updated_at: CREATED,
    }
    yield JSON.stringify(record)
  }
}

function* parsed<T>(texts: Iterable<string>): Generator<T> {
  for (const text of texts) yield JSON.parse(text) as T
}

function settledMemory(gc: () => void): { heap: number; rss: number } {
  gc()
  gc()
  const usage = process.memoryUsage()
  return { heap: usage.heapUsed, rss: usage.rss }
}

/** A redis-server of the bench's own on a free loopback port, holding nothing on disk. */
async function startRedis(): Promise<{ url: string; stop(): void }> {
  const port = await freePort()
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  )
  const url = `redis://127.0.0.1:${port}`
  const probe = createRedis(url, { lazyConnect: true, maxRetriesPerRequest: 0 })
  probe.on('error', () => {})
  for (let attempt = 0; ; attempt++) {
    try {
      await probe.connect()
      break
    } catch (error) {
      if (attempt > 100) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  probe.disconnect()
  return { url, stop: () => server.kill('SIGKILL') }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Writes the records as the store keeps them, a pipeline per thousand. */
async function fill(redis: Redis, sizes: Sizes): Promise<void> {
  const keys = credentialKeys(PREFIX)
  const write = async (hash: string, texts: Iterable<string>, field: (text: string) => string) => {
    let pipeline = redis.pipeline()
    let queued = 0
    for (const text of texts) {
      pipeline.hset(hash, field(text), text)
      if (++queued === 1000) {
        await pipeline.exec()
        pipeline = redis.pipeline()
        queued = 0
      }
    }
    await pipeline.exec()
  }
  await write(
    keys.consumers,
    consumerRecords(sizes),
    (text) => (JSON.parse(text) as StoredConsumer).name,
  )
  await write(keys.keys, keyRecords(sizes), (text) => (JSON.parse(text) as StoredKey).id)
}

async function measureFromRedis(sizes: Sizes): Promise<Record<string, number>> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc')
  const server = await startRedis()
  const redis = createRedis(server.url, { lazyConnect: true })
  try {
    await redis.connect()
    await fill(redis, sizes)
    const before = settledMemory(gc)
    const directory = new CredentialDirectory()
    const sync = new RedisCredentialSync(
      directory,
      {
        url: server.url,
        key_prefix: PREFIX,
        rate_limit_sync: { interval: '1s', batch: 256, max_backlog: 0 },
      },
      pino({ level: 'silent' }),
    )
    const started = performance.now()
    await sync.readAll(redis)
    const loadMs = performance.now() - started
    return figures(directory, sizes, before, settledMemory(gc), loadMs)
  } finally {
    redis.disconnect()
    server.stop()
  }
}

function measure(sizes: Sizes): Record<string, number> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc')
  let started = performance.now()
  let count = 0
  for (const record of parsed<StoredKey>(keyRecords(sizes)))
    count += record.scopes.length >= 0 ? 1 : 0
  const recordsMs = performance.now() - started
  const before = settledMemory(gc)
  const directory = new CredentialDirectory()
  started = performance.now()
  directory.replaceStored(
    parsed<StoredConsumer>(consumerRecords(sizes)),
    parsed<StoredKey>(keyRecords(sizes)),
  )
  const loadMs = performance.now() - started
  if (count !== sizes.keys) throw new Error(`made ${count} of ${sizes.keys} records`)
  return {
    ...figures(directory, sizes, before, settledMemory(gc), loadMs),
    records_ms: Math.round(recordsMs),
  }
}

/** What one load cost, after checking it loaded every key. */
function figures(
  directory: CredentialDirectory,
  sizes: Sizes,
  before: { heap: number; rss: number },
  after: { heap: number; rss: number },
  loadMs: number,
): Record<string, number> {
  const { keys, consumers } = directory.sizes
  if (keys !== sizes.keys) throw new Error(`loaded ${keys} of ${sizes.keys} keys`)
  return {
    keys,
    consumers,
    heap_growth_mib: round((after.heap - before.heap) / MIB),
    rss_growth_mib: round((after.rss - before.rss) / MIB),
    heap_after_mib: round(after.heap / MIB),
    rss_after_mib: round(after.rss / MIB),
    bytes_per_key: Math.round((after.heap - before.heap) / keys),
    load_ms: Math.round(loadMs),
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10
}

const argv = process.argv.slice(2)
if (argv.includes('--child')) {
  const sizes = parseSizes(argv)
  const result = sizes.redis ? await measureFromRedis(sizes) : measure(sizes)
  process.stdout.write(`${JSON.stringify(result)}\n`)
} else {
  parseSizes(argv)
  // A fresh process, so nothing of this one's start-up sits in the measured heap.
  const child = spawnSync(
    process.execPath,
    ['--expose-gc', fileURLToPath(import.meta.url), '--child', ...argv],
    { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' },
  )
  if (child.status !== 0) process.exit(child.status ?? 1)
  const result = JSON.parse(child.stdout) as Record<string, number>
  process.stdout.write(`${JSON.stringify({ node: process.version, ...result }, null, 2)}\n`)
}
