/**
 * authorize — what the identity may do here. First the consumer's groups against the route's
 * `deny_groups` (any one refuses; deny wins) and `allow_groups` (one is needed; a caller without
 * a consumer has none). Then the route's required scopes (for the request's method) against the
 * identity's granted scopes: all required, exact, case-sensitive. Synchronous; the per-method
 * lists and their 403 answers are built at compile time.
 *
 * Reads: method, identity, consumer. Answers: 403 `insufficient_scope` with the scope the route
 * needs (RFC 6750 §3.1), 403 `forbidden` for a method the scopes map does not list (no "*"
 * entry), and 403 `forbidden` for a consumer the groups refuse — naming no group, so a caller
 * learns nothing of the route's lists or of its own groups.
 */
import { Type, type Static, type TObject } from '@sinclair/typebox'
import type { Logger } from 'pino'
import type { Consumer } from '../../consumers/consumer.js'
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
import { AllowGroupsSchema, DenyGroupsSchema, ScopesSchema } from './schema.js'

/** The route keys this stage owns. */
const ROUTE_KEYS = {
  scopes: Type.Optional(ScopesSchema),
  allow_groups: Type.Optional(AllowGroupsSchema),
  deny_groups: Type.Optional(DenyGroupsSchema),
}
export type AuthorizeConfig = Static<TObject<typeof ROUTE_KEYS>>

/** The shared services the stage asks for. */
export interface AuthorizeDeps {
  readonly logger: Logger
  /** `log.audit`: a line per denial. */
  readonly audit: boolean
  /** Where audit lines go (observability/audit-log.ts); `logger` when absent. */
  readonly auditLog?: Logger | undefined
}

export const authorize: StageDefinition<typeof ROUTE_KEYS, AuthorizeDeps> = {
  name: 'authorize',
  schema: ROUTE_KEYS,
  compile: (config, route, deps) =>
    compileAuthorize(
      config,
      route,
      challengesOf(route),
      deps.audit ? (deps.auditLog ?? deps.logger) : null,
    ),
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

const GROUP_NOT_ALLOWED = createRejection(403, 'forbidden', 'This caller may not use this route.')

/** The route's group lists; null members: no such list. */
interface GroupRule {
  readonly allow: readonly string[] | null
  readonly deny: readonly string[] | null
}

export function compileAuthorize(
  route: AuthorizeConfig,
  site: RouteSite,
  challenges: Challenges | null,
  audit: Logger | null,
): AuthorizeStage | null {
  const { path, problems } = site
  const groups = compileGroups(route, path, problems, challenges === null)
  const scopes = route.scopes
  if (scopes !== undefined && challenges === null) {
    problems.push({
      path: `${path}.scopes`,
      reason: 'scopes need an authenticated route (auth: jwt); this route is public',
    })
  }
  if (challenges === null) return null
  const requirement = (list: readonly string[]): Requirement | null =>
    list.length === 0 ? null : { scopes: list, rejection: challenges.insufficientScope(list) }
  // `scopes: []` (or none) requires nothing.
  if (scopes === undefined || (Array.isArray(scopes) && scopes.length === 0)) {
    return groups === null ? null : new AuthorizeStage(site.name, groups, null, null, audit)
  }
  if (Array.isArray(scopes)) {
    return new AuthorizeStage(site.name, groups, null, requirement(scopes), audit)
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
    groups,
    byMethod,
    fallback === undefined ? undefined : requirement(fallback),
    audit,
  )
}

function compileGroups(
  route: AuthorizeConfig,
  path: string,
  problems: RouteSite['problems'],
  isPublic: boolean,
): GroupRule | null {
  const allow = route.allow_groups ?? null
  const deny = route.deny_groups ?? null
  if (allow === null && deny === null) return null
  if (isPublic) {
    problems.push({
      path: `${path}.${allow !== null ? 'allow_groups' : 'deny_groups'}`,
      reason: 'groups are those of an authenticated consumer; this route is public (auth: none)',
    })
    return null
  }
  for (const group of allow ?? []) {
    if (deny?.includes(group)) {
      problems.push({
        path: `${path}.allow_groups`,
        reason: `${group} is in deny_groups too, which wins: no member of it could call the route`,
      })
    }
  }
  return { allow, deny }
}

export class AuthorizeStage implements Stage {
  readonly name = 'authorize'
  readonly onResponse = null
  readonly onFinish = null
  readonly #groups: GroupRule | null
  /** null: one requirement for every method. */
  readonly #byMethod: ReadonlyMap<string, Requirement | null> | null
  /** For methods the map does not list; undefined refuses them. null requires nothing. */
  readonly #otherwise: Requirement | null | undefined
  readonly #route: string
  readonly #audit: Logger | null

  constructor(
    route: string,
    groups: GroupRule | null,
    byMethod: ReadonlyMap<string, Requirement | null> | null,
    otherwise: Requirement | null | undefined,
    audit: Logger | null,
  ) {
    this.#route = route
    this.#groups = groups
    this.#byMethod = byMethod
    this.#otherwise = otherwise
    this.#audit = audit
  }

  onRequest(exchange: StageExchange): Verdict {
    if (this.#groups !== null && !admitsGroups(this.#groups, exchange.consumer)) {
      return this.#deny(exchange, GROUP_NOT_ALLOWED, null)
    }
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
        consumer: exchange.consumer?.name ?? null,
        outcome: 'deny',
        reason: rejection === GROUP_NOT_ALLOWED ? 'group' : rejection.code,
        required,
      },
      'auth decision',
    )
    return rejection
  }
}

/** Deny wins: a consumer in any denied group is refused whatever allow_groups says. */
function admitsGroups(rule: GroupRule, consumer: Consumer | null): boolean {
  const groups = consumer === null ? null : consumer.groupSet
  const deny = rule.deny
  if (deny !== null && groups !== null) {
    for (let i = 0; i < deny.length; i++) if (groups.has(deny[i]!)) return false
  }
  const allow = rule.allow
  if (allow === null) return true
  if (groups === null) return false
  for (let i = 0; i < allow.length; i++) if (groups.has(allow[i]!)) return true
  return false
}
