/**
 * The whole gateway configuration: one schema composed of the sections that live beside the
 * code they configure. The TypeScript type is derived from it, so it is written once.
 */
import { Type, type Static } from '@sinclair/typebox'
import { AdminSchema } from '../admin/schema.js'
import { ClusterSchema } from '../cluster/schema.js'
import { ApiKeysSchema, ConsumersSchema } from '../consumers/schema.js'
import { LimitsSchema, ListenersSchema } from '../front/schema.js'
import { IntrospectorsSchema } from '../introspection/schema.js'
import { IssuersSchema, RevocationSchema } from '../jwt/schema.js'
import { GossipSchema } from '../gossip/schema.js'
import { TrustedProxiesSchema } from '../net/schema.js'
import { LogSchema } from '../observability/schema.js'
import { MetricsSchema } from '../observability/metrics/schema.js'
import { TracingSchema } from '../observability/tracing/schema.js'
import { HeadersSchema, UpstreamsSchema } from '../proxy/schema.js'
import { RouteSchema } from '../gateway/route-schema.js'
import { OpenApiImportsSchema } from '../openapi/schema.js'
import { RateLimitsSchema } from '../rate-limit/schema.js'
import { RedisSchema } from '../state/schema.js'
import { CorsSchema } from '../stages/cors/schema.js'
import { TlsSchema } from '../tls/schema.js'

export const GatewayConfigSchema = Type.Object(
  {
    listeners: ListenersSchema,
    admin: AdminSchema,
    cluster: ClusterSchema,
    limits: LimitsSchema,
    trusted_proxies: TrustedProxiesSchema,
    tls: TlsSchema,
    log: LogSchema,
    metrics: MetricsSchema,
    tracing: Type.Optional(TracingSchema),
    redis: Type.Optional(RedisSchema),
    gossip: GossipSchema,
    issuers: IssuersSchema,
    revocation: RevocationSchema,
    introspectors: IntrospectorsSchema,
    upstreams: UpstreamsSchema,
    headers: HeadersSchema,
    rate_limits: RateLimitsSchema,
    api_keys: ApiKeysSchema,
    consumers: ConsumersSchema,
    cors: Type.Optional(CorsSchema),
    routes: Type.Array(RouteSchema, { description: 'Routes; the most specific match wins.' }),
    openapi: OpenApiImportsSchema,
  },
  { additionalProperties: false },
)

export type GatewayConfig = Static<typeof GatewayConfigSchema>
