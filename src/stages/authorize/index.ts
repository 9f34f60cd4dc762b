/**
 * authorize — what the identity may do here. Compares the route's required scopes (for the
 * request's method) with the identity's granted scopes: all required, exact, case-sensitive.
 * Synchronous; the per-method lists and their 403 answers are built at compile time.
 *
 * Reads: method, identity. Answers: 403 `insufficient_scope` with the scope the route needs
 * (RFC 6750 §3.1), 403 `forbidden` for a method the scopes map does not list (no "*" entry).
 */
import { Type, type Static, type TObject } from '@sinclair/typebox'
import type { Logger } from 'pino'
import { createRejection, type Rejection } from '../../errors.js'
import type {
  RouteBuild,
  RouteSite,
  Stage,
  StageDefinition,
  StageExchange,
  Verdict,
} from '../../pipeline/stage.js'
import type { Challenges } from '../authenticate/challenge.js'
import { AUTHENTICATION } from '../authenticate/index.js'
import { ScopesSchema } from './schema.js'

/** The route keys this stage owns. */
const ROUTE_KEYS = { scopes: Type.Optional(ScopesSchema) }
export type AuthorizeConfig = Static<TObject<typeof ROUTE_KEYS>>

/** The shared services the stage asks for. */
export interface AuthorizeDeps {
  readonly logger: Logger
  /** `log.audit`: a line per denial. */
  readonly audit: boolean
}

export const authorize: StageDefinition<typeof ROUTE_KEYS, AuthorizeDeps> = {
  name: 'authorize',
  schema: ROUTE_KEYS,
  compile: (config, route, deps) =>
    compileAuthorize(config, route, challengesOf(route), deps.audit ? deps.logger : null),
}

/** The challenges of the route's authenticate stage; null on a public route. */
function challengesOf(route: RouteBuild): Challenges | null {
  return route.product(AUTHENTICATION)?.stage?.challenges ?? null
}

/** What a method needs: the scopes and the answer when one is missing. */
interface Requirement {
  readonly scopes: readonly string[]
  readonly rejection: Rejection
}

const METHOD_NOT_GRANTED = createRejection(
  403,
  'forbidden',
  'No scope grants this method on this route.',
)

export function compileAuthorize(
  route: AuthorizeConfig,
  site: RouteSite,
  challenges: Challenges | null,
  audit: Logger | null,
): AuthorizeStage | null {
  const { path, problems } = site
  const scopes = route.scopes
  if (scopes === undefined) return null
  if (challenges === null) {
    problems.push({
      path: `${path}.scopes`,
      reason: 'scopes need an authenticated route (auth: jwt); this route is public',
    })
    return null
  }
  const requirement = (list: readonly string[]): Requirement | null =>
    list.length === 0 ? null : { scopes: list, rejection: challenges.insufficientScope(list) }
  if (Array.isArray(scopes)) {
    // `scopes: []` requires nothing: no stage.
    return scopes.length === 0
      ? null
      : new AuthorizeStage(site.name, null, requirement(scopes), audit)
  }
  const byMethod = new Map<string, Requirement | null>()
  for (const [method, list] of Object.entries(scopes)) {
    if (method !== '*' && list !== undefined) byMethod.set(method, requirement(list))
  }
  // HEAD is GET without a body (RFC 9110 §9.3.2): it needs what GET needs unless listed itself.
  if (!byMethod.has('HEAD') && byMethod.has('GET')) byMethod.set('HEAD', byMethod.get('GET')!)
  const fallback = scopes['*']
  return new AuthorizeStage(
    site.name,
    byMethod,
    fallback === undefined ? undefined : requirement(fallback),
    audit,
  )
}

export class AuthorizeStage implements Stage {
  readonly name = 'authorize'
  readonly onResponse = null
  readonly onFinish = null
  /** null: one requirement for every method. */
  readonly #byMethod: ReadonlyMap<string, Requirement | null> | null
  /** For methods the map does not list; undefined refuses them. null requires nothing. */
  readonly #otherwise: Requirement | null | undefined
  readonly #route: string
  readonly #audit: Logger | null

  constructor(
    route: string,
    byMethod: ReadonlyMap<string, Requirement | null> | null,
    otherwise: Requirement | null | undefined,
    audit: Logger | null,
  ) {
    this.#route = route
    this.#byMethod = byMethod
    this.#otherwise = otherwise
    this.#audit = audit
  }

  onRequest(exchange: StageExchange): Verdict {
    let requirement = this.#otherwise
    if (this.#byMethod !== null) {
      const listed = this.#byMethod.get(exchange.method)
      if (listed !== undefined) requirement = listed
    }
    if (requirement === undefined) return this.#deny(exchange, METHOD_NOT_GRANTED, null)
    if (requirement === null) return undefined
    const granted = exchange.identity!.scopes
    const required = requirement.scopes
    for (let i = 0; i < required.length; i++) {
      if (!granted.has(required[i]!)) return this.#deny(exchange, requirement.rejection, required)
    }
    return undefined
  }

  /** Denials are audited (the authenticate line already said who it was); grants are not repeated. */
  #deny(
    exchange: StageExchange,
    rejection: Rejection,
    required: readonly string[] | null,
  ): Rejection {
    this.#audit?.info(
      {
        audit: 'authorize',
        route: this.#route,
        request_id: exchange.requestId,
        method: exchange.method,
        issuer: exchange.identity!.issuer,
        sub: exchange.identity!.subject,
        outcome: 'deny',
        reason: rejection.code,
        required,
      },
      'auth decision',
    )
    return rejection
  }
}
