/**
 * The admin listener: node:http in each worker. Under node:cluster the workers share its port
 * (the primary hands out connections), so any worker answers, each with its own view of the
 * credentials and the same store. node:http rather than the traffic front: the admin API is
 * rare, JSON-bodied and asynchronous, and must answer alike on both fronts; it never shares a
 * port, a router or a pipeline with traffic (config-rules.ts refuses a shared port).
 *
 * Every call: authenticate (auth.ts), route (route.ts), read a bounded body, validate it with
 * the schema the OpenAPI document shows, run the handler, answer JSON, and audit a change.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { TSchema } from '@sinclair/typebox'
import { createValidator } from '../config/validate.js'
import { PortcullisError, type ConfigProblem } from '../errors.js'
import { newRequestId } from '../front/request-id.js'
import {
  EncryptionUnconfiguredError,
  StoreConflictError,
  StoreUnavailableError,
} from '../state/credential-store.js'
import { AdminError } from './admin-error.js'
import { AdminAuth } from './auth.js'
import { AdminRouter, type AdminReply, type AdminRoute } from './route.js'
import { ADMIN_ROUTES } from './routes.js'
import type { AdminServices } from './services.js'

/** Largest request body: a consumer with full metadata or a key with a long allow-list fits. */
export const MAX_BODY_BYTES = 64 * 1024
/** Time to receive a whole request: an admin call is small; a client that dawdles is cut. */
const REQUEST_TIMEOUT_MS = 30_000
const REALM = 'portcullis-admin'

export interface AdminListener {
  readonly host: string
  readonly port: number
}

export class AdminServer {
  readonly #server: Server
  readonly #router = new AdminRouter(ADMIN_ROUTES)
  readonly #validators = new Map<TSchema, (data: unknown) => unknown>()
  #services: AdminServices
  #auth: AdminAuth

  private constructor(server: Server, services: AdminServices) {
    this.#server = server
    this.#services = services
    this.#auth = new AdminAuth(services.config.admin.tokens)
  }

  /** Binds the listener; rejects when the port cannot be bound. */
  static async start(listener: AdminListener, services: AdminServices): Promise<AdminServer> {
    const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS })
    const admin = new AdminServer(server, services)
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void admin.#serve(req, res))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host: listener.host, port: listener.port }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    return admin
  }

  get address(): AdminListener {
    const { address, port } = this.#server.address() as AddressInfo
    return { host: address, port }
  }

  /** A reload: new tokens and services for the next call; the listener stays bound. */
  replace(services: AdminServices): void {
    this.#services = services
    this.#auth = new AdminAuth(services.config.admin.tokens)
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeIdleConnections()
    })
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = newRequestId()
    const services = this.#services
    const method = req.method ?? 'GET'
    const url = req.url ?? '/'
    const query = url.indexOf('?')
    const path = query === -1 ? url : url.slice(0, query)
    const who = this.#auth.authenticate(req.headers.authorization)
    let route: AdminRoute | null = null
    let reply: AdminReply
    try {
      if (who === null) {
        const invalid = req.headers.authorization === undefined ? '' : ', error="invalid_token"'
        throw new AdminError(
          401,
          'admin_unauthorized',
          'The admin API needs Authorization: Bearer <token> with a token of admin.tokens.',
          { headers: ['www-authenticate', `Bearer realm="${REALM}"${invalid}`] },
        )
      }
      const matched = this.#router.match(method, path)
      if (matched.route === null) {
        if (matched.allow.length === 0) {
          throw new AdminError(404, 'not_found', 'No admin endpoint has this path.')
        }
        throw new AdminError(
          405,
          'method_not_allowed',
          `This path takes ${matched.allow.join(', ')}.`,
          {
            headers: ['allow', matched.allow.join(', ')],
          },
        )
      }
      route = matched.route
      const text = await readBody(req)
      const body = route.body === undefined ? undefined : this.#validate(route.body, text)
      reply = await route.handle({
        params: matched.params,
        query: new URLSearchParams(query === -1 ? '' : url.slice(query + 1)),
        body,
        who,
        services,
        routes: this.#router.routes,
      })
    } catch (error) {
      const failure = toAdminError(error)
      if (failure.status >= 500 && failure.code === 'internal_error') {
        services.logger.error({ err: error, path, method }, 'admin call failed')
      }
      reply = { status: failure.status, body: errorBody(failure, requestId) }
      for (let i = 0; i + 1 < failure.headers.length; i += 2) {
        res.setHeader(failure.headers[i]!, failure.headers[i + 1]!)
      }
    }
    if (method !== 'GET' && method !== 'HEAD')
      audit(services.auditLog ?? services.logger, who, method, path, route, reply)
    res.setHeader('x-request-id', requestId)
    res.setHeader('cache-control', 'no-store')
    if (reply.body === null) {
      res.writeHead(reply.status).end()
      return
    }
    const json = JSON.stringify(reply.body)
    res.writeHead(reply.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(json),
    })
    res.end(json)
  }

  #validate(schema: TSchema, text: string): unknown {
    let data: unknown
    try {
      data = JSON.parse(text === '' ? '{}' : text)
    } catch (error) {
      throw new AdminError(
        400,
        'invalid_request',
        `The body is not JSON: ${(error as Error).message}`,
        {
          problems: [{ path: '', reason: 'is not JSON' }],
        },
      )
    }
    let validate = this.#validators.get(schema)
    if (validate === undefined) {
      validate = createValidator(schema)
      this.#validators.set(schema, validate)
    }
    try {
      return validate(data)
    } catch (error) {
      if (!(error instanceof PortcullisError)) throw error
      throw new AdminError(400, 'invalid_request', 'The request is invalid.', {
        problems: error.problems,
      })
    }
  }
}

