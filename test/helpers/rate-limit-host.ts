/**
 * The workers of one host holding a limit exactly, as the host-shares and budget-exchange tests
 * build them: a `login` route whose policy counts by client address, compiled on each worker's
 * own registry, and a request sent to a worker's stage.
 */
import type { ConfigProblem, Rejection } from '../../src/errors.js'
import type { RouteConfig } from '../../src/gateway/route-schema.js'
import type { RateLimitRegistry } from '../../src/rate-limit/registry.js'
import type { AlgorithmName } from '../../src/rate-limit/schema.js'
import { compileRateLimit, type RateLimitStage } from '../../src/stages/rate-limit/index.js'
import { FakeExchange } from './exchange.js'

/** The route every worker serves: `/login`, limited by the `login` policy, no authentication. */
export function loginRoute(): RouteConfig {
  return {
    name: 'login',
    match: { paths: ['/login'] },
    upstream: 'u',
    auth: 'none',
    rate_limit: 'login',
    forward: { claims: {}, strip_credentials: true },
    strip_path: false,
    websocket: false,
  }
}

export interface LoginPolicy {
  readonly algorithm: AlgorithmName
  /** `2/h`, `10/min`… */
  readonly rate: string
  readonly maxKeys: number
}

/**
 * Compiles the `login` policy (keyed by ip, both header families) on a worker's `registry` and
 * returns the route's post_auth stage. Set `registry.host` first: the share is taken here.
 * @throws Error on any config problem
 */
export function compileLoginStage(
  registry: RateLimitRegistry,
  { algorithm, rate, maxKeys }: LoginPolicy,
): RateLimitStage {
  const problems: ConfigProblem[] = []
  const policies = registry.compile(
    {
      login: {
        key: 'ip',
        algorithm,
        rate,
        headers: { ietf: true, x_ratelimit: true },
        max_keys: maxKeys,
      },
    },
    problems,
  )
  const site = { name: 'login', path: 'routes[0]', problems }
  const stage = compileRateLimit(loginRoute(), site, false, policies, registry.now)?.postAuth
  registry.sweep()
  if (problems.length > 0 || stage == null) {
    throw new Error(`the login policy did not compile: ${JSON.stringify(problems)}`)
  }
  return stage
}

/**
 * Sends one request from `ip` to a worker's `stage`: its status, 200 when admitted. A number
 * when the stage decided synchronously, so a test can tell the two apart.
 */
export function sendLogin(stage: RateLimitStage, ip = '192.0.2.1'): Promise<number> | number {
  const ex = new FakeExchange()
  ex.method = 'POST'
  ex.clientAddress = ip
  ex.headers = []
  const verdict = stage.onRequest(ex)
  return verdict instanceof Promise
    ? verdict.then((v) => statusOf(v as Rejection | undefined))
    : statusOf(verdict as Rejection | undefined)
}

function statusOf(verdict: Rejection | undefined): number {
  return verdict?.status ?? 200
}
