/**
 * The stage contract. A route's pipeline is an ordered list of stages compiled once from config
 * (at load and on every reload); at request time a stage only reads and writes the exchange.
 *
 * Stages import this file, never the gateway: they see a request as a {@link StageExchange}
 * (gateway/exchange.ts implements it), and a stage folder plugs in through a
 * {@link StageDefinition} that gateway/stage-registry.ts lists and compiles into pipelines.
 */
import type { Static, TObject, TProperties } from '@sinclair/typebox'
import type { Consumer } from '../consumers/consumer.js'
import type { ConfigProblem, Rejection } from '../errors.js'
import type { Identity } from '../identity.js'
import type { ClientCertificate } from '../tls/client-certificate.js'
import type { StageName } from './order.js'

/** `undefined`: go on to the next stage. A {@link Rejection}: answer with it and stop. */
export type Verdict = undefined | Rejection

/** The slots of an exchange that stages read and write (docs/architecture.md "exchange"). */
export interface StageExchange {
  /** Upper case, as on the wire. */
  readonly method: string
  /** Normalized (gateway/normalize-path.ts). */
  readonly path: string
  /** The path exactly as received (an RFC 9421 signature covers what the client sent). */
  readonly rawPath: string
  /** Raw query string without '?'. */
  readonly query: string
  /** Request headers, flat: [name, value, name, value…], names in lower case. */
  readonly headers: string[]
  /** Declared body length: -1 when the body is chunked, 0 when there is none. */
  readonly contentLength: number
  /** Host name the client asked for, lowercased, without port. */
  readonly host: string
  /** The Host field as received; '' when absent. */
  readonly hostHeader: string
  /** The kind of listener the request came in on: `http`, or TLS (`https`, `mtls`). */
  readonly listener: 'http' | 'https' | 'mtls'
  readonly clientAddress: string
  /** The verified client certificate of an mTLS connection; null on every other listener. */
  readonly clientCertificate: ClientCertificate | null
  readonly requestId: string
  /** Path and query the upstream receives. */
  upstreamPath: string
  /**
   * The named segments of a templated route path (`/users/{id}`), flat [name, value, name,
   * value…], values as in the normalized path (still percent-encoded); null on other routes.
   */
  readonly pathParams: readonly string[] | null
  /** Set by the authenticate stage; null on public routes and before authentication. */
  identity: Identity | null
  /**
   * The consumer the identity resolves to, looked up by the authenticate stage for this request
   * (so every stage of the request sees the same one); null when the identity names none.
   */
  consumer: Consumer | null
  /**
   * Why the authenticate stage's method refused the credential, a bounded code (`expired`,
   * `unknown_key`…) that the response never tells; '' before any refusal. For metrics.
   */
  authRefusal: string
  /** Identity headers for the upstream, flat like `headers`; set by the forward stage. */
  forwardHeaders: readonly string[] | null
  /** Extra response headers from stages (rate-limit headers…), flat like `headers`. */
  responseHeaders: string[] | null
  /**
   * Set by a rate-limit stage (stages/rate-limit/headers.ts) when it reported a policy: the
   * remaining it reported (-1: none yet), and where its fields lie in responseHeaders, from
   * `rateLimitFieldsAt` to `rateLimitFieldsEnd`; a later rate-limit stage replaces them or
   * leaves them, so a response carries one set.
   */
  rateLimitRemaining: number
  rateLimitFieldsAt: number
  rateLimitFieldsEnd: number
  /**
   * Written by the authenticate stage when it times its decision (metrics, tracing):
   * performance.now() at its start and end, the method that decided, 'ok' or the refusal's code.
   */
  authStartedAt: number
  authEndedAt: number
  authMethod: string
  authOutcome: string
  /** First value of a request header (name in lowercase), or undefined. */
  header(name: string): string | undefined
  /** Removes every occurrence of a request header (name in lowercase). */
  deleteHeader(name: string): void
  /** Replaces a request header (name in lowercase). */
  setHeader(name: string, value: string): void
  addResponseHeader(name: string, value: string): void
}

export interface Stage {
  readonly name: StageName
  /** Decides synchronously when it can; returns a promise only when it must wait (Kong `access`). */
  onRequest(exchange: StageExchange): Verdict | Promise<Verdict>
  /** Adjusts the response head before it is written (Kong `header_filter`). */
  readonly onResponse: ((exchange: StageExchange) => void) | null
  /** Runs once the exchange is over, whatever the outcome (Kong `log`). */
  readonly onFinish: ((exchange: StageExchange) => void) | null
  /**
   * Checks the whole request body (an HMAC's Content-Digest, a JSON Schema). A route with such a
   * stage receives every body whole, up to its max_body, before the upstream request starts;
   * these run after every onRequest, in stage order, and forward the bytes unchanged. Absent
   * (or null) on stages that do not read the body.
   */
  readonly onBody?: ((exchange: StageExchange, body: Buffer) => Verdict) | null
}

/**
 * A value one stage's compile leaves for the stages compiled after it on the same route (the
 * authenticate stage's challenges, which authorize and forward answer with). Typed by its key.
 */
export interface RouteProduct<T> {
  readonly name: string
  /** Never set: carries T. */
  readonly type?: T
}

export function routeProduct<T>(name: string): RouteProduct<T> {
  return { name }
}

/** Which route a stage is compiled for, and where its problems go. */
export interface RouteSite {
  readonly name: string
  /** The route's config path, for problems: `routes[2]`. */
  readonly path: string
  readonly problems: ConfigProblem[]
}

/** The route a definition compiles for. */
export interface RouteBuild extends RouteSite {
  provide<T>(product: RouteProduct<T>, value: T): void
  /** What an earlier definition of the registry's list provided; undefined when none did. */
  product<T>(product: RouteProduct<T>): T | undefined
}

/**
 * What a stage folder exports from its index.ts. `schema` is its slice of a route's config (the
 * keys it owns, composed into the route schema by the registry); `compile` builds its stages for
 * one route from that slice and the shared services it asks for (`Services`: the issuers, the
 * token caches, the rate-limit policies…), once at load and on every reload. A route's stages are
 * sorted by order.ts whatever the definition returns them in; null when the route does not use it.
 */
export interface StageDefinition<Slice extends TProperties, Services> {
  /** The folder's name, and the name of the stage it compiles (or of its main one). */
  readonly name: StageName
  readonly schema: Slice
  compile(
    config: Static<TObject<Slice>>,
    route: RouteBuild,
    services: Services,
  ): Stage | readonly Stage[] | null
}