/** The body as text, refused past MAX_BODY_BYTES (by Content-Length first, then as it arrives). */
function readBody(req: IncomingMessage): Promise<string> {
  const tooLarge = () =>
    new AdminError(
      413,
      'payload_too_large',
      `The admin API takes bodies up to ${MAX_BODY_BYTES} bytes.`,
    )
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_BODY_BYTES) {
    req.resume()
    return Promise.reject(tooLarge())
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data')
        req.resume()
        reject(tooLarge())
        return
      }
      chunks.push(chunk)
    })
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.once('error', reject)
  })
}

function toAdminError(error: unknown): AdminError {
  if (error instanceof AdminError) return error
  if (error instanceof StoreUnavailableError) {
    return new AdminError(
      503,
      'store_unavailable',
      `The credential store is unavailable: ${error.message}`,
      {
        headers: ['retry-after', '5'],
      },
    )
  }
  if (error instanceof StoreConflictError) return new AdminError(409, 'conflict', error.message)
  if (error instanceof EncryptionUnconfiguredError) {
    return new AdminError(503, 'encryption_not_configured', error.message)
  }
  return new AdminError(500, 'internal_error', 'The admin API failed to process the request.')
}

function errorBody(error: AdminError, requestId: string): Record<string, unknown> {
  const body: Record<string, unknown> = {
    error: error.code,
    message: error.message,
    request_id: requestId,
  }
  if (error.problems.length > 0) body['problems'] = error.problems.map(problemView)
  return body
}

function problemView(problem: ConfigProblem): ConfigProblem {
  return { path: problem.path, reason: problem.reason }
}

/**
 * One line per change attempt, whatever log.level says: who (the token's digest prefix, never the
 * token), what, on what, and how it ended. A key or an HMAC secret is never logged: only its id.
 */
function audit(
  logger: Logger,
  who: string | null,
  method: string,
  path: string,
  route: AdminRoute | null,
  reply: AdminReply,
): void {
  const line = logger.isLevelEnabled('info') ? logger : logger.child({}, { level: 'info' })
  line.info(
    {
      audit: 'admin',
      who,
      action: route?.change ?? `${method} ${path.slice(0, 256)}`,
      target: reply.target ?? null,
      status: reply.status,
      ...(reply.status >= 400 ? { error: (reply.body as { error?: string }).error } : {}),
    },
    'admin change',
  )
}
