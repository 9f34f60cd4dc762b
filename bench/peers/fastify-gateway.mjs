/**
 * The Node peer: fastify with @fastify/http-proxy, and @fastify/jwt in front when the work is a
 * JWT check, spread over node:cluster workers (fastify's own advice for using every core of one
 * machine). Plain JavaScript so the root tsconfig never looks at bench/peers/node_modules.
 *
 *   node bench/peers/fastify-gateway.mjs CONFIG.json
 *
 * CONFIG: { host, port, upstream, workers, jwt?: { alg, publicKeyFile, issuer, audience, cache } }
 * (written by bench/peers/fastify.ts). `workers: 0` serves from this process alone. The primary
 * prints {"event":"ready","pids":[…]} once every worker listens, and stops them on SIGTERM.
 */
import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'))
/** Verified tokens fast-jwt keeps when the work allows a cache: the size portcullis keeps. */
const CACHE_SIZE = 10_000

function announce(pids) {
  process.stdout.write(`${JSON.stringify({ event: 'ready', pids })}\n`)
}

/** The harness gone (we were reparented) means nobody will stop us: stop now. */
function exitWithParent() {
  const parent = process.ppid
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0)
  }, 1000).unref()
}

async function serve() {
  const { default: Fastify } = await import('fastify')
  const { default: proxy } = await import('@fastify/http-proxy')
  const app = Fastify({ logger: false })
  if (config.jwt !== undefined) {
    const { default: jwt } = await import('@fastify/jwt')
    const { jwt: work } = config
    await app.register(jwt, {
      // Verification only: the public key, and the claims @fastify/jwt's README checks.
      secret: { public: readFileSync(work.publicKeyFile, 'utf8') },
      verify: {
        algorithms: [work.alg],
        allowedIss: work.issuer,
        allowedAud: work.audience,
        ...(work.cache ? { cache: CACHE_SIZE } : {}),
      },
    })
    // The README's pattern: verify on every request, answer 401 with its error otherwise.
    app.addHook('onRequest', async (request, reply) => {
      try {
        await request.jwtVerify()
      } catch (error) {
        return reply.send(error)
      }
    })
  }
  // reply-from's defaults: an undici Pool, keep-alive, 128 connections, pipelining 1.
  await app.register(proxy, { upstream: config.upstream })
  await app.listen({ host: config.host, port: config.port })
}

if (config.workers > 0 && cluster.isPrimary) {
  exitWithParent()
  let listening = 0
  let stopping = false
  const pids = [process.pid]
  for (let index = 0; index < config.workers; index++) pids.push(cluster.fork().process.pid)
  cluster.on('listening', () => {
    listening += 1
    if (listening === config.workers) announce(pids)
  })
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return
    process.stderr.write(`fastify worker ${worker.process.pid} exited (${signal ?? code})\n`)
    process.exit(1)
  })
  process.once('SIGTERM', () => {
    stopping = true
    cluster.disconnect(() => process.exit(0))
    setTimeout(() => process.exit(0), 3000).unref()
  })
} else {
  if (cluster.isPrimary) exitWithParent()
  serve().then(
    () => {
      if (cluster.isPrimary) announce([process.pid])
    },
    (error) => {
      process.stderr.write(`fastify peer: ${error?.stack ?? error}\n`)
      process.exit(1)
    },
  )
}
