/**
 * One admin endpoint: its method and path, what it takes and answers (the OpenAPI document is
 * generated from these, openapi.ts), and its handler. The server dispatches on the same list, so
 * a route answers exactly when the document names it.
 */
import type { TSchema } from '@sinclair/typebox'
import type { AdminServices } from './services.js'

export type AdminMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE'

export interface QueryParam {
  readonly name: string
  readonly kind: 'string' | 'limit'
  readonly description: string
}

export interface AdminCall {
  /** Path parameters by name, percent-decoded. */
  readonly params: Readonly<Record<string, string>>
  readonly query: URLSearchParams
  /** The body, validated against the route's `body` schema with its defaults; else undefined. */
  readonly body: unknown
  /** The caller, as the audit log names it (auth.ts). */
  readonly who: string
  readonly services: AdminServices
  readonly routes: readonly AdminRoute[]
}

export interface AdminReply {
  readonly status: number
  /** JSON-serialised; null: no body (204). */
  readonly body: unknown
  /** What a change acted on, for the audit log: a consumer's name, a key's id, a jti. */
  readonly target?: string
}

export interface AdminRoute {
  readonly method: AdminMethod
  /** OpenAPI path template: `/consumers/{name}`. */
  readonly path: string
  readonly operationId: string
  readonly summary: string
  readonly query?: readonly QueryParam[]
  readonly body?: TSchema
  readonly ok: {
    readonly status: number
    readonly description: string
    readonly schema: TSchema | null
  }
  /** Failure statuses besides 401 (every route) and 400 (routes with a body or a query). */
  readonly failures: readonly number[]
  /** The audit log's name of the change (`consumer.create`); null for a read. */
  readonly change: string | null
  handle(call: AdminCall): Promise<AdminReply>
}

/** A route table compiled for dispatch: templates split into segments once. */
export class AdminRouter {
  readonly routes: readonly AdminRoute[]
  readonly #compiled: readonly {
    readonly route: AdminRoute
    readonly segments: readonly string[]
  }[]

  constructor(routes: readonly AdminRoute[]) {
    this.routes = routes
    this.#compiled = routes.map((route) => ({ route, segments: route.path.split('/') }))
  }

  /**
   * The route for `method` at `path`, with its parameters; `allow` lists the methods the path
   * takes when none is `method` (405), and is empty when no route has the path (404).
   */
  match(
    method: string,
    path: string,
  ): { route: AdminRoute; params: Record<string, string> } | { route: null; allow: string[] } {
    const parts = path.split('/')
    const allow: string[] = []
    for (const { route, segments } of this.#compiled) {
      const params = matchSegments(segments, parts)
      if (params === null) continue
      if (route.method === method) return { route, params }
      allow.push(route.method)
    }
    return { route: null, allow }
  }
}

function matchSegments(
  segments: readonly string[],
  parts: readonly string[],
): Record<string, string> | null {
  if (segments.length !== parts.length) return null
  const params: Record<string, string> = {}
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!
    const part = parts[i]!
    if (segment.startsWith('{')) {
      if (part === '') return null
      let value: string
      try {
        value = decodeURIComponent(part)
      } catch {
        return null
      }
      params[segment.slice(1, -1)] = value
    } else if (segment !== part) return null
  }
  return params
}
